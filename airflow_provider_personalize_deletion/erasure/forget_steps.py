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
   an XCom says), puts the summary into the run's audit record, and fails loudly when any object is
   unverified.

Where data is read and written is never an XCom's choice: each task resolves the settings itself, a run
that is dry or has ``find_and_forget`` off forgets nothing, and an object outside the run's plan (or the
Variable's ``allowed_buckets``) refuses its batch before any call.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
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
from airflow_provider_personalize_deletion.erasure.forget_tasks import FIND_TASK
from airflow_provider_personalize_deletion.erasure.settings import VARIABLE_PREFIX, ErasureSettings
from airflow_provider_personalize_deletion.erasure.store import ERASED, ErasureRequestStore
from airflow_provider_personalize_deletion.erasure.suppression import SuppressionList
from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from airflow_provider_personalize_deletion.forget.batch import ForgetScope, OnResult
from airflow_provider_personalize_deletion.forget.declared_locations import parse_declared_locations
from airflow_provider_personalize_deletion.forget.find import users_to_forget
from airflow_provider_personalize_deletion.forget.objects import checked_objects
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

    The Variable is checked, and the tables created when missing (with ``create_tables`` on; off, a
    missing table fails here naming the setting), before any AWS call.

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
    declared = get_variable(LOCATIONS_VARIABLE)
    parse_declared_locations(declared, LOCATIONS_VARIABLE)
    missing = [table for table in FORGET_TABLES if not forget_table_exists(store, table)]
    if not settings.dry_run and missing:
        if not settings.create_tables:
            raise PersonalizeValidationError(
                "create_tables",
                f"is false, and the warehouse has no table {missing[0]}: create it with the statements "
                'under "Find and forget in the example DAG" in the README',
            )
        create_forget_table(store)
    found = plan_forget_batches(
        hook,
        s3_client,
        settings.dataset_group_arns,
        declared,
        max_batches=max_batches,
        field=LOCATIONS_VARIABLE,
    )
    if not settings.dry_run:
        write_forget_plan(store, *run, datetime.now(timezone.utc), found)
    return found


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


def run_plan(
    settings: ErasureSettings,
    store: ErasureRequestStore,
    run: tuple[str, str],
    find_again: Callable[[], LocationPlan],
) -> LocationPlan:
    """
    The locations a mapped task may read and rewrite: the plan its planning task recorded in the
    warehouse; in a dry run (which records nothing) the plan found again from the settings.

    :param settings: the run's settings.
    :param store: the request store.
    :param run: ``(dag_id, run_id)``.
    :param find_again: finds the run's plan from its settings (:func:`.find_locations.find_locations`).
    :raises FindAndForgetFailedError: the run has no recorded plan.
    """
    if settings.dry_run:
        return find_again()
    plan = read_forget_plan(store, *run)
    if plan is None:
        raise FindAndForgetFailedError(
            f"No plan of this run in the table {FORGET_PLAN_TABLE} ({FIND_TASK} records it): no file is read"
        )
    return plan.plan


def forget_scope(
    settings: ErasureSettings,
    get_variable: Callable[[str], Any | None],
    store: ErasureRequestStore,
    key: bytes,
    batch_key: str | None,
    attempt: tuple[str, str, int, int],
    plan: Callable[[], LocationPlan],
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
    :param plan: returns the run's plan (:func:`run_plan`), called once the run is known to forget.
    :param backlog: the run is the backlog DAG's.
    :raises FindAndForgetFailedError: the run forgets nothing (settings changed since the plan), or has
        no recorded plan.
    """
    if not forgets(settings, backlog):
        raise FindAndForgetFailedError(
            "Find and forget is off for this run (or it is a dry run): no file is rewritten"
        )
    declaration = parse_declared_locations(get_variable(LOCATIONS_VARIABLE), LOCATIONS_VARIABLE)
    allowed = None if declaration.allowed_buckets is None else frozenset(declaration.allowed_buckets)
    locations = plan()
    writer = None if settings.dry_run else evidence_writer(store, *attempt)
    return ForgetScope(
        forget_users(settings, store, key, batch_key),
        allowed_buckets=allowed,
        plan=locations,
        dry_run=settings.dry_run,
        on_result=writer,
        on_rewrite=writer,
    )


#: A dry run's planning and mapped tasks' XComs: the batches (None when the planning task did not finish),
#: the plan's summary, and the mapped tasks' results (a dry run writes nothing to the warehouse).
DryRunXComs = tuple[
    Sequence[Sequence[Mapping[str, Any]]] | None,
    Mapping[str, Any] | None,
    Sequence[Sequence[Mapping[str, Any]] | None],
]


def record_find_and_forget(
    settings: ErasureSettings,
    store: ErasureRequestStore,
    run: tuple[str, str],
    dry_run_xcoms: Callable[[], DryRunXComs],
    backlog: bool = False,
) -> dict[str, Any]:
    """
    Sum the run's find and forget up, put it into its audit record, and fail when any object is unverified.

    A real run (one whose planning task recorded a plan) sums its evidence rows (every try's) against
    that plan: a planned object with no verified row (its task never reached it, or a forged batch left
    it out) and a listing S3 refused are unverified. No XCom is read: whoever may write one cannot hide
    an object from the count. A dry run, which writes nothing, sums its tasks' XComs (it claims nothing
    clean: it rewrote nothing).

    :param settings: the run's settings.
    :param store: the request store.
    :param run: ``(dag_id, run_id)``.
    :param dry_run_xcoms: returns a dry run's XComs (:data:`DryRunXComs`); called in a dry run only.
    :param backlog: the run is the backlog DAG's.
    :raises FindAndForgetFailedError: some objects are unverified (after the summary is written).
    """
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
        batches, plan_summary, results = dry_run_xcoms()
        if batches is None:
            return {"summary": f"nothing was forgotten: {FIND_TASK} did not finish"}
        planned = [item.location for batch in batches for item in checked_objects(batch)]
        records = [record for batch in results if batch for record in batch]
    else:
        return {"summary": f"nothing was forgotten: {FIND_TASK} did not finish"}
    unlisted = list((plan_summary or {}).get("unlisted", []))
    summary = summarise(records, planned, unlisted, dry_run)
    summary["locations"] = dict((plan_summary or {}).get("locations", {}))
    if not dry_run:
        summary["in_audit"] = add_to_audit(store, run[1], summary)
    log.info("Find and forget: %s; %d record(s) removed", summary["summary"], summary["records_removed"])
    if summary["unverified"]:
        raise FindAndForgetFailedError(
            f"Find and forget: {summary['unverified']} object(s) unverified (never reported clean): see "
            f"the table {FORGET_TABLE} for each object's reason"
        )
    return summary
