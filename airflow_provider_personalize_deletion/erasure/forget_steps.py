"""
Find and forget in the example DAG (after ``record_erasure``) and in the backlog DAG
``personalize_forget_backlog``: three tasks (ids in :mod:`.forget_tasks`), whose logic is here.

1. ``find_files_to_forget`` finds the S3 files of the run's dataset groups' jobs and of the Variable
   ``personalize_erasure_forget_locations`` (checked before any AWS call), and splits them into batches.
2. ``forget_erased_users_in_files``, mapped over the batches (``PersonalizeForgetObjectsOperator``): the
   users to forget are read in the task, never from an XCom (:func:`forget_scope`), and every object of
   the batch (an XCom) must lie in the run's plan, which the planning task recorded in the warehouse (a
   dry run, which writes nothing, finds the plan again); every object's intent is written before its
   rewrite and its result as soon as it is known.
3. ``record_find_and_forget`` sums the evidence up against the plan recorded in the warehouse
   (:func:`record_find_and_forget`: every planned object without a verified row is unverified, whatever
   an XCom says) and the locations the plan did not scan, puts the summary into the run's audit record,
   and fails loudly when any object is unverified or a location holding users was left out for a reason
   only an operator can lift (:data:`..forget.locations.BLOCKING_REASONS`).

Where data is read and written is never an XCom's, a Variable's or a run conf's choice: each task reads the
bound, the provider's setting ``[personalize_deletion] forget_allowed_locations``
(:mod:`..forget.allowed_locations`), from its own configuration; the Variable may only narrow it (a
declared location outside it, or ``allowed_buckets`` naming another bucket, fails the task before any AWS
call). Each task resolves the settings itself, a run that is dry or has ``find_and_forget`` off forgets
nothing, and an object outside the bound, the run's plan or the Variable's ``allowed_buckets`` refuses its
batch before any call.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_personalize_deletion.erasure.forget_evidence import (
    FORGET_TABLE,
    FORGET_TABLES,
    add_to_audit,
    complete_earlier_intents,
    create_forget_table,
    forget_rows,
    forget_table_exists,
    summarise,
    write_forget_row,
)
from airflow_provider_personalize_deletion.erasure.forget_plan import (
    FORGET_PLAN_TABLE,
    read_forget_plan,
    write_forget_plan,
)
from airflow_provider_personalize_deletion.erasure.forget_seal import result_seal, sealed_records
from airflow_provider_personalize_deletion.erasure.forget_tasks import FIND_TASK
from airflow_provider_personalize_deletion.erasure.settings import VARIABLE_PREFIX, ErasureSettings
from airflow_provider_personalize_deletion.erasure.store import ERASED, ErasureRequestStore
from airflow_provider_personalize_deletion.erasure.suppression import SuppressionList
from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from airflow_provider_personalize_deletion.forget.allowed_locations import (
    AllowedLocations,
    configured_allowed_locations,
)
from airflow_provider_personalize_deletion.forget.batch import ForgetScope, OnResult
from airflow_provider_personalize_deletion.forget.declared_locations import parse_declared_locations
from airflow_provider_personalize_deletion.forget.find import users_to_forget
from airflow_provider_personalize_deletion.forget.locations import BLOCKING_REASONS
from airflow_provider_personalize_deletion.forget.objects import ForgetObject, checked_objects
from airflow_provider_personalize_deletion.forget.planning import ForgetBatches, plan_forget_batches
from airflow_provider_personalize_deletion.transfers.sql_cursor import column_batches

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from airflow_provider_personalize_deletion.forget.locations import LocationPlan
    from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
    from airflow_provider_personalize_deletion.scan.suppressed import SuppressedUsers

log = logging.getLogger(__name__)

#: The Variable (``personalize_erasure_`` + this) of the declared locations and allowed buckets.
FORGET_LOCATIONS = "forget_locations"
LOCATIONS_VARIABLE = VARIABLE_PREFIX + FORGET_LOCATIONS


class FindAndForgetFailedError(AirflowFailException):
    """Some objects could not be read, rewritten or verified: they are not reported clean."""


def forgets(settings: ErasureSettings, backlog: bool) -> bool:
    """
    Whether a run rewrites files: the backlog DAG always, the example DAG with ``find_and_forget`` on;
    and neither in a dry run (the backlog DAG then counts; the example DAG plans nothing).

    :param settings: the run's settings.
    :param backlog: the run is the backlog DAG's.
    """
    return backlog or (settings.find_and_forget and not settings.dry_run)


def find_files_to_forget(
    settings: ErasureSettings,
    get_variable: Callable[[str], Any | None],
    store: ErasureRequestStore,
    hook: PersonalizeHook,
    s3_client: S3Client,
    max_batches: int,
    run: tuple[str, str],
    backlog: bool = False,
) -> ForgetBatches | None:
    """
    The planning step: None when the run forgets nothing; else the batches and their summary, the plan
    recorded in the warehouse (not in a dry run) for the mapped tasks to check their batches against.

    The bound (``[personalize_deletion] forget_allowed_locations``: unset, the step fails naming it) and
    the Variable within it are checked, and the tables created when missing (with ``create_tables`` on;
    off, a missing table fails here naming the setting), before any AWS call.

    :param settings: the run's settings, dataset groups resolved.
    :param get_variable: returns a Variable's (JSON-decoded) value, or None.
    :param store: the request store.
    :param hook: a Personalize hook on the run's connection.
    :param s3_client: a boto3 S3 client on the run's connection.
    :param max_batches: Airflow's ``[core] max_map_length``.
    :param run: ``(dag_id, run_id)``.
    :param backlog: the run is the backlog DAG's.
    """
    if not forgets(settings, backlog):
        log.info(
            "Find and forget is off for this run (Variable personalize_erasure_find_and_forget, dry run)"
        )
        return None
    bound = configured_allowed_locations()
    declared = get_variable(LOCATIONS_VARIABLE)
    parse_declared_locations(declared, LOCATIONS_VARIABLE, bound)
    missing = [table for table in FORGET_TABLES if not forget_table_exists(store, table)]
    if not settings.dry_run and missing:
        if not settings.create_tables:
            raise PersonalizeValidationError(
                "create_tables",
                f"is false, and the warehouse has no table {missing[0]}: create it with the statements "
                'under "Find and forget in the example DAG" in the README',
            )
        create_forget_table(store)
    found = plan_run(settings, declared, hook, s3_client, max_batches, bound)
    if not settings.dry_run:
        write_forget_plan(store, *run, datetime.now(timezone.utc), found)
    return found


def plan_run(
    settings: ErasureSettings,
    declared: object,
    hook: PersonalizeHook,
    s3_client: S3Client,
    max_batches: int,
    bound: AllowedLocations | None = None,
) -> ForgetBatches:
    """
    The run's locations, objects and batches (:func:`.forget.planning.plan_forget_batches`), made the same
    way by the planning task and by a dry run's record step.

    :param settings: the run's settings, dataset groups resolved.
    :param declared: the Variable's value (checked before any call).
    :param hook: a Personalize hook on the run's connection.
    :param s3_client: a boto3 S3 client on the run's connection.
    :param max_batches: Airflow's ``[core] max_map_length``.
    :param bound: the provider's setting, read already; None: read it here.
    """
    return plan_forget_batches(
        hook,
        s3_client,
        settings.dataset_group_arns,
        declared,
        max_batches=max_batches,
        field=LOCATIONS_VARIABLE,
        bound=bound,
    )


def erased_user_ids(store: ErasureRequestStore, batch_key: str, batch_size: int = 10_000) -> Iterator[bytes]:
    """
    The user ids a claim erased, each its exact UTF-8 bytes, streamed (they leave this module as keyed
    digests only: :func:`.forget.find.users_to_forget`).

    :param store: the request store.
    :param batch_key: the run's claim.
    :param batch_size: rows read at a time.
    """
    p = store.hook.placeholder
    with contextlib.closing(store.hook.get_conn()) as connection:
        batches = column_batches(
            connection,
            f"SELECT user_id FROM {store.requests_table} WHERE batch_key = {p} AND status = {p}",
            (batch_key, ERASED),
            batch_size,
            f"the erased user ids of {store.requests_table}",
        )
        for (user_ids,) in batches:
            yield from (user_id.encode("utf-8", "surrogateescape") for user_id in user_ids if user_id)


def forget_users(
    settings: ErasureSettings, store: ErasureRequestStore, key: bytes, batch_key: str | None
) -> SuppressedUsers:
    """
    The users to forget: the suppression list and, in an erasure run, the users its claim erased.

    :param settings: the run's settings.
    :param store: the request store.
    :param key: the fingerprint key.
    :param batch_key: the run's claim; None for the backlog.
    """
    digests = SuppressionList(store.hook, settings.suppression_table).digests(key)
    run_users = erased_user_ids(store, batch_key) if batch_key else iter(())
    return users_to_forget(key, digests, run_users)


def evidence_writer(
    store: ErasureRequestStore, dag_id: str, run_id: str, map_index: int, try_number: int
) -> OnResult:
    """
    Writes each object's result to the evidence table as soon as it is known.

    :param store: the request store.
    :param dag_id: the DAG's id.
    :param run_id: the DAG run's id.
    :param map_index: the mapped task's index.
    :param try_number: its try.
    """

    def write(position: int, item: Any, result: Any) -> None:
        attempt = (dag_id, run_id, map_index, try_number, position)
        if complete_earlier_intents(store, attempt, result):
            log.info("An earlier try's rewrite of object %d of the batch is recorded now", position)
        write_forget_row(store, attempt, datetime.now(timezone.utc), item, result)

    return write


#: What a mapped task may touch: the run's locations and, in a real run, its own planned batch.
TaskPlan = tuple["LocationPlan", tuple[ForgetObject, ...] | None]


def run_plan(
    settings: ErasureSettings,
    store: ErasureRequestStore,
    run: tuple[str, str],
    map_index: int,
    find_again: Callable[[], LocationPlan],
) -> TaskPlan:
    """
    What a mapped task may read and rewrite: the plan its planning task recorded in the warehouse, and
    the batch of that plan at the task's map index (the only objects it may touch); in a dry run (which
    records nothing and writes no object) the locations found again from the settings, and no batch.

    :param settings: the run's settings.
    :param store: the request store.
    :param run: ``(dag_id, run_id)``.
    :param map_index: the mapped task's index.
    :param find_again: finds the run's plan from its settings (:func:`.find_locations.find_locations`).
    :raises FindAndForgetFailedError: the run has no recorded plan, or it has no batch at this index.
    """
    if settings.dry_run:
        return find_again(), None
    plan = read_forget_plan(store, *run)
    if plan is None:
        raise FindAndForgetFailedError(
            f"No plan of this run in the table {FORGET_PLAN_TABLE} ({FIND_TASK} records it): no file is read"
        )
    if not 0 <= map_index < len(plan.batches):
        raise FindAndForgetFailedError(
            f"The run's plan has {len(plan.batches)} batch(es), none at map index {map_index} (its batch "
            "came from an XCom written by hand?): no file is read"
        )
    return plan.plan, tuple(checked_objects(plan.batches[map_index]))


def forget_scope(
    settings: ErasureSettings,
    get_variable: Callable[[str], Any | None],
    store: ErasureRequestStore,
    key: bytes,
    batch_key: str | None,
    attempt: tuple[str, str, int, int],
    plan: Callable[[], TaskPlan],
    backlog: bool = False,
) -> ForgetScope:
    """
    What the mapped task forgets and where, resolved in it: never from an XCom.

    :param settings: the run's settings.
    :param get_variable: returns a Variable's (JSON-decoded) value, or None.
    :param store: the request store.
    :param key: the fingerprint key.
    :param batch_key: the run's claim; None for the backlog.
    :param attempt: ``(dag_id, run_id, map_index, try_number)`` of the task.
    :param plan: returns the run's locations and the task's batch (:func:`run_plan`), called once the run
        is known to forget.
    :param backlog: the run is the backlog DAG's.
    :raises FindAndForgetFailedError: the run forgets nothing (settings changed since the plan), or has
        no recorded plan.
    :raises PersonalizeValidationError: the bound is unset or breaks a rule, or the Variable widens it.
    """
    if not forgets(settings, backlog):
        raise FindAndForgetFailedError(
            "Find and forget is off for this run (or it is a dry run): no file is rewritten"
        )
    bound = configured_allowed_locations()
    declaration = parse_declared_locations(get_variable(LOCATIONS_VARIABLE), LOCATIONS_VARIABLE, bound)
    allowed = None if declaration.allowed_buckets is None else frozenset(declaration.allowed_buckets)
    locations, batch = plan()
    writer = None if settings.dry_run else evidence_writer(store, *attempt)
    return ForgetScope(
        forget_users(settings, store, key, batch_key),
        allowed_buckets=allowed,
        allowed_locations=bound,
        plan=locations,
        batch=batch,
        dry_run=settings.dry_run,
        on_result=writer,
        on_rewrite=writer,
        seal=result_seal(key, attempt[:2]),
    )


@dataclass(frozen=True)
class DryRunEvidence:
    """
    What a dry run's record step counts (a dry run writes nothing to the warehouse).

    :param plan: the run's plan, found again in the record step from the settings (never an XCom).
    :param records: the mapped tasks' result records, as their XComs hold them (sealed by the tasks).
    :param key: the fingerprint key the records are sealed with (:mod:`.forget_seal`).
    """

    plan: ForgetBatches
    records: Sequence[object]
    key: bytes


def record_find_and_forget(
    settings: ErasureSettings,
    store: ErasureRequestStore,
    run: tuple[str, str],
    dry_run_evidence: Callable[[], DryRunEvidence],
    backlog: bool = False,
    planning_succeeded: bool = True,
) -> dict[str, Any]:
    """
    Sum the run's find and forget up, put it into its audit record, and fail when any object is unverified
    or a location was not scanned for one of :data:`.forget.locations.BLOCKING_REASONS`.

    The locations not scanned come from the same plan as the planned objects (the warehouse's, or a dry
    run's found again), never from an XCom: the summary says how many ("... K locations not scanned") and
    names the first ones with their reasons, and ``clean`` is false while any of them may hold users.

    A real run (one whose planning task recorded a plan) sums its evidence rows (every try's) against
    that plan: a planned object with no verified row (its task never reached it, or a forged batch left
    it out) and a listing S3 refused are unverified. No XCom is read: whoever may write one cannot hide
    an object from the count. A dry run, which writes nothing, finds its plan again and counts the
    records of its tasks' XComs whose seal holds (:mod:`.forget_seal`): a planned object without one is
    unverified, so a forged XCom cannot report a file clean.

    :param settings: the run's settings.
    :param store: the request store.
    :param run: ``(dag_id, run_id)``.
    :param dry_run_evidence: returns a dry run's plan found again and its tasks' records
        (:class:`DryRunEvidence`); called in a dry run only.
    :param backlog: the run is the backlog DAG's.
    :param planning_succeeded: whether the planning task succeeded (its state in Airflow, not an XCom).
        This step runs whatever its upstream tasks ended in, so that a failed mapped task's files are
        counted; a run whose planning failed, or did not run because a step before it failed, fails here.
    :raises FindAndForgetFailedError: some objects are unverified or some locations not scanned for a
        blocking reason (after the summary is written), or the planning task did not succeed.
    """
    if not planning_succeeded:
        raise FindAndForgetFailedError(
            f"{FIND_TASK} did not succeed (it failed, or a step before it did): nothing was forgotten"
        )
    if not forgets(settings, backlog):
        return {"summary": "find and forget is off for this run"}
    records: Sequence[Mapping[str, Any]]
    plan_summary: Mapping[str, Any] | None
    # A recorded plan makes the run a real one, whatever the settings say now (a Variable turned to a
    # dry run after the planning must not turn the unverified files into a count of what "would be"):
    # only a run that recorded no plan is summed from its XComs.
    found = read_forget_plan(store, *run) if forget_table_exists(store, FORGET_PLAN_TABLE) else None
    dry_run = found is None and settings.dry_run
    if found is not None:
        planned, plan_summary = found.planned_locations(), found.summary
        records = forget_rows(store, *run)
    elif dry_run:
        evidence = dry_run_evidence()
        planned, plan_summary = evidence.plan.planned_locations(), evidence.plan.summary
        authentic, forged = sealed_records(evidence.key, run, evidence.records)
        if forged:
            log.warning(
                "%d result record(s) failed their seal check (an XCom written by hand?): not counted", forged
            )
        in_plan = set(planned)
        records = [record for record in authentic if record.get("location") in in_plan]
    else:
        return {"summary": f"nothing was forgotten: {FIND_TASK} did not finish"}
    unlisted = list((plan_summary or {}).get("unlisted", []))
    not_scanned = list((plan_summary or {}).get("not_scanned", []))
    summary = summarise(records, planned, unlisted, dry_run, not_scanned)
    summary["locations"] = dict((plan_summary or {}).get("locations", {}))
    if dry_run:
        summary["results_not_authentic"] = forged
    if not dry_run:
        summary["in_audit"] = add_to_audit(store, run[1], summary)
    log.info("Find and forget: %s; %d record(s) removed", summary["summary"], summary["records_removed"])
    if summary["unverified"]:
        raise FindAndForgetFailedError(
            f"Find and forget: {summary['unverified']} object(s) unverified (never reported clean): see "
            f"the table {FORGET_TABLE} for each object's reason"
        )
    if summary["not_scanned_blocking"]:
        reasons = ", ".join(r for r in summary["not_scanned_by_reason"] if r in BLOCKING_REASONS)
        raise FindAndForgetFailedError(
            f"Find and forget: {summary['not_scanned_blocking']} location(s) Personalize read or wrote were "
            f"not scanned ({reasons}): the erased users are still there; see not_scanned_locations in the "
            f"summary, and the plan in the table {FORGET_PLAN_TABLE}"
        )
    return summary
