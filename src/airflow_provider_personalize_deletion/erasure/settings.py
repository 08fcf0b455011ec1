"""
What an erasure run works on: the trigger form's fields, then Airflow Variables, then documented defaults.

Only the fields of the trigger form (:data:`FORM_FIELDS`) may come from a run's conf. Where the data
goes and comes from (bucket, prefix, connections, tables) and the bounds of the run (``overdue_days``,
``stale_file_hours``) come from Variables and defaults only: a run's conf naming any other key is
refused before the run touches anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from airflow_provider_personalize_deletion.transfers.parameters import (
    InvalidTransferParameterError,
    check_bucket_name,
    check_key_prefix,
)
from airflow_provider_personalize_deletion.utils.service_model import (
    validate_member,
)

#: Airflow Variables are named ``personalize_erasure_<setting>``.
VARIABLE_PREFIX = "personalize_erasure_"

#: The trigger form's fields: the only keys a run's conf may hold.
FORM_FIELDS = ("dataset_group_arns", "user_ids", "dry_run", "cleanup_files", "role_arn")

#: Defaults of the settings a Variable (or, for :data:`FORM_FIELDS`, the trigger form) may override.
DEFAULTS: dict[str, Any] = {
    "warehouse_conn_id": "personalize_erasure_warehouse",
    "aws_conn_id": "aws_default",
    "dataset_group_arns": [],
    "role_arn": "",
    "bucket": "personalize-erasure",
    "key_prefix": "erasure-runs",
    "requests_table": "erasure_requests",
    "audit_table": "erasure_audit",
    "dry_run": False,
    "cleanup_files": True,
    "overdue_days": 30,
    "stale_file_hours": 48,
}


#: The transfer's argument names of the settings it checks.
_TRANSFER_FIELDS = {"s3_bucket": "bucket", "s3_key_prefix": "key_prefix"}


@dataclass(frozen=True)
class ErasureSettings:
    """
    The resolved, validated settings of one erasure run. Holds no personal data.

    :param warehouse_conn_id: common-sql connection of the erasure requests table.
    :param aws_conn_id: AWS connection for S3 and Personalize.
    :param dataset_group_arns: every dataset group the users are erased from.
    :param role_arn: IAM role Personalize assumes to read the deletion files.
    :param bucket: S3 bucket of the deletion files (SSE-S3, never a customer KMS key).
    :param key_prefix: folder under which each run writes its files.
    :param requests_table: table of erasure requests.
    :param audit_table: table of audit records.
    :param dry_run: count and report only: no file, no job, nothing marked.
    :param cleanup_files: delete the run's deletion files once its jobs ended.
    :param overdue_days: age after which a pending request is reported overdue (GDPR: 30 days).
    :param stale_file_hours: age after which deletion files an earlier run kept are deleted.
    """

    warehouse_conn_id: str
    aws_conn_id: str
    dataset_group_arns: tuple[str, ...]
    role_arn: str
    bucket: str
    key_prefix: str
    requests_table: str
    audit_table: str
    dry_run: bool
    cleanup_files: bool
    overdue_days: int
    stale_file_hours: int

    def as_dict(self) -> dict[str, Any]:
        """The settings as plain JSON, for XCom."""
        values = asdict(self)
        values["dataset_group_arns"] = list(self.dataset_group_arns)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ErasureSettings:
        """:param values: what :meth:`as_dict` returned."""
        return cls(**{**values, "dataset_group_arns": tuple(values["dataset_group_arns"])})


def check_conf(conf: Mapping[str, Any] | None) -> None:
    """
    Refuse a run whose conf holds keys that are not trigger form fields (they would become params).

    :param conf: the DAG run's conf.
    :raises PersonalizeValidationError: naming the keys (never their values).
    """
    unknown = sorted(str(key) for key in (conf or {}) if key not in FORM_FIELDS)
    if unknown:
        raise PersonalizeValidationError(
            "conf",
            f"the run's conf may only hold the trigger form's fields ({', '.join(FORM_FIELDS)}); "
            f"refused key(s): {', '.join(unknown)}. Set the other settings with the Variables "
            f"{VARIABLE_PREFIX}<setting>",
        )


def resolve_settings(params: Mapping[str, Any], get_variable: Callable[[str], Any | None]) -> ErasureSettings:
    """
    Resolve and validate the settings: a non-empty form field wins, then the Variable, then the default.

    Params that are not form fields are ignored: :func:`check_conf` refuses them in the run's conf.

    :param params: the DAG run's params.
    :param get_variable: returns a Variable's (JSON-decoded) value, or None when not set.
    :raises PersonalizeValidationError: naming the setting and the rule, before any AWS call.
    """
    values: dict[str, Any] = {}
    for name, default in DEFAULTS.items():
        value = params.get(name) if name in FORM_FIELDS else None
        if value in (None, "", []):
            value = get_variable(VARIABLE_PREFIX + name)
        values[name] = default if value in (None, "", []) else value
    settings = ErasureSettings(
        **{**values, "dataset_group_arns": tuple(dict.fromkeys(_as_list(values["dataset_group_arns"])))}
    )
    _validate(settings)
    return settings


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]
    return list(value)


def _validate(settings: ErasureSettings) -> None:
    if not settings.dataset_group_arns:
        raise PersonalizeValidationError(
            "dataset_group_arns",
            "must name at least one dataset group "
            f"(DAG param, or Variable {VARIABLE_PREFIX}dataset_group_arns)",
        )
    for index, arn in enumerate(settings.dataset_group_arns):
        validate_member("CreateDataDeletionJob", "datasetGroupArn", arn, f"dataset_group_arns[{index}]")
    if not settings.dry_run:
        if not settings.role_arn:
            raise PersonalizeValidationError(
                "role_arn", f"is required (DAG param, or Variable {VARIABLE_PREFIX}role_arn)"
            )
        validate_member("CreateDataDeletionJob", "roleArn", settings.role_arn, "role_arn")
    try:
        check_key_prefix(check_bucket_name(settings.bucket), settings.key_prefix)
    except InvalidTransferParameterError as error:
        field = _TRANSFER_FIELDS.get(error.parameter, error.parameter)
        raise PersonalizeValidationError(field, str(error)) from None
    if not isinstance(settings.overdue_days, int) or settings.overdue_days < 1:
        raise PersonalizeValidationError("overdue_days", "must be a whole number of days, at least 1")
    if not isinstance(settings.stale_file_hours, int) or settings.stale_file_hours < 25:
        raise PersonalizeValidationError(
            "stale_file_hours", "must be a whole number of hours, at least 25 (a job can take a day)"
        )
