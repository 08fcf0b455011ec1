"""
Describe again every job a ledger names, read-only (``personalize:DescribeDataDeletionJob``,
``personalize:DescribeDatasetExportJob``), and report what differs from the record.

A deletion job must still have its recorded dataset group, status, ``numDeleted``, creation time
and, once it ended, last update time; it must have read one of its run's deletion files, and have
been last updated before the record was appended; a record that marks requests erased must name
only COMPLETED jobs, and its deletion files. A dataset export job behind a verified dataset must be
ACTIVE and have exported that dataset.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from airflow_provider_personalize_deletion.ledger.chain import Record, VerificationError
from airflow_provider_personalize_deletion.ledger.record import DeletionJobClaim, ExportJobClaim

#: A deletion job in these states no longer changes.
_ENDED = ("COMPLETED", "FAILED")
#: The error codes of credentials that may not describe at all: no job can be checked.
_REFUSED = frozenset(
    {
        "AccessDeniedException",
        "AccessDenied",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
    }
)
#: The verification outcomes that rest on an export's files.
_EXPORTED_OUTCOMES = ("verified_absent", "found_again")


def check_claims(records: list[Record], personalize: Any) -> list[str]:
    """
    Every difference between what the records say of their jobs and what Personalize says now.

    :param records: the ledger's records (:func:`.chain.walk_chain`).
    :param personalize: a boto3 Personalize client.
    :raises VerificationError: the credentials may not describe the jobs (never reported as forgeries).
    """
    breaks: list[str] = []
    for record in records:
        if record.entry is None:
            continue
        where = f"record {record.sequence} (run {record.entry.run_id})"
        for job in record.entry.deletion_jobs:
            breaks += _deletion_job_breaks(personalize, job, where, record)
        for export in record.entry.export_jobs:
            breaks += _export_job_breaks(personalize, export, where)
    return breaks


def _deletion_job_breaks(personalize: Any, claim: DeletionJobClaim, where: str, record: Record) -> list[str]:
    try:
        job = personalize.describe_data_deletion_job(dataDeletionJobArn=claim.arn)["dataDeletionJob"]
    except ClientError as error:
        _raise_if_refused(error, "DescribeDataDeletionJob")
        return [f"{where}: the deletion job {claim.arn} cannot be described ({_code(error)}): forged?"]
    breaks = []
    erased = bool(record.entry and record.entry.request_ids)
    if erased and claim.status != "COMPLETED":
        breaks.append(f"{where} marks requests erased on the job {claim.arn}, recorded {claim.status}")
    if erased and not claim.data_locations:
        breaks.append(
            f"{where} marks requests erased on the job {claim.arn} without naming its deletion files"
        )
    if job.get("status") != claim.status:
        breaks.append(
            f"{where}: the deletion job {claim.arn} is {job.get('status')}, recorded {claim.status}"
        )
    if job.get("datasetGroupArn") != claim.dataset_group_arn:
        breaks.append(f"{where}: the deletion job {claim.arn} is not of {claim.dataset_group_arn}")
    location = (job.get("dataSource") or {}).get("dataLocation")
    if claim.data_locations and location not in claim.data_locations:
        breaks.append(
            f"{where}: the deletion job {claim.arn} read {location}, none of the record's deletion files"
        )
    if claim.status == "COMPLETED" and job.get("numDeleted") != claim.num_deleted:
        breaks.append(
            f"{where}: the deletion job {claim.arn} deleted {job.get('numDeleted')}, "
            f"recorded {claim.num_deleted}"
        )
    times = [("creationDateTime", claim.created)]
    if claim.status in _ENDED:
        times.append(("lastUpdatedDateTime", claim.last_updated))
    for name, recorded in times:
        if not _same_moment(job.get(name), recorded):
            breaks.append(
                f"{where}: the deletion job {claim.arn}'s {name} is {job.get(name)}, recorded {recorded}"
            )
    appended, updated = record.body.get("appended_at"), job.get("lastUpdatedDateTime")
    if isinstance(updated, datetime) and _later(updated, appended):
        breaks.append(
            f"{where}: the deletion job {claim.arn} was last updated at {updated.isoformat()}, after the "
            f"record was appended ({appended})"
        )
    return breaks


def _export_job_breaks(personalize: Any, claim: ExportJobClaim, where: str) -> list[str]:
    try:
        job = personalize.describe_dataset_export_job(datasetExportJobArn=claim.arn)["datasetExportJob"]
    except ClientError as error:
        _raise_if_refused(error, "DescribeDatasetExportJob")
        return [f"{where}: the dataset export job {claim.arn} cannot be described ({_code(error)}): forged?"]
    breaks = []
    if job.get("datasetArn") != claim.dataset_arn:
        breaks.append(f"{where}: the dataset export job {claim.arn} did not export {claim.dataset_arn}")
    if claim.outcome in _EXPORTED_OUTCOMES and job.get("status") != "ACTIVE":
        breaks.append(
            f"{where}: the dataset export job {claim.arn} behind '{claim.outcome}' is {job.get('status')}, "
            "not ACTIVE"
        )
    return breaks


def _same_moment(described: Any, recorded: str | None) -> bool:
    if described is None or recorded is None:
        return described is None and recorded is None
    try:
        return bool(described == datetime.fromisoformat(recorded))
    except (TypeError, ValueError):
        return False


def _later(moment: datetime, text: Any) -> bool:
    """Whether ``moment`` is after the aware ISO 8601 time ``text`` (never for a malformed one)."""
    try:
        other = datetime.fromisoformat(text)
        return other.tzinfo is not None and moment > other
    except (TypeError, ValueError):
        return False


def _raise_if_refused(error: ClientError, action: str) -> None:
    if _code(error) in _REFUSED:
        raise VerificationError(
            f"the credentials may not call personalize:{action} ({_code(error)}): no job was checked; "
            "--skip-jobs checks the chain alone"
        ) from error


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "error"))
