"""
The steps of an erasure run, one function per task of ``dags/personalize_gdpr_erasure.py``.

Each step takes plain values (the DAG run's params and the earlier steps' JSON results) and returns
plain JSON that holds no user id: counts, fingerprints, ARNs, timings.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_personalize_deletion.deletion_file.user_ids import invalid_reason
from airflow_provider_personalize_deletion.erasure import outcome as outcomes
from airflow_provider_personalize_deletion.erasure.settings import ErasureSettings, resolve_settings
from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore, batch_key
from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from airflow_provider_personalize_deletion.hooks.personalize import INTERMEDIATE_STATES

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
) -> dict[str, Any]:
    """
    Resolve the settings, register ad-hoc requests, set aside invalid ones, report overdue ones, claim.

    Each try claims under its own key, and so exports to its own S3 folder: a cleared run claims
    what is pending now, and its jobs (named after their input) are new ones.

    :param params: the DAG run's params; ``user_ids`` (optional) are erased ad hoc.
    :param run_id: the DAG run's id.
    :param try_number: the collect task's try number.
    :param now: the current time (aware).
    :param store_for: opens the request store of the settings' warehouse.
    :param get_variable: returns an Airflow Variable's value, or None.
    :return: the settings, the claim, the export query and the request counts.
    """
    settings = resolve_settings(params, get_variable)
    ad_hoc = _checked_user_ids(params.get("user_ids") or [])
    store = store_for(settings)
    store.create_tables()
    key = batch_key(f"{run_id}#{try_number}")
    added = store.add_requests(ad_hoc, f"ad-hoc:{batch_key(run_id)[:12]}", now) if ad_hoc else 0
    rejected = dict(store.reject_invalid(invalid_reason))
    if rejected:
        log.warning(
            "Set aside %d erasure request(s) whose user id Personalize cannot hold (%s): status 'rejected'",
            sum(rejected.values()),
            rejected,
        )
    overdue = store.count_overdue(now - timedelta(days=settings.overdue_days))
    pending = store.count_pending()
    claimed = 0 if settings.dry_run else store.claim_pending(key)
    if overdue:
        log.warning(
            "%d pending erasure request(s) are older than %d days, the GDPR deadline",
            overdue,
            settings.overdue_days,
        )
    log.info(
        "%d pending erasure request(s) (%d added ad hoc); %d claimed by this run%s",
        pending,
        added,
        claimed,
        " (dry run: nothing claimed)" if settings.dry_run else "",
    )
    return {
        "settings": settings.as_dict(),
        "batch_key": key,
        "export_sql": store.export_sql(key),
        "s3_key_prefix": f"{settings.key_prefix}/{key[:16]}",
        "collected_at": now.isoformat(),
        "requests": {
            "pending": pending,
            "claimed": claimed,
            "overdue": overdue,
            "added_ad_hoc": added,
            "rejected": rejected,
        },
    }


def plan_deletion_jobs(collected: Mapping[str, Any], export: Mapping[str, Any]) -> list[dict[str, Any]]:
    """
    One data deletion job per dataset group and deletion file: the create task's mapped arguments.

    :param collected: the result of :func:`collect_erasure_requests`.
    :param export: the transfer's summary.
    """
    settings = ErasureSettings.from_dict(collected["settings"])
    return [
        {
            "dataset_group_arn": group,
            "data_location": location,
            "role_arn": settings.role_arn,
            "aws_conn_id": settings.aws_conn_id,
            "tags": {"purpose": "gdpr-erasure", "erasure-batch": collected["batch_key"][:16]},
        }
        for group in settings.dataset_group_arns
        for location in export["data_locations"]
    ]


def record_erasure(
    collected: Mapping[str, Any],
    export: Mapping[str, Any] | None,
    job_arns: Iterable[str],
    describe: Describe,
    store: ErasureRequestStore,
    run_id: str,
    now: datetime,
) -> dict[str, Any]:
    """
    Mark the claimed requests erased if, and only if, every dataset group's jobs COMPLETED; audit the run.

    :param collected: the result of :func:`collect_erasure_requests`.
    :param export: the transfer's summary; None when it wrote no file (skipped or failed).
    :param job_arns: the ARNs of the jobs the run created.
    :param describe: describes a job by ARN.
    :param store: the request store.
    :param run_id: the DAG run's id.
    :param now: the current time (aware).
    :return: the audit record.
    :raises ErasureRunFailedError: after writing the audit record, when any group was not erased.
    """
    settings = ErasureSettings.from_dict(collected["settings"])
    requests = dict(collected["requests"])
    groups = outcomes.group_outcomes(
        settings.dataset_group_arns,
        export["file_count"] if export else 0,
        [describe(arn) for arn in job_arns],
    )
    outcome, problems = _decide(settings, requests, export, groups)
    if outcome == outcomes.ERASED:
        requests["erased"] = store.mark_erased(collected["batch_key"], now, outcomes.erasure_record(groups))
    record = {
        "run_id": run_id,
        "outcome": outcome,
        "problems": problems,
        "dry_run": settings.dry_run,
        "collected_at": collected["collected_at"],
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
        record["requests"]["erased"],
        requests["overdue"],
    )
    if outcome == outcomes.FAILED:
        raise ErasureRunFailedError(
            "Erasure run failed; its requests stay pending for the next run: " + "; ".join(problems)
        )
    return record


def delete_deletion_files(
    collected: Mapping[str, Any],
    job_arns: Iterable[str],
    describe: Describe,
    s3_client: Any,
    now: datetime,
) -> dict[str, Any]:
    """
    Delete the run's deletion files (personal data) once none of its jobs may still read them.

    Files an earlier run had to keep (a job still running when it ended) are deleted here once
    they are older than ``stale_file_hours``, longer than any job takes.

    :param collected: the result of :func:`collect_erasure_requests`.
    :param job_arns: the ARNs of the jobs the run created.
    :param describe: describes a job by ARN.
    :param s3_client: a boto3 S3 client.
    :param now: the current time (aware).
    :return: how many files were deleted, and why any of this run's were kept.
    """
    settings = ErasureSettings.from_dict(collected["settings"])
    if not settings.cleanup_files:
        return {"deleted": 0, "stale_deleted": 0, "kept": "cleanup_files is off"}
    running = [arn for arn in job_arns if describe(arn)["status"] in INTERMEDIATE_STATES]
    run_prefix = collected["s3_key_prefix"] + "/"
    stale_before = now - timedelta(hours=settings.stale_file_hours)
    ours, stale = [], []
    for item in _objects(s3_client, settings.bucket, settings.key_prefix + "/"):
        if item["Key"].startswith(run_prefix):
            ours.append(item["Key"])
        elif item["LastModified"] < stale_before:
            stale.append(item["Key"])
    if running:
        log.warning("Keeping this run's deletion files: %d job(s) may still read them", len(running))
        ours = []
    _delete(s3_client, settings.bucket, ours + stale)
    log.info(
        "Deleted %d deletion file(s) of this run and %d left by earlier runs under s3://%s/%s/",
        len(ours),
        len(stale),
        settings.bucket,
        settings.key_prefix,
    )
    return {
        "deleted": len(ours),
        "stale_deleted": len(stale),
        "kept": f"{len(running)} job(s) still running" if running else None,
    }


def _objects(s3_client: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def _delete(s3_client: Any, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        s3_client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


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
    settings: ErasureSettings,
    requests: Mapping[str, int],
    export: Mapping[str, Any] | None,
    groups: list[outcomes.GroupOutcome],
) -> tuple[str, list[str]]:
    if settings.dry_run:
        return outcomes.DRY_RUN, []
    if not requests["claimed"]:
        return outcomes.NOTHING_TO_ERASE, []
    if export is None:
        return outcomes.FAILED, ["no deletion file was exported (see the export_user_ids task)"]
    problems = [group.problem for group in groups if group.problem]
    return (outcomes.FAILED, problems) if problems else (outcomes.ERASED, [])


def _export_record(export: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if export is None:
        return None
    keep = ("id_count", "file_count", "duplicates", "skipped", "fingerprint", "data_locations")
    return {key: export.get(key) for key in keep}
