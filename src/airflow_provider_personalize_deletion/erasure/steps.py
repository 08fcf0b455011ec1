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
from airflow_provider_personalize_deletion.erasure.claim import Claim
from airflow_provider_personalize_deletion.erasure.settings import (
    ErasureSettings,
    check_conf,
    resolve_settings,
)
from airflow_provider_personalize_deletion.erasure.store import (
    ClaimChangedError,
    ErasureRequestStore,
    batch_key,
)
from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from airflow_provider_personalize_deletion.hooks.personalize import INTERMEDIATE_STATES
from airflow_provider_personalize_deletion.transfers.s3_upload import abort_stale_multipart_uploads

log = logging.getLogger(__name__)

#: Describes a data deletion job by ARN (``PersonalizeHook.describe_data_deletion_job``).
Describe = Callable[[str], dict[str, Any]]


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
) -> dict[str, Any]:
    """
    Resolve the settings, register ad-hoc requests, set aside invalid ones, report overdue ones, claim.

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
    :return: the claim (``batch_key``, ``collected_at``) and, for display only, the settings and
        the request counts.
    """
    check_conf(conf)
    settings = resolve_settings(params, get_variable)
    ad_hoc = _checked_user_ids(params.get("user_ids") or [])
    store = store_for(settings)
    key = batch_key(f"{run_id}#{try_number}")
    requests = _dry_run_counts(store, ad_hoc, now, settings) if settings.dry_run else None
    if requests is None:
        store.create_tables()
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
            "overdue": store.count_overdue(now - timedelta(days=settings.overdue_days)),
            "added_ad_hoc": added,
            "rejected": rejected,
        }
        log.info(
            "%d pending erasure request(s) (%d added ad hoc); %d claimed by this run",
            requests["pending"],
            added,
            requests["claimed"],
        )
    if requests["overdue"]:
        log.warning(
            "%d pending erasure request(s) are older than %d days, the GDPR deadline",
            requests["overdue"],
            settings.overdue_days,
        )
    return {
        "settings": settings.as_dict(),  # for display: every task resolves the settings itself
        "batch_key": key,
        "collected_at": now.isoformat(),
        "requests": requests,
    }


def _dry_run_counts(
    store: ErasureRequestStore, ad_hoc: Sequence[str], now: datetime, settings: ErasureSettings
) -> dict[str, Any]:
    """What a real run would find, read without writing (not even the tables, when missing)."""
    tables_exist = store.tables_exist()
    would_reject = dict(store.count_invalid(invalid_reason)) if tables_exist else {}
    counts = {
        "pending": store.count_pending() - sum(would_reject.values()) if tables_exist else 0,
        "claimed": 0,
        "overdue": store.count_overdue(now - timedelta(days=settings.overdue_days)) if tables_exist else 0,
        "added_ad_hoc": 0,
        "rejected": {},
        "would_add_ad_hoc": len(set(ad_hoc)),
        "would_reject": would_reject,
        "tables_missing": not tables_exist,
    }
    log.info(
        "Dry run: %d pending erasure request(s), %d ad-hoc id(s) not added, %d would be set aside; "
        "nothing written%s",
        counts["pending"],
        counts["would_add_ad_hoc"],
        sum(would_reject.values()),
        " (the request tables do not exist yet)" if not tables_exist else "",
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
        {
            "dataset_group_arn": group,
            "data_location": location,
            "role_arn": settings.role_arn,
            "aws_conn_id": settings.aws_conn_id,
            "tags": {"purpose": "gdpr-erasure", "erasure-batch": claim.batch_key[:16]},
        }
        for group in settings.dataset_group_arns
        for location in export["data_locations"]
    ]


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
    superseded: Mapping[str, Sequence[str]] | None = None,
    counts: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """
    Mark the claimed requests erased if, and only if, every dataset group's jobs COMPLETED; audit the run.

    What is marked is bound to what the jobs read: the export must name this collect try's claim
    and this claim's files, every job must be this run's (its input one of the export's files,
    created after the claim and after the export wrote its files), and the claim's rows, marked
    and read back in one transaction, must have the export's count and keyed fingerprint, or the
    transaction is rolled back. Otherwise nothing is marked and the run fails. A dry run writes
    nothing: it returns (and logs) its counts only.

    :param settings: the run's settings.
    :param claim: the run's claim.
    :param export: the transfer's summary; None when it wrote no file (skipped or failed).
    :param job_arns: the ARNs of the jobs the run created.
    :param describe: describes a job by ARN.
    :param store: the request store.
    :param run_id: the DAG run's id.
    :param now: the current time (aware).
    :param fingerprint_key: returns the secret key of the export's fingerprint.
    :param superseded: the FAILED jobs each job replaced (create task, XCom ``superseded_job_arns``),
        by job ARN; recorded in the audit next to the job that replaced them.
    :param counts: the collect step's request counts, copied into the audit for display only (only
        numbers are kept); no decision depends on them.
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
    jobs = []
    for arn in job_arns:
        job = describe(arn)
        job[outcomes.SUPERSEDED] = list((superseded or {}).get(arn, []))
        jobs.append(job)
    groups = outcomes.group_outcomes(settings.dataset_group_arns, export["file_count"] if export else 0, jobs)
    outcome, problems = _decide(requests["claimed"], export, groups)
    if outcome == outcomes.ERASED:
        problems = _unbound(settings, claim, export, jobs)  # type: ignore[arg-type]
    if outcome == outcomes.ERASED and not problems:
        try:
            requests["erased"] = store.mark_erased(
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
        "requests": {"erased": 0, **requests},
        "export": _export_record(export),
        "dataset_groups": [group.as_record() for group in groups],
    }
    store.write_audit(run_id, now, outcome, record)
    log.info(
        "Erasure run %s: %s; %d request(s) erased, %d overdue",
        run_id,
        outcome,
        requests.get("erased", 0),
        requests.get("overdue", 0),
    )
    if outcome == outcomes.FAILED:
        raise ErasureRunFailedError(
            "Erasure run failed; its requests stay pending for the next run: " + "; ".join(problems)
        )
    return record


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
    read = {(job["datasetGroupArn"], job["dataSource"]["dataLocation"]) for job in jobs if not problems}
    if not problems and read != {(group, file) for group in settings.dataset_group_arns for file in files}:
        problems.append("the jobs do not cover every dataset group and deletion file exactly")
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
) -> dict[str, Any]:
    """
    Delete the run's deletion files (personal data) once none of its jobs may still read them.

    Files an earlier run had to keep (a job still running when it ended) are deleted here once
    they are older than ``stale_file_hours``, longer than any job takes, with the incomplete uploads
    of killed exports. Only objects the pipeline wrote are touched (see :mod:`.cleanup`), in the
    run's own folder too. A dry run deletes nothing.

    :param settings: the run's settings.
    :param claim: the run's claim.
    :param job_arns: the ARNs of the jobs the run created.
    :param describe: describes a job by ARN.
    :param s3_client: a boto3 S3 client.
    :param now: the current time (aware).
    :return: how many files were deleted, and why any of this run's were kept.
    """
    if settings.dry_run:
        return {"deleted": 0, "stale_deleted": 0, "uploads_aborted": 0, "kept": "dry run"}
    if not settings.cleanup_files:
        return {"deleted": 0, "stale_deleted": 0, "uploads_aborted": 0, "kept": "cleanup_files is off"}
    running = [arn for arn in job_arns if describe(arn)["status"] in INTERMEDIATE_STATES]
    run_prefix = claim.run_folder(settings) + "/"
    stale_before = now - timedelta(hours=settings.stale_file_hours)
    pattern = cleanup.deletion_file_key_pattern(settings.key_prefix)
    ours: list[str] = []
    stale: list[str] = []
    for item in cleanup.list_objects(s3_client, settings.bucket, settings.key_prefix + "/"):
        key = item["Key"]
        ours_now = key.startswith(run_prefix)
        if not pattern.fullmatch(key) or not (ours_now or item["LastModified"] < stale_before):
            continue
        if cleanup.has_deletion_file_metadata(s3_client, settings.bucket, key):
            (ours if ours_now else stale).append(key)
    if running:
        log.warning("Keeping this run's deletion files: %d job(s) may still read them", len(running))
        ours = []
    cleanup.delete_objects(s3_client, settings.bucket, ours + stale)
    aborted = abort_stale_multipart_uploads(
        s3_client, settings.bucket, settings.key_prefix + "/", stale_before, pattern
    )
    log.info(
        "Deleted %d deletion file(s) of this run and %d left by earlier runs under s3://%s/%s/; "
        "aborted %d incomplete upload(s)",
        len(ours),
        len(stale),
        settings.bucket,
        settings.key_prefix,
        aborted,
    )
    return {
        "deleted": len(ours),
        "stale_deleted": len(stale),
        "uploads_aborted": aborted,
        "kept": f"{len(running)} job(s) still running" if running else None,
    }


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
