"""
The verification DAG's steps: the Airflow side of :mod:`.verification` (settings, hooks, XComs).

Imported at run time only. Every step resolves the settings and the dataset groups itself (trigger
form, then the erasure pipeline's Variables, then defaults); the run's folder is computed from the run
id, never read from an XCom, and no step reads or deletes outside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_personalize_deletion.erasure import runtime
from airflow_provider_personalize_deletion.erasure.columns import DETAILS_COLUMN, require_columns
from airflow_provider_personalize_deletion.erasure.settings import (
    ErasureSettings,
    resolve_settings,
    select_dataset_groups,
)
from airflow_provider_personalize_deletion.erasure.suppression import SuppressionList
from airflow_provider_personalize_deletion.erasure.verification import (
    DELETION_DURING_EXPORT,
    EXPORT_NOT_CREATED,
    EXPORT_NOT_ENCRYPTED,
    NOT_VERIFIED,
    RESULTS_NOT_AUTHENTIC,
    DatasetVerification,
    authentic_results,
    dataset_path,
    delete_export_files,
    deletion_overlaps,
    left_out_datasets,
    plan_exports,
    record_verification,
    require_verification_table,
    results_mac,
    run_folder,
    scan_dataset,
)
from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError

#: The trigger form's only field: the same dataset group selector as the erasure DAG's.
FORM_FIELDS = ("dataset_group_arns",)
PLAN_TASK = "plan_dataset_exports"
EXPORT_TASK = "export_dataset"
FIND_TASK = "find_erased_users_in_exports"
#: XCom key of the groups the plan skipped (ARNs and reasons only).
SKIPPED_XCOM_KEY = "not_verified"


def verification_settings(params: Mapping[str, Any], conf: Mapping[str, Any] | None) -> ErasureSettings:
    """
    The run's settings with its dataset groups resolved now (a selector is listed again).

    :param params: the DAG run's params.
    :param conf: the DAG run's conf: only :data:`FORM_FIELDS` may be set.
    :raises PersonalizeValidationError: naming the field and the rule.
    """
    unknown = sorted(str(key) for key in (conf or {}) if key not in FORM_FIELDS)
    if unknown:
        raise PersonalizeValidationError(
            "conf", f"the run's conf may only hold dataset_group_arns; refused key(s): {', '.join(unknown)}"
        )
    settings = resolve_settings({name: params.get(name) for name in FORM_FIELDS}, runtime.get_variable)
    return select_dataset_groups(settings, runtime.groups_lister(settings))


def check_suppression_list(settings: ErasureSettings) -> dict[str, int]:
    """
    Fail loudly, before any export, unless every entry of the suppression list was made with the key and
    the requests table can take the requests of users found again (its ``details`` column, added here
    to a table of 0.2 when ``create_tables`` is on).

    :param settings: the run's settings.
    :return: ``dataset_groups`` and ``suppressed_users``, counts.
    :raises SuppressionKeyError: entries of another key (a rotated or lost key): nothing is exported.
    :raises MissingColumnError: the requests table has no ``details`` column: nothing is exported.
    :raises PersonalizeValidationError: ``create_tables`` is off and the verification table is missing.
    """
    from airflow_provider_personalize_deletion.utils.fingerprint_key import fingerprint_key

    store = runtime.request_store(settings)
    require_columns(store, may_alter=settings.create_tables, needed={DETAILS_COLUMN})
    if not settings.create_tables:
        require_verification_table(store)
    suppression = _suppression_list(settings)
    suppression.check_key(fingerprint_key())
    entries = sum(suppression.key_counts().values())
    return {"dataset_groups": len(settings.dataset_group_arns), "suppressed_users": entries}


def plan_dataset_exports(settings: ErasureSettings, run_id: str, ti: Any) -> list[dict[str, Any]]:
    """
    The export operator's arguments per dataset holding USER_ID (with ``kms_key_arn`` when the setting
    ``export_kms_key_arn`` is set); groups with a deletion job running, and datasets the service cannot
    export, are skipped (pushed as XCom ``not_verified``).

    :param settings: the run's settings.
    :param run_id: the DAG run's id.
    :param ti: the running task instance.
    """
    hook = _hook(settings)
    exports, skipped = plan_exports(
        settings.dataset_group_arns,
        hook.list_datasets,
        hook.list_data_deletion_jobs,
        settings.bucket,
        run_folder(settings.key_prefix, run_id),
    )
    ti.xcom_push(key=SKIPPED_XCOM_KEY, value=[asdict(item) for item in skipped])
    return [export_arguments(settings, run_id, item["dataset_arn"]) for item in exports]


def export_arguments(settings: ErasureSettings, run_id: str, dataset_arn: str) -> dict[str, str]:
    """
    The export operator's arguments for one dataset: its folder under the run's, the pipeline's role
    and connection, and the export KMS key when one is set.

    :param settings: the run's settings.
    :param run_id: the DAG run's id.
    :param dataset_arn: the dataset to export.
    """
    folder = run_folder(settings.key_prefix, run_id)
    arguments = {
        "dataset_arn": dataset_arn,
        "s3_path": dataset_path(settings.bucket, folder, dataset_arn),
        "role_arn": settings.role_arn,
        "aws_conn_id": settings.aws_conn_id,
    }
    if settings.export_kms_key_arn:
        arguments["kms_key_arn"] = settings.export_kms_key_arn
    return arguments


def check_export_arguments(settings: ErasureSettings, run_id: str, given: Mapping[str, Any]) -> None:
    """
    Refuse export arguments other than the plan's (they are mapped from an XCom, which whoever may write
    XComs controls): no dataset's records go anywhere but the run's folder, by the pipeline's role and
    connection, and only a selected group's dataset is exported.

    :param settings: the run's settings.
    :param run_id: the DAG run's id.
    :param given: the export task's ``dataset_arn``, ``s3_path``, ``role_arn``, ``aws_conn_id`` and
        ``kms_key_arn``.
    :raises AirflowFailException: naming the arguments that differ, before any AWS call.
    """
    expected = export_arguments(settings, run_id, str(given.get("dataset_arn")))
    differ = sorted(name for name, value in expected.items() if given.get(name) != value)
    if (
        not differ
        and _hook(settings).dataset_group_of(expected["dataset_arn"]) not in settings.dataset_group_arns
    ):
        differ = ["dataset_arn (not a dataset of a selected group)"]
    if differ:
        raise AirflowFailException(
            f"Invalid export argument(s) {', '.join(differ)}: not what the plan makes of the settings and "
            "the run id (an XCom written by hand?); nothing was exported"
        )


def find_erased_users_in_exports(
    settings: ErasureSettings, run_id: str, ti: Any, now: datetime
) -> dict[str, Any]:
    """
    Check each export against the suppression list (its key checked first) and hand the users found to
    the reappearance intake.

    :param settings: the run's settings.
    :param run_id: the DAG run's id.
    :param ti: the running task instance.
    :param now: the current time (aware).
    :return: ``results``, one :class:`.DatasetVerification` (a dict: counts and ARNs) per dataset and
        skipped group, and ``mac``, their :func:`.results_mac` (checked by the record step).
    :raises SuppressionKeyError: the list holds entries of another key: no request is made.
    """
    from airflow_provider_personalize_deletion.operators.dataset_export import EXPORT_JOB_XCOM_KEY
    from airflow_provider_personalize_deletion.scan.scan import scan_source
    from airflow_provider_personalize_deletion.scan.source import S3Source
    from airflow_provider_personalize_deletion.scan.suppressed import SuppressedUsers
    from airflow_provider_personalize_deletion.utils.fingerprint_key import fingerprint_key

    key = fingerprint_key()
    suppressed = SuppressedUsers(key, _suppression_list(settings).digests(key))
    planned = ti.xcom_pull(task_ids=PLAN_TASK) or []
    arns = ti.xcom_pull(task_ids=EXPORT_TASK, key=EXPORT_JOB_XCOM_KEY, map_indexes=list(range(len(planned))))
    if len(planned) == 1 and not isinstance(arns, list):
        arns = [arns]
    hook, s3, store = _hook(settings), runtime.s3_client(settings), runtime.request_store(settings)
    own = f"s3://{settings.bucket}/{run_folder(settings.key_prefix, run_id)}"

    def scan(path: str, on_match: Any) -> Any:
        return scan_source(S3Source(s3, path, require_encryption=True), suppressed, on_match)

    results = _skipped_groups(ti)
    for item, arn in zip(planned, arns or [None] * len(planned), strict=True):
        group = hook.client.describe_dataset(datasetArn=item["dataset_arn"])["dataset"]["datasetGroupArn"]
        results.append(_verify_dataset(hook, scan, store, group, item, arn, own, now))
    return {"results": [asdict(result) for result in results], "mac": results_mac(key, run_id, results)}


def _verify_dataset(
    hook: Any,
    scan: Any,
    store: Any,
    group: str,
    item: Mapping[str, str],
    arn: str | None,
    own: str,
    now: datetime,
) -> DatasetVerification:
    """One dataset's outcome; every way it cannot be checked is ``not_verified`` with the reason."""
    from botocore.exceptions import ClientError

    from airflow_provider_personalize_deletion.scan.errors import UnencryptedObjectError
    from airflow_provider_personalize_deletion.utils.redaction import redact_failure_reason

    dataset = item["dataset_arn"]
    if not item["s3_path"].startswith(own):
        return DatasetVerification(
            group, dataset, NOT_VERIFIED, reason="export path outside the run's folder"
        )
    if not arn:
        return DatasetVerification(group, dataset, NOT_VERIFIED, reason=EXPORT_NOT_CREATED)
    job = hook.describe_dataset_export_job(arn)
    if job["status"] != "ACTIVE":
        reason = redact_failure_reason(job.get("failureReason")) or "no failureReason given"
        why = f"export {job['status']}: {reason}" if "FAILED" in job["status"] else f"export {job['status']}"
        return DatasetVerification(group, dataset, NOT_VERIFIED, export_job_arn=arn, reason=why)
    if deletion_overlaps(job, hook.list_data_deletion_jobs(group)):
        return DatasetVerification(
            group, dataset, NOT_VERIFIED, export_job_arn=arn, reason=DELETION_DURING_EXPORT
        )
    try:
        return scan_dataset(job, group, item["s3_path"], scan, store, now)
    except UnencryptedObjectError:
        return DatasetVerification(
            group, dataset, NOT_VERIFIED, export_job_arn=arn, reason=EXPORT_NOT_ENCRYPTED
        )
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code not in ("AccessDenied", "403"):
            raise
        reason = "access denied reading the export files"
        return DatasetVerification(group, dataset, NOT_VERIFIED, export_job_arn=arn, reason=reason)


def record_the_verification(settings: ErasureSettings, run_id: str, ti: Any, now: datetime) -> dict[str, int]:
    """
    Write the run's outcome per dataset group and dataset; fail the run when any could not be verified.

    The outcomes are the scan's only if its XCom carries their MAC under the fingerprint key
    (:func:`.authentic_results`); else every dataset planned is recorded not verified. A dataset holding
    USER_ID of a selected group with no outcome (left out of the plan's XCom) is recorded not verified.

    :param settings: the run's settings.
    :param run_id: the DAG run's id.
    :param ti: the running task instance.
    :param now: the verification's time.
    :return: counts per outcome, and ``users_found``.
    :raises AirflowFailException: a dataset or group was not verified (its reason is on record), or the
        groups have no dataset holding USER_ID.
    """
    from airflow_provider_personalize_deletion.utils.fingerprint_key import fingerprint_key

    found = ti.xcom_pull(task_ids=FIND_TASK)
    authentic = authentic_results(fingerprint_key(), run_id, found)
    if authentic is not None:
        results = authentic
    else:  # the scan did not finish, or its XCom is not what it handed on: nothing planned is verified
        why = f"{FIND_TASK} did not finish" if found is None else RESULTS_NOT_AUTHENTIC
        results = _skipped_groups(ti) + [
            DatasetVerification("", item["dataset_arn"], NOT_VERIFIED, reason=why)
            for item in ti.xcom_pull(task_ids=PLAN_TASK) or []
        ]
    results += left_out_datasets(settings.dataset_group_arns, _hook(settings).list_datasets, results)
    record_verification(
        runtime.request_store(settings), run_id, now, results, create_table=settings.create_tables
    )
    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    counts["users_found"] = sum(result.users_found for result in results)
    if not results:
        raise AirflowFailException(
            "The selected dataset groups have no dataset holding USER_ID (Interactions or Users): nothing "
            "was exported, so nothing is verified. Create those datasets, or select the groups that have "
            "them (the Variable personalize_erasure_dataset_group_arns or the run's dataset_group_arns)"
        )
    if counts.get(NOT_VERIFIED):
        raise AirflowFailException(
            f"{counts.get(NOT_VERIFIED, 0)} dataset(s) or group(s) could not be verified (reasons in the "
            f"verification table); {counts['users_found']} suppressed user(s) found in the others"
        )
    return counts


def delete_verification_files(settings: ErasureSettings, run_id: str, now: datetime) -> dict[str, int]:
    """
    Delete the run's export files, and those earlier runs left (older than ``stale_file_hours``).

    :param settings: the run's settings.
    :param run_id: the DAG run's id.
    :param now: the current time (aware).
    """
    return delete_export_files(
        runtime.s3_client(settings),
        settings.bucket,
        settings.key_prefix,
        run_id,
        now,
        settings.stale_file_hours,
    )


def _skipped_groups(ti: Any) -> list[DatasetVerification]:
    """The plan's skipped groups and datasets, never verified whatever their XCom says."""
    return [
        DatasetVerification(
            str(item.get("dataset_group_arn", "")),
            str(item.get("dataset_arn", "")),
            NOT_VERIFIED,
            reason=str(item.get("reason", "")),
        )
        for item in ti.xcom_pull(task_ids=PLAN_TASK, key=SKIPPED_XCOM_KEY) or []
    ]


def _hook(settings: ErasureSettings) -> Any:
    from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook

    return PersonalizeHook(aws_conn_id=settings.aws_conn_id)


def _suppression_list(settings: ErasureSettings) -> SuppressionList:
    return SuppressionList(runtime.request_store(settings).hook, settings.suppression_table)
