"""
The steps of an erasure run, one function per task of ``dags/personalize_gdpr_erasure.py``.

Each step takes plain values and returns plain JSON that holds no user id: counts, fingerprints,
ARNs, timings. Every step gets the settings resolved anew from the run's params and the Variables,
and from the collect step only its :class:`~.claim.Claim` (key and time, checked): whoever can
write an XCom cannot choose where data is read, written or deleted.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_personalize_deletion.deletion_file.user_ids import invalid_reason
from airflow_provider_personalize_deletion.erasure import cleanup
from airflow_provider_personalize_deletion.erasure import outcome as outcomes
from airflow_provider_personalize_deletion.erasure.claim import Claim, claim_key
from airflow_provider_personalize_deletion.erasure.columns import USER_KEY_ID, add_missing_columns, has_column
from airflow_provider_personalize_deletion.erasure.retention import pseudonymise_erased
from airflow_provider_personalize_deletion.erasure.settings import (
    VARIABLE_PREFIX,
    ErasureSettings,
    check_conf,
    resolve_settings,
    select_dataset_groups,
)
from airflow_provider_personalize_deletion.erasure.store import (
    ClaimChangedError,
    ErasureRequestStore,
    batch_key,
)
from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from airflow_provider_personalize_deletion.hooks.activity import Activity, overlapping
from airflow_provider_personalize_deletion.hooks.personalize import INTERMEDIATE_STATES, SUCCESS_STATES
from airflow_provider_personalize_deletion.transfers.s3_upload import abort_stale_multipart_uploads
from airflow_provider_personalize_deletion.utils.fingerprint_key import fingerprint_key

log = logging.getLogger(__name__)

#: Describes a data deletion job by ARN (``PersonalizeHook.describe_data_deletion_job``).
Describe = Callable[[str], dict[str, Any]]
#: Opens, for the run's settings, the lister of the dataset groups a selector names
#: (``PersonalizeHook.list_dataset_groups_by``).
ListGroups = Callable[[ErasureSettings], Callable[[Any], list[str]]]
#: Lists the summaries of every data deletion job of the account
#: (``PersonalizeHook.list_data_deletion_jobs``).
ListJobs = Callable[[], Iterable[dict[str, Any]]]
#: Lists what uses a dataset group's datasets (``PersonalizeHook.list_dataset_group_activity``).
ListActivity = Callable[[str], list[Activity]]


class ErasureRunFailedError(AirflowFailException):
    """The run could not erase every claimed request; they stay pending for the next run."""


def collect_erasure_requests(
    params: Mapping[str, Any],
    run_id: str,
    try_number: int,
    now: datetime,
    store_for: Callable[[ErasureSettings], ErasureRequestStore],
    get_variable: Callable[[str], Any | None],
    *,
    conf: Mapping[str, Any] | None,
    list_groups: ListGroups | None = None,
) -> dict[str, Any]:
    """
    Resolve the settings, register ad-hoc requests, set aside invalid ones, report overdue ones, claim.

    A dataset group selector (``"all"`` or a tag filter) is resolved here, after the settings are
    validated and before anything is written (a read, which a dry run makes too); the result names
    the selector and the groups, which every later task compares with its own resolution.

    The fingerprint key is read first too: without it (:class:`.FingerprintKeyError`) the run, dry or
    not, fails here, before it writes or claims anything.

    Each try claims under its own key, and so exports to its own S3 folder: a cleared run claims
    what is pending now, and its jobs (named after their input) are new ones. A dry run writes
    nothing: no table, no request, no rejection, no claim; it counts what a real run would do.

    :param params: the DAG run's params; ``user_ids`` (optional) are erased ad hoc.
    :param run_id: the DAG run's id.
    :param try_number: the collect task's try number.
    :param now: the current time (aware).
    :param store_for: opens the request store of the settings' warehouse.
    :param get_variable: returns an Airflow Variable's value, or None.
    :param conf: the DAG run's conf: a key that is not a trigger form field refuses the run.
    :param list_groups: opens the lister of the dataset groups a selector names, for the settings;
        needed only when the settings hold a selector.
    :return: the claim (``batch_key``, ``collected_at``), the dataset groups (``dataset_groups``:
        ``selector``, None when named, and ``arns``) and, for display only, the settings and the
        request counts.
    """
    check_conf(conf)
    settings = resolve_settings(params, get_variable)
    fingerprint_key()  # the export and record_erasure need it: a run without it claims nothing
    if settings.selector is not None:
        if list_groups is None:
            raise ValueError("a dataset group selector needs list_groups")
        settings = select_dataset_groups(settings, list_groups(settings))
        log.info("The dataset group selector names %d dataset group(s)", len(settings.dataset_group_arns))
    ad_hoc = _checked_user_ids(params.get("user_ids") or [])
    store = store_for(settings)
    key = claim_key(run_id, try_number)
    requests = _dry_run_counts(store, ad_hoc, now, settings) if settings.dry_run else None
    if requests is None:
        _ensure_tables(store, settings)
        added = store.add_requests(ad_hoc, f"ad-hoc:{batch_key(run_id)[:12]}", now) if ad_hoc else 0
        rejected = dict(store.reject_invalid(invalid_reason))
        if rejected:
            log.warning(
                "Set aside %d erasure request(s) whose user id Personalize cannot hold (%s): "
                "status 'rejected'",
                sum(rejected.values()),
                rejected,
            )
        requests = {
            "pending": store.count_pending(),
            "claimed": store.claim_pending(key),
            "overdue": store.count_overdue(settings.deadline_rule, now),
            "added_ad_hoc": added,
            "rejected": rejected,
            "ids_hashed": _apply_retention(store, settings, now),
        }
        log.info(
            "%d pending erasure request(s) (%d added ad hoc); %d claimed by this run",
            requests["pending"],
            added,
            requests["claimed"],
        )
    if requests["overdue"]:
        log.warning(
            "%d pending erasure request(s) are past their due date (deadline rule %s)",
            requests["overdue"],
            settings.deadline,
        )
    return {
        "settings": settings.as_dict(),  # for display: every task resolves the settings itself
        "batch_key": key,
        "collected_at": now.isoformat(),
        "dataset_groups": dataset_groups_record(settings),
        "requests": requests,
    }


def dataset_groups_record(settings: ErasureSettings) -> dict[str, Any]:
    """
    The run's dataset groups and the selector that chose them (None when named), for XCom and audit.

    :param settings: the run's settings, selector resolved.
    """
    return {"selector": settings.selector, "arns": list(settings.dataset_group_arns)}


def selected_groups_problem(settings: ErasureSettings, collected: Mapping[str, Any]) -> str | None:
    """
    Why the groups a selector names now differ from those the collect step resolved; None when equal.

    A later task resolves the selector again and takes the groups from that resolution: the collect
    step's XCom can only make the run refuse, never choose a group. A group created, tagged or
    deleted during the run therefore fails it (its requests stay pending for the next run, which
    erases them in every group the selector names then).

    :param settings: the run's settings, selector resolved by the task.
    :param collected: the collect step's XCom.
    """
    if settings.selector is None:
        return None
    recorded = (collected.get("dataset_groups") or {}).get("arns")
    if isinstance(recorded, list) and set(recorded) == set(settings.dataset_group_arns):
        return None
    return (
        "the dataset groups the selector names changed since the run started "
        f"({len(settings.dataset_group_arns)} now; the collect step resolved "
        f"{len(recorded) if isinstance(recorded, list) else 'none'})"
    )


def _ensure_tables(store: ErasureRequestStore, settings: ErasureSettings) -> None:
    """
    Create the missing tables when the deployment lets the DAG do it, else refuse the run.

    Tables and indexes that exist are left alone: no DDL, so no ``CREATE`` privilege, once they are there.
    A table an earlier release created gets the columns of this one when ``create_tables`` is on
    (:func:`.columns.add_missing_columns`); a column not added is logged with its statement, and the run
    goes on: its steps do not read it.

    :param store: the request store of the run's warehouse.
    :param settings: the run's settings (``create_tables``).
    :raises PersonalizeValidationError: ``create_tables`` is off and a table is missing.
    """
    missing = store.missing_tables()
    if settings.create_tables:
        store.create_tables(missing)
    elif missing:
        raise PersonalizeValidationError(
            "create_tables",
            f"is false (Variable {VARIABLE_PREFIX}create_tables), and the warehouse has no table "
            f'{" nor ".join(missing)}: create it with the statements under "Creating the tables yourself" '
            "in the README, or set the Variable to true",
        )
    add_missing_columns(store, may_alter=settings.create_tables)


def _apply_retention(store: ErasureRequestStore, settings: ErasureSettings, now: datetime) -> int | None:
    """
    Replace the user ids of requests erased more than ``retention_days`` ago by their keyed hash
    (:mod:`.retention`); None when the retention is off, or the table lacks ``user_key_id`` (logged with
    the statement that adds it by :func:`.columns.add_missing_columns`).
    """
    if not settings.retention_days:
        return None
    if not has_column(store.hook, store.requests_table, USER_KEY_ID):
        log.warning("The retention of user ids is on but the requests table has no %s: ids kept", USER_KEY_ID)
        return None
    return pseudonymise_erased(store, fingerprint_key(), now - timedelta(days=settings.retention_days))


def _dry_run_counts(
    store: ErasureRequestStore, ad_hoc: Sequence[str], now: datetime, settings: ErasureSettings
) -> dict[str, Any]:
    """What a real run would find, read without writing (not even the tables, when missing)."""
    missing = store.missing_tables()
    readable = store.requests_table not in missing
    would_reject = dict(store.count_invalid(invalid_reason)) if readable else {}
    counts = {
        "pending": store.count_pending() - sum(would_reject.values()) if readable else 0,
        "claimed": 0,
        "overdue": store.count_overdue(settings.deadline_rule, now) if readable else 0,
        "added_ad_hoc": 0,
        "rejected": {},
        "would_add_ad_hoc": len(set(ad_hoc)),
        "would_reject": would_reject,
        "tables_missing": bool(missing),
    }
    log.info(
        "Dry run: %d pending erasure request(s), %d ad-hoc id(s) not added, %d would be set aside; "
        "nothing written%s",
        counts["pending"],
        counts["would_add_ad_hoc"],
        sum(would_reject.values()),
        f" (table(s) not created yet: {', '.join(missing)})" if missing else "",
    )
    return counts


def plan_deletion_jobs(
    settings: ErasureSettings, claim: Claim, export: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """
    One data deletion job per dataset group and deletion file: the create task's mapped arguments.

    Refuses, before any job, an export that is not of this claim or whose files are not exactly
    this claim's deletion files (``s3://<bucket>/<key_prefix>/<claim16>/<export try>/part-NNNNN.csv``).

    :param settings: the run's settings.
    :param claim: the run's claim.
    :param export: the transfer's summary.
    :raises ErasureRunFailedError: the export is not this run's.
    """
    problem = _export_problem(settings, claim, export)
    if problem:
        raise ErasureRunFailedError(f"No deletion job planned: {problem}")
    return [
        _job_arguments(settings, claim, group, location, {})
        for group in settings.dataset_group_arns
        for location in export["data_locations"]
    ]


def _job_arguments(
    settings: ErasureSettings, claim: Claim, group: str, location: str, tags: Mapping[str, str]
) -> dict[str, Any]:
    """The create task's arguments of one job: it waits for a quiet dataset group before creating."""
    return {
        "dataset_group_arn": group,
        "data_location": location,
        "role_arn": settings.role_arn,
        "aws_conn_id": settings.aws_conn_id,
        "action_if_not_quiet": "wait",
        "quiet_timeout": settings.quiet_timeout,
        "tags": {"purpose": "gdpr-erasure", "erasure-batch": claim.batch_key[:16], **tags},
    }


def plan_follow_up_jobs(
    settings: ErasureSettings,
    claim: Claim,
    export: Mapping[str, Any],
    round_number: int,
    previous: Sequence[Mapping[str, Any]],
    describe: Describe,
) -> list[dict[str, Any]]:
    """
    Follow-up jobs of one round: the same file again, in each dataset group whose job of the previous
    round COMPLETED while something (a training, an import, a batch job) ran on the group.

    Amazon Personalize cannot guarantee that the users are gone from what ran meanwhile and
    recommends another data deletion job; the create task waits for the group to be quiet first.
    A round beyond ``max_follow_up_jobs`` plans nothing: ``record_erasure`` then fails the run, as the
    last job overlapped. What to follow up comes from the previous round's XComs (the sensor's
    ``overlapping_activity``): a forged one can only add a job; each job's group and file are those
    the service describes, and must be one of this run's (group, file) pairs.

    :param settings: the run's settings, selector resolved.
    :param claim: the run's claim.
    :param export: the transfer's summary.
    :param round_number: the follow-up round, from 1.
    :param previous: the previous round's jobs: ``{"job_arn", "overlapping_activity"}`` each.
    :param describe: describes a job by ARN.
    :return: the create task's mapped arguments (empty when nothing overlapped).
    :raises ErasureRunFailedError: the export or a job to follow up is not this run's.
    """
    planned = {
        (job["dataset_group_arn"], job["data_location"]): job
        for job in plan_deletion_jobs(settings, claim, export)
    }
    overlapped = [item for item in previous if item.get("job_arn") and item.get("overlapping_activity")]
    if not overlapped:
        log.info("Follow-up round %d: no job of the previous round overlapped activity", round_number)
        return []
    if round_number > settings.max_follow_up_jobs:
        log.error(
            "%d job(s) still overlapped activity after %d follow-up round(s) (max_follow_up_jobs): "
            "no further job; the run fails and its requests stay pending",
            len(overlapped),
            settings.max_follow_up_jobs,
        )
        return []
    jobs: dict[tuple[str, str], dict[str, Any]] = {}
    for item in overlapped:
        job = describe(str(item["job_arn"]))
        pair = (job["datasetGroupArn"], job["dataSource"]["dataLocation"])
        if job["status"] not in SUCCESS_STATES or pair not in planned:
            raise ErasureRunFailedError(
                f"No follow-up job planned: {job['dataDeletionJobArn']} did not complete reading one of "
                "this run's deletion files in one of its dataset groups"
            )
        tags = {"erasure-follow-up": str(round_number)}
        jobs[pair] = _job_arguments(settings, claim, pair[0], pair[1], tags)
    log.warning(
        "Follow-up round %d: %d job(s) overlapped activity on their dataset group: running the same "
        "file again once the group is quiet",
        round_number,
        len(jobs),
    )
    return list(jobs.values())


def _export_problem(settings: ErasureSettings, claim: Claim, export: Mapping[str, Any]) -> str | None:
    """Why an export summary is not one of this claim's exports; None when it is."""
    if export.get("claim") != claim.batch_key:
        return "the export did not read this collect try's claim (was collect cleared on its own?)"
    locations = export.get("data_locations")
    locations = list(locations) if isinstance(locations, list) else []
    pattern = claim.location_pattern(settings)
    matches = [pattern.fullmatch(item) if isinstance(item, str) else None for item in locations]
    one_try = len({match.group(1) for match in matches if match}) == 1
    if not matches or not all(matches) or not one_try or len(set(locations)) != len(locations):
        return (
            "the export's files are not exactly this run's deletion files "
            f"(s3://{settings.bucket}/{claim.run_folder(settings)}/<export try>/part-NNNNN.csv)"
        )
    return None


def record_erasure(
    settings: ErasureSettings,
    claim: Claim,
    export: Mapping[str, Any] | None,
    job_arns: Iterable[str],
    describe: Describe,
    store: ErasureRequestStore,
    run_id: str,
    now: datetime,
    *,
    fingerprint_key: Callable[[], bytes],
    activity: ListActivity,
    superseded: Mapping[str, Sequence[str]] | None = None,
    rounds: Mapping[str, int] | None = None,
    counts: Mapping[str, Any] | None = None,
    groups_problem: str | None = None,
    s3_client: Any = None,
) -> dict[str, Any]:
    """
    Mark the claimed requests erased if, and only if, in every dataset group the last job on each file
    COMPLETED with nothing overlapping it; audit the run.

    What overlapped each COMPLETED job is listed here again (one activity listing per dataset group),
    not taken from the sensors' XComs. A group's jobs are its initial jobs (one per file) and its
    follow-up jobs (the same file again, at most one per round); each job, with what overlapped it,
    is in the audit record.

    What is marked is bound to what the jobs read: the export must name this collect try's claim
    and this claim's files, every job must be this run's (its input one of the export's files,
    created after the claim and after the export wrote its files), and the claim's rows, marked
    and read back in one transaction, must have the export's count and keyed fingerprint, or the
    transaction is rolled back. Otherwise nothing is marked and the run fails. The marked requests'
    users join the suppression list in that same transaction; the audit counts the entries that were
    new (``requests.suppressed``), never an id. A dry run writes nothing: it returns (and logs) its
    counts only.

    :param settings: the run's settings.
    :param claim: the run's claim.
    :param export: the transfer's summary; None when it wrote no file (skipped or failed).
    :param job_arns: the ARNs of the jobs the run created.
    :param describe: describes a job by ARN.
    :param store: the request store.
    :param run_id: the DAG run's id.
    :param now: the current time (aware).
    :param fingerprint_key: returns the secret key of the export's fingerprint and of the suppression list.
    :param activity: lists what uses a dataset group's datasets.
    :param superseded: the FAILED jobs each job replaced (create task, XCom ``superseded_job_arns``),
        by job ARN; recorded in the audit next to the job that replaced them.
    :param rounds: the round of each job (0: the initial jobs, then the follow-up rounds), by job ARN;
        jobs not in it count as initial jobs.
    :param groups_problem: why the dataset groups are not the run's (a selector that names others
        now); the run then marks nothing.
    :param counts: the collect step's request counts, copied into the audit for display only (only
        numbers are kept); no decision depends on them.
    :param s3_client: a boto3 S3 client, to list what is left of the run's deletion files
        (:func:`check_deletion_files`, the record's ``deletion_file_check``); None: not checked.
    :return: the audit record.
    :raises ErasureRunFailedError: after writing the audit record, when any group was not erased.
    """
    requests = _display_counts(counts or {})
    if settings.dry_run:
        log.info(
            "Dry run: nothing recorded; %d pending request(s), %d overdue",
            requests.get("pending", 0),
            requests.get("overdue", 0),
        )
        return {"run_id": run_id, "outcome": outcomes.DRY_RUN, "dry_run": True, "requests": requests}
    requests["claimed"] = store.count_claim(claim.batch_key)
    requests["erased"] = requests["suppressed"] = 0  # what this step did, never the collect step's XCom
    jobs = []
    for arn in job_arns:
        job = describe(arn)
        job[outcomes.SUPERSEDED] = list((superseded or {}).get(arn, []))
        job[outcomes.ROUND] = int((rounds or {}).get(arn, 0))
        jobs.append(job)
    listing_problems = _add_overlaps(jobs, activity)
    groups = outcomes.group_outcomes(settings.dataset_group_arns, export["file_count"] if export else 0, jobs)
    outcome, problems = _decide(requests["claimed"], export, groups)
    if outcome == outcomes.ERASED:
        problems = _unbound(settings, claim, export, jobs)  # type: ignore[arg-type]
    if requests["claimed"] and groups_problem:
        outcome, problems = outcomes.FAILED, [groups_problem, *problems]
    if requests["claimed"] and listing_problems:
        outcome, problems = outcomes.FAILED, [*listing_problems, *problems]
    if outcome == outcomes.ERASED and not problems:
        try:
            requests["erased"], requests["suppressed"] = store.mark_erased(
                claim.batch_key,
                now,
                outcomes.erasure_record(groups),
                fingerprint_key=fingerprint_key(),
                expected=(export["id_count"], export["fingerprint"]),  # type: ignore[index]
            )
        except ClaimChangedError as error:
            problems = [str(error)]
    outcome = outcomes.FAILED if problems else outcome
    record = {
        "run_id": run_id,
        "outcome": outcome,
        "problems": problems,
        "dry_run": settings.dry_run,
        "collected_at": claim.collected_at.isoformat(),
        "recorded_at": now.isoformat(),
        "requests": requests,
        "export": _export_record(export),
        "deletion_file_check": check_deletion_files(settings, claim, s3_client, now) if export else None,
        "dataset_group_selection": dataset_groups_record(settings),
        "follow_up_jobs": sum(1 for job in jobs if job[outcomes.ROUND] > 0),
        "dataset_groups": [group.as_record() for group in groups],
    }
    store.write_audit(run_id, now, outcome, record)
    log.info(
        "Erasure run %s: %s; %d request(s) erased, %d user(s) newly suppressed, %d overdue",
        run_id,
        outcome,
        requests.get("erased", 0),
        requests.get("suppressed", 0),
        requests.get("overdue", 0),
    )
    if outcome == outcomes.FAILED:
        raise ErasureRunFailedError(
            "Erasure run failed; its requests stay pending for the next run: " + "; ".join(problems)
        )
    return record


def check_deletion_files(
    settings: ErasureSettings, claim: Claim, s3_client: Any, now: datetime
) -> dict[str, Any] | None:
    """
    What S3 holds of the run's deletion files when the run records: the objects of a deletion file's
    key shape left in the claim's folder (every export try's), listed by the record step itself after
    ``delete_deletion_files`` ran. The evidence's "the file was deleted" is this listing, never that
    task's XCom (whoever may write an XCom can forge it).

    :param settings: the run's settings (its bucket and ``key_prefix``, ``cleanup_files``).
    :param claim: the run's claim.
    :param s3_client: a boto3 S3 client; None: nothing is checked (None returned).
    :param now: the current time (aware).
    :return: ``checked_at``, ``files_left`` (None when the listing failed, ``check_failed`` its error
        code), ``cleanup_files``.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    if s3_client is None:
        return None
    check: dict[str, Any] = {"checked_at": now.isoformat(), "cleanup_files": settings.cleanup_files}
    try:
        check["files_left"] = cleanup.deletion_files_left(
            s3_client, settings.bucket, claim.run_folder(settings), settings.key_prefix
        )
    except ClientError as error:
        check.update(files_left=None, check_failed=str(error.response.get("Error", {}).get("Code"))[:64])
    except BotoCoreError as error:
        check.update(files_left=None, check_failed=type(error).__name__)
    return check


def _display_counts(counts: Mapping[str, Any]) -> dict[str, Any]:
    """The request counts of the collect step, numbers only (display; never decided on)."""

    def is_count(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    kept: dict[str, Any] = {}
    for name, value in counts.items():
        if is_count(value) or isinstance(value, bool):
            kept[str(name)] = value
        elif isinstance(value, Mapping) and all(is_count(item) for item in value.values()):
            kept[str(name)] = {str(reason)[:40]: item for reason, item in value.items()}
    return kept


def _add_overlaps(jobs: list[dict[str, Any]], activity: ListActivity) -> list[str]:
    """
    Add to each COMPLETED job what of its dataset group ran during its life (listed once a group).

    :return: the dataset groups whose activity could not be listed, as problems; their jobs' overlap
        is unknown (None), so those groups are not erased.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    listed: dict[str, list[Activity] | None] = {}
    problems: list[str] = []
    for job in jobs:
        if job["status"] not in SUCCESS_STATES:
            job[outcomes.OVERLAP] = None
            continue
        group = job["datasetGroupArn"]
        if group not in listed:
            try:
                listed[group] = activity(group)
            except (ClientError, BotoCoreError) as error:  # the code only: a message may quote data
                code = (
                    error.response["Error"]["Code"]
                    if isinstance(error, ClientError)
                    else type(error).__name__
                )
                listed[group] = None
                problems.append(
                    f"the activity of dataset group {group} could not be listed ({code}): whether a "
                    "training, import or batch job overlapped its jobs is unknown"
                )
        group_activity = listed[group]
        if group_activity is None:
            job[outcomes.OVERLAP] = None
            continue
        found = overlapping(
            group_activity, _aware(job["creationDateTime"]), _aware(job["lastUpdatedDateTime"])
        )
        job[outcomes.OVERLAP] = [item.as_record() for item in found]
    return problems


def _unbound(
    settings: ErasureSettings, claim: Claim, export: Mapping[str, Any], jobs: list[dict[str, Any]]
) -> list[str]:
    """Why the completed jobs did not read exactly this claim's export; empty when they did."""
    problem = _export_problem(settings, claim, export)
    if problem:
        return [problem]
    try:
        written_at = _aware(export["written_at"]).replace(microsecond=0)  # job times may be in seconds
    except (KeyError, TypeError, ValueError):
        return ["the export's summary does not say when it wrote its files (written_at)"]
    files = set(export["data_locations"])
    not_before = max(claim.collected_at, written_at)
    problems = [
        f"job {job['dataDeletionJobArn']} is not this run's: it read another input or predates the "
        "claim or the export's files"
        for job in jobs
        if job.get("dataSource", {}).get("dataLocation") not in files
        or _aware(job["creationDateTime"]) < not_before
    ]
    if problems:
        return problems
    pairs = {(group, file) for group in settings.dataset_group_arns for file in files}
    read = Counter(
        (job["datasetGroupArn"], job["dataSource"]["dataLocation"], job.get(outcomes.ROUND, 0))
        for job in jobs
    )
    initial = {(group, file) for group, file, round_number in read if round_number == 0}
    follow_ups = {(group, file) for group, file, round_number in read if round_number > 0}
    if initial != pairs or max(read.values(), default=0) > 1 or not follow_ups <= pairs:
        problems.append(
            "the jobs do not cover every dataset group and deletion file exactly (one initial job each, "
            "at most one follow-up job a round)"
        )
    return problems


def _aware(moment: datetime | str) -> datetime:
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def delete_deletion_files(
    settings: ErasureSettings,
    claim: Claim,
    job_arns: Iterable[str],
    describe: Describe,
    s3_client: Any,
    now: datetime,
    *,
    run_id: str | None = None,
    list_jobs: ListJobs | None = None,
) -> dict[str, Any]:
    """
    Delete the run's deletion files (personal data) once none of its jobs may still read them.

    Files an earlier run had to keep (a job still running when it ended) are deleted here once
    they are older than ``stale_file_hours``, longer than any job takes, with the incomplete uploads
    of killed exports. Only objects the pipeline wrote are touched (see :mod:`.cleanup`), in the
    run's own folder too. A dry run deletes nothing.

    A run cleared as a whole (or its collect step) claims again under a new key, in a new folder:
    the files of its earlier collect tries (and their open uploads) are deleted here too, once none
    of this run's jobs is running, except a file some job not yet ended (PENDING or IN_PROGRESS,
    among all of the account's deletion jobs: an earlier try's job is in none of this run's XComs)
    reads; such a file is left to the sweep of old files.

    :param settings: the run's settings.
    :param claim: the run's claim.
    :param job_arns: the ARNs of the jobs the run created.
    :param describe: describes a job by ARN.
    :param s3_client: a boto3 S3 client.
    :param now: the current time (aware).
    :param run_id: the DAG run's id, whose earlier collect tries' files are deleted; None: not looked for.
    :param list_jobs: lists the summaries of every deletion job of the account; needed with ``run_id``.
    :return: how many files were deleted (this claim's, earlier runs', this run's earlier tries'), and
        why any of this claim's were kept.
    """
    if settings.dry_run:
        return _nothing_deleted("dry run")
    if not settings.cleanup_files:
        return _nothing_deleted("cleanup_files is off")
    running = [arn for arn in job_arns if describe(arn)["status"] in INTERMEDIATE_STATES]
    run_prefix = claim.run_folder(settings) + "/"
    earlier_folders = [f"{folder}/" for folder in claim.earlier_run_folders(settings, run_id or "")]
    stale_before = now - timedelta(hours=settings.stale_file_hours)
    pattern = cleanup.deletion_file_key_pattern(settings.key_prefix)
    ours: list[str] = []
    earlier: list[str] = []
    stale: list[str] = []
    for item in cleanup.list_objects(s3_client, settings.bucket, settings.key_prefix + "/"):
        key = item["Key"]
        if key.startswith(run_prefix):
            found = ours
        elif key.startswith(tuple(earlier_folders)):
            found = earlier
        elif item["LastModified"] < stale_before:
            found = stale
        else:
            continue
        if pattern.fullmatch(key) and cleanup.has_deletion_file_metadata(s3_client, settings.bucket, key):
            found.append(key)
    if running:
        log.warning("Keeping this run's deletion files: %d job(s) may still read them", len(running))
        ours, earlier_folders = [], []
    earlier_kept = _still_read(settings, earlier, list_jobs, describe) if earlier and not running else earlier
    earlier = [key for key in earlier if key not in set(earlier_kept)]
    cleanup.delete_objects(s3_client, settings.bucket, ours + earlier + stale)
    aborted = abort_stale_multipart_uploads(
        s3_client, settings.bucket, settings.key_prefix + "/", stale_before, pattern
    )
    for folder in earlier_folders:  # the uploads of a killed export of an earlier try, whatever their age
        aborted += abort_stale_multipart_uploads(s3_client, settings.bucket, folder, now, pattern)
    log.info(
        "Deleted %d deletion file(s) of this run, %d of its earlier collect tries (%d kept: a job not "
        "ended reads them) and %d left by earlier runs under s3://%s/%s/; aborted %d incomplete upload(s)",
        len(ours),
        len(earlier),
        len(earlier_kept),
        len(stale),
        settings.bucket,
        settings.key_prefix,
        aborted,
    )
    return {
        "deleted": len(ours),
        "stale_deleted": len(stale),
        "earlier_tries_deleted": len(earlier),
        "earlier_tries_kept": len(earlier_kept),
        "uploads_aborted": aborted,
        "kept": f"{len(running)} job(s) still running" if running else None,
    }


def _nothing_deleted(reason: str) -> dict[str, Any]:
    return {
        "deleted": 0,
        "stale_deleted": 0,
        "earlier_tries_deleted": 0,
        "earlier_tries_kept": 0,
        "uploads_aborted": 0,
        "kept": reason,
    }


def _still_read(
    settings: ErasureSettings, keys: list[str], list_jobs: ListJobs | None, describe: Describe
) -> list[str]:
    """The keys a deletion job not yet ended may read (all of them without ``list_jobs``)."""
    if list_jobs is None:
        return keys
    locations = [
        describe(job["dataDeletionJobArn"]).get("dataSource", {}).get("dataLocation") or ""
        for job in list_jobs()
        if job["status"] in INTERMEDIATE_STATES
    ]
    # A location is a file or a folder: a file under any such location is kept.
    return [
        key
        for key in keys
        if any(f"s3://{settings.bucket}/{key}".startswith(location) for location in locations if location)
    ]


def _checked_user_ids(user_ids: Any) -> list[str]:
    """Refuse ad-hoc ids Personalize cannot take, with counts by reason and never the ids."""
    if isinstance(user_ids, str) or not isinstance(user_ids, (list, tuple)):
        raise PersonalizeValidationError("user_ids", "must be a list of user ids")
    reasons = Counter(reason for reason in map(invalid_reason, user_ids) if reason)
    if reasons:
        counts = ", ".join(f"{reason}: {count}" for reason, count in sorted(reasons.items()))
        raise PersonalizeValidationError("user_ids", f"must all be valid Personalize user ids ({counts})")
    return list(user_ids)


def _decide(
    claimed: int, export: Mapping[str, Any] | None, groups: list[outcomes.GroupOutcome]
) -> tuple[str, list[str]]:
    if not claimed:
        return outcomes.NOTHING_TO_ERASE, []
    if export is None:
        return outcomes.FAILED, ["no deletion file was exported (see the export_user_ids task)"]
    problems = [group.problem for group in groups if group.problem]
    return (outcomes.FAILED, problems) if problems else (outcomes.ERASED, [])


def _export_record(export: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if export is None:
        return None
    keep = (
        "id_count",
        "file_count",
        "duplicates",
        "skipped",
        "fingerprint",
        "claim",
        "data_locations",
        "written_at",
    )
    return {key: export.get(key) for key in keep}
