"""
Proof by dataset export: every dataset holding USER_ID of the selected dataset groups is exported, and
the export's CSV files are checked against the suppression list.

A suppressed user found again becomes a pending erasure request (source ``reappeared``, see
:mod:`.reappearance`). The outcome is one row per dataset group and dataset in a table of its own,
:data:`VERIFICATION_TABLE`: ``verified_absent``, ``found_again`` (a count, never an id) or
``not_verified`` with the reason. A dataset that could not be verified is never reported as clean.

The export files are personal data: they go to ``s3://<bucket>/<key_prefix>-verification/<run>/``,
a folder per run of this pipeline's own prefix, encrypted with the ``export_kms_key_arn`` setting's key
when set (else the bucket's default encryption, SSE-S3); a file S3 reports as unencrypted is not read
and its dataset is not verified. They are deleted once scanned, after a failure too; a later run
deletes what a killed run left there (by age), and never any other object.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_personalize_deletion.erasure.cleanup import delete_objects, list_objects
from airflow_provider_personalize_deletion.erasure.reappearance import Reappearance, add_reappeared_requests
from airflow_provider_personalize_deletion.erasure.settings import VARIABLE_PREFIX
from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore, sql_timestamp
from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from airflow_provider_personalize_deletion.transfers.sql_cursor import database_errors

#: The table of verification outcomes, one row per run, dataset group and dataset.
VERIFICATION_TABLE = "erasure_verification"
#: The dataset types that hold USER_ID and can be exported (Items and Actions hold none).
USER_DATASET_TYPES = ("INTERACTIONS", "USERS")
#: The dataset types that hold USER_ID but cannot be exported: recorded not verified, never left out.
UNEXPORTABLE_USER_DATASET_TYPES = ("ACTION_INTERACTIONS",)
#: A deletion job in one of these states is running on the group: an export would race it.
RUNNING_DELETION_STATES = ("PENDING", "IN_PROGRESS")

VERIFIED_ABSENT, FOUND_AGAIN, NOT_VERIFIED = "verified_absent", "found_again", "not_verified"
#: The reasons a dataset or group is not verified.
DELETION_RUNNING = "deletion running"
DELETION_DURING_EXPORT = "a deletion job ran during the export"
EXPORT_NOT_CREATED = "no export job was created"
NOT_EXPORTABLE = "the service cannot export this dataset type"
EXPORT_NOT_ENCRYPTED = "export files not encrypted at rest (S3 reports no server-side encryption); not read"
LEFT_OUT = "left out of the run's plan (an XCom written by hand?): not exported"
RESULTS_NOT_AUTHENTIC = "the scan's results failed their MAC check (an XCom written by hand?); not recorded"

_RUN_FOLDER_DIGITS = 16


def verification_prefix(key_prefix: str) -> str:
    """:param key_prefix: the erasure pipeline's ``key_prefix``; the verification's prefix is beside it."""
    return f"{key_prefix}-verification"


def run_folder(key_prefix: str, run_id: str) -> str:
    """
    The run's folder of export files: ``<key_prefix>-verification/<16 hex digits of the run id>/``.

    :param key_prefix: the erasure pipeline's ``key_prefix``.
    :param run_id: the DAG run's id.
    """
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:_RUN_FOLDER_DIGITS]
    return f"{verification_prefix(key_prefix)}/{digest}/"


@dataclass(frozen=True)
class DatasetVerification:
    """
    The outcome of one dataset (or of a whole group, ``dataset_arn`` empty, when none was exported).

    :param dataset_group_arn: the dataset group.
    :param dataset_arn: the dataset; empty for a group skipped as a whole.
    :param outcome: ``verified_absent``, ``found_again`` or ``not_verified``.
    :param users_found: suppressed users found in the export (records of distinct users, a count).
    :param requests_added: new pending requests (a user already pending gets none).
    :param export_job_arn: the dataset export job, if one was made.
    :param reason: why it is not verified (redacted), else empty.
    """

    dataset_group_arn: str
    dataset_arn: str
    outcome: str
    users_found: int = 0
    requests_added: int = 0
    export_job_arn: str = ""
    reason: str = ""


def results_mac(key: bytes, run_id: str, results: Iterable[DatasetVerification]) -> str:
    """
    A keyed MAC of a run's results (HMAC-SHA256 under the fingerprint key, apart from the user digests by
    its own domain): the scan hands its results on through an XCom, which whoever may write XComs
    controls; the record step recomputes the MAC and records nothing as verified unless it matches.

    :param key: the fingerprint key.
    :param run_id: the DAG run's id (a run's results are no other run's).
    :param results: the results, in order.
    """
    message = json.dumps([run_id, [asdict(result) for result in results]], sort_keys=True)
    return hmac.new(key, b"verification-results\x1f" + message.encode(), hashlib.sha256).hexdigest()


def authentic_results(key: bytes, run_id: str, handed_on: object) -> list[DatasetVerification] | None:
    """
    The results the scan handed on (``{"results": [...], "mac": ...}``), if their MAC matches.

    :param key: the fingerprint key.
    :param run_id: the DAG run's id.
    :param handed_on: the scan's XCom.
    :return: the results, or None for anything else (absent, malformed, or not what the scan made).
    """
    if not isinstance(handed_on, dict) or not isinstance(handed_on.get("results"), list):
        return None
    try:
        results = [DatasetVerification(**item) for item in handed_on["results"]]
    except TypeError:
        return None
    expected = results_mac(key, run_id, results)
    return results if hmac.compare_digest(str(handed_on.get("mac")), expected) else None


def plan_exports(
    groups: Iterable[str],
    list_datasets: Callable[[str], list[dict[str, Any]]],
    list_deletion_jobs: Callable[[str], Iterable[dict[str, Any]]],
    bucket: str,
    folder: str,
) -> tuple[list[dict[str, str]], list[DatasetVerification]]:
    """
    Choose what to export: each dataset holding USER_ID of each group where no deletion job runs. A
    dataset holding USER_ID that the service cannot export (Action interactions) is not verified.

    :param groups: the dataset groups' ARNs.
    :param list_datasets: lists a group's datasets (:meth:`~.PersonalizeHook.list_datasets`).
    :param list_deletion_jobs: lists a group's deletion jobs
        (:meth:`~.PersonalizeHook.list_data_deletion_jobs`).
    :param bucket: the bucket of the export files.
    :param folder: the run's folder (:func:`run_folder`).
    :return: the operator's arguments per dataset (``dataset_arn``, ``s3_path``), and the groups and
        datasets skipped.
    """
    exports: list[dict[str, str]] = []
    skipped: list[DatasetVerification] = []
    for group in groups:
        if any(job["status"] in RUNNING_DELETION_STATES for job in list_deletion_jobs(group)):
            skipped.append(DatasetVerification(group, "", NOT_VERIFIED, reason=DELETION_RUNNING))
            continue
        for dataset in list_datasets(group):
            dataset_type, arn = str(dataset.get("datasetType", "")).upper(), dataset["datasetArn"]
            if dataset_type in USER_DATASET_TYPES:
                exports.append({"dataset_arn": arn, "s3_path": dataset_path(bucket, folder, arn)})
            elif dataset_type in UNEXPORTABLE_USER_DATASET_TYPES:
                skipped.append(DatasetVerification(group, arn, NOT_VERIFIED, reason=NOT_EXPORTABLE))
    return exports, skipped


def left_out_datasets(
    groups: Iterable[str],
    list_datasets: Callable[[str], list[dict[str, Any]]],
    results: Iterable[DatasetVerification],
) -> list[DatasetVerification]:
    """
    The datasets holding USER_ID of the selected groups that have no outcome: the plan reached the
    export through an XCom, which whoever may write XComs controls, so a dataset left out of it is
    recorded not verified here, never passed over (its group would look clean).

    :param groups: the run's dataset groups (from its settings, not from an XCom).
    :param list_datasets: lists a group's datasets (:meth:`~.PersonalizeHook.list_datasets`).
    :param results: the outcomes so far (a group skipped as a whole covers its datasets).
    :return: one not-verified outcome per dataset left out.
    """
    results = list(results)
    covered = {result.dataset_arn for result in results if result.dataset_arn}
    whole_groups = {result.dataset_group_arn for result in results if not result.dataset_arn}
    left_out: list[DatasetVerification] = []
    for group in groups:
        if group in whole_groups:
            continue
        for dataset in list_datasets(group):
            dataset_type, arn = str(dataset.get("datasetType", "")).upper(), dataset["datasetArn"]
            holds_users = dataset_type in USER_DATASET_TYPES + UNEXPORTABLE_USER_DATASET_TYPES
            if holds_users and arn not in covered:
                left_out.append(DatasetVerification(group, arn, NOT_VERIFIED, reason=LEFT_OUT))
    return left_out


def dataset_path(bucket: str, folder: str, dataset_arn: str) -> str:
    """The ``s3://`` folder of one dataset's export: the run's folder, then 12 hex digits of its ARN."""
    return f"s3://{bucket}/{folder}{hashlib.sha256(dataset_arn.encode()).hexdigest()[:12]}/"


def deletion_overlaps(export_job: Mapping[str, Any], deletion_jobs: Iterable[Mapping[str, Any]]) -> bool:
    """
    Whether a deletion job of the group ran while the export ran: a user caught mid-deletion is not a
    reappearance, and one deleted after the export is gone.

    :param export_job: the export's description (``creationDateTime``, ``lastUpdatedDateTime``).
    :param deletion_jobs: the group's deletion job summaries.
    """
    start, end = export_job["creationDateTime"], export_job["lastUpdatedDateTime"]
    return any(
        job["creationDateTime"] <= end
        and (job["status"] in RUNNING_DELETION_STATES or job["lastUpdatedDateTime"] >= start)
        for job in deletion_jobs
    )


def scan_dataset(
    export_job: Mapping[str, Any],
    dataset_group_arn: str,
    s3_path: str,
    scan: Callable[[str, Callable[[Any, bytes], None]], Any],
    store: ErasureRequestStore,
    found_at: datetime,
) -> DatasetVerification:
    """
    Scan an ACTIVE export's files and hand the suppressed users found to the reappearance intake.

    :param export_job: the ACTIVE export job's description.
    :param dataset_group_arn: its dataset group.
    :param s3_path: the export's folder (checked by the caller to be the run's).
    :param scan: scans a location, calling its second argument per match (:func:`.scan.scan_source`).
    :param store: the request store.
    :param found_at: when the export ended.
    """
    found: dict[str, None] = {}
    scan(s3_path, lambda _item, user_id: found.setdefault(user_id.decode("utf-8"), None))
    added = 0
    if found:
        where = Reappearance(dataset_group_arn, export_job["datasetArn"], export_job["datasetExportJobArn"])
        added = add_reappeared_requests(store, found, where, found_at)["added"]
    return DatasetVerification(
        dataset_group_arn,
        export_job["datasetArn"],
        FOUND_AGAIN if found else VERIFIED_ABSENT,
        users_found=len(found),
        requests_added=added,
        export_job_arn=export_job["datasetExportJobArn"],
    )


def verification_table_ddl(table: str = VERIFICATION_TABLE) -> str:
    """The statement that creates the verification table if missing (portable SQL)."""
    return f"""CREATE TABLE IF NOT EXISTS {table} (
        run_id VARCHAR(250) NOT NULL,
        recorded_at TIMESTAMP NOT NULL,
        dataset_group_arn VARCHAR(256) NOT NULL,
        dataset_arn VARCHAR(256) NOT NULL,
        outcome VARCHAR(32) NOT NULL,
        users_found INTEGER NOT NULL,
        requests_added INTEGER NOT NULL,
        export_job_arn VARCHAR(256) NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (run_id, dataset_group_arn, dataset_arn)
    )"""


def require_verification_table(store: ErasureRequestStore, table: str = VERIFICATION_TABLE) -> None:
    """
    With ``create_tables`` off, refuse a run whose verification table is missing, before any export.

    :param store: the request store (its warehouse connection).
    :param table: the verification table.
    :raises PersonalizeValidationError: naming the setting and the table.
    """
    if not database_errors("Looking up the verification table")(store.has_table)(table):
        raise PersonalizeValidationError(
            "create_tables",
            f"is false (Variable {VARIABLE_PREFIX}create_tables), and the warehouse has no table {table}: "
            'create it with the statement under "Creating the tables yourself" in the README, or set the '
            "Variable to true; nothing was exported",
        )


@database_errors("Writing the verification record")
def record_verification(
    store: ErasureRequestStore,
    run_id: str,
    recorded_at: datetime,
    results: Iterable[DatasetVerification],
    table: str = VERIFICATION_TABLE,
    create_table: bool = True,
) -> None:
    """
    Replace the run's rows of the verification table with these results, in one transaction.

    :param store: the request store (its warehouse connection).
    :param run_id: the DAG run's id.
    :param recorded_at: when the record is made (the verification's time).
    :param results: one per dataset or skipped group.
    :param table: the verification table.
    :param create_table: create the table when missing (the setting ``create_tables``); off, no DDL is
        issued (the deployment created it: :func:`require_verification_table` checked it first).
    """
    p = store.hook.placeholder
    connection = store.hook.get_conn()
    try:
        cursor = connection.cursor()
        if create_table:
            cursor.execute(verification_table_ddl(table))
        cursor.execute(f"DELETE FROM {table} WHERE run_id = {p}", (run_id,))
        for result in results:
            values = asdict(result)
            cursor.execute(
                f"INSERT INTO {table} (run_id, recorded_at, {', '.join(values)}) "
                f"VALUES ({', '.join([p] * (len(values) + 2))})",
                (run_id, sql_timestamp(recorded_at), *values.values()),
            )
        connection.commit()
    finally:
        connection.close()


def stale_folder_pattern(key_prefix: str) -> re.Pattern[str]:
    """The keys a verification run writes under: its prefix, then a run folder of 16 hex digits."""
    return re.compile(re.escape(verification_prefix(key_prefix)) + r"/[0-9a-f]{16}/")


def delete_export_files(
    s3_client: Any, bucket: str, key_prefix: str, run_id: str, now: datetime, stale_hours: int
) -> dict[str, int]:
    """
    Delete this run's export files, and what earlier runs left (older than ``stale_hours``).

    Only keys of the verification's own prefix with a run folder's exact shape are deleted: the run's
    folder whatever their age, another run's folder once older than ``stale_hours`` (a running export
    of a concurrent run is younger); any other object under the prefix is left alone.

    :param s3_client: a boto3 S3 client.
    :param bucket: the bucket of the export files.
    :param key_prefix: the erasure pipeline's ``key_prefix``.
    :param run_id: the DAG run's id.
    :param now: the current time (aware).
    :param stale_hours: age after which another run's files are deleted.
    :return: ``deleted`` (this run's) and ``stale_deleted`` (earlier runs'), counts only.
    """
    own = run_folder(key_prefix, run_id)
    shape = stale_folder_pattern(key_prefix)
    oldest = now - timedelta(hours=stale_hours)
    mine: list[str] = []
    stale: list[str] = []
    for item in list_objects(s3_client, bucket, verification_prefix(key_prefix) + "/"):
        key = item["Key"]
        if key.startswith(own):
            mine.append(key)
        elif shape.match(key) and item["LastModified"] < oldest:
            stale.append(key)
    delete_objects(s3_client, bucket, mine + stale)
    return {"deleted": len(mine), "stale_deleted": len(stale)}
