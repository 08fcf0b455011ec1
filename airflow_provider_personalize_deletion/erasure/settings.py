"""
What an erasure run works on: the trigger form's fields, then Airflow Variables, then documented defaults.

Only the fields of the trigger form (:data:`FORM_FIELDS`) may come from a run's conf. Where the data
goes and comes from (bucket, prefix, connections, tables) and the bounds of the run (``overdue_days``,
``stale_file_hours``) come from Variables and defaults only: a run's conf naming any other key is
refused before the run touches anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from airflow_provider_personalize_deletion.erasure.deadlines import CALENDAR_MONTH, RULES, Deadline
from airflow_provider_personalize_deletion.erasure.rounds import MAX_FOLLOW_UP_ROUNDS
from airflow_provider_personalize_deletion.erasure.suppression import SUPPRESSION_TABLE
from airflow_provider_personalize_deletion.erasure.table_names import is_table_name
from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from airflow_provider_personalize_deletion.transfers.parameters import (
    InvalidTransferParameterError,
    check_bucket_name,
    check_key_prefix,
)
from airflow_provider_personalize_deletion.utils.service_model import (
    validate_member,
)

#: The example DAG's id; the erasure dashboard is shown to whoever may read this DAG's runs.
DAG_ID = "personalize_gdpr_erasure"
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
    "suppression_table": SUPPRESSION_TABLE,
    "dry_run": False,
    "cleanup_files": True,
    "overdue_days": 30,
    "deadline": CALENDAR_MONTH,
    "retention_days": 0,
    "stale_file_hours": 48,
    "max_follow_up_jobs": 2,
    "quiet_timeout": 86400,
    "create_tables": True,
    "export_kms_key_arn": "",
    "find_and_forget": False,
}

#: The selector that names every ACTIVE dataset group of the account and region.
ALL_GROUPS = "all"


#: The Variable (``personalize_erasure_`` + this) listing the dataset groups the form may name.
ALLOWED_GROUPS = "allowed_dataset_group_arns"

_BOOLEANS = ("dry_run", "cleanup_files", "create_tables", "find_and_forget")
#: Bounds of the whole-number settings: lowest, highest, unit.
_WHOLE_NUMBERS = {
    "overdue_days": (1, 3650, "days"),
    "retention_days": (0, 36500, "days"),
    "stale_file_hours": (25, 8784, "hours"),
    "max_follow_up_jobs": (0, MAX_FOLLOW_UP_ROUNDS, "follow-up jobs per file and dataset group"),
    "quiet_timeout": (60, 172800, "seconds"),
}
_WHY = {
    "stale_file_hours": " (a job can take a day)",
    "max_follow_up_jobs": " (the DAG has that many follow-up rounds)",
}

#: The settings that take one of a few texts.
_CHOICES = {"deadline": RULES}

#: The settings that name a table of the warehouse.
_TABLES = ("requests_table", "audit_table", "suppression_table")

#: The transfer's argument names of the settings it checks.
_TRANSFER_FIELDS = {"s3_bucket": "bucket", "s3_key_prefix": "key_prefix"}


@dataclass(frozen=True)
class ErasureSettings:
    """
    The resolved, validated settings of one erasure run. Holds no personal data.

    :param warehouse_conn_id: common-sql connection of the erasure requests table.
    :param aws_conn_id: AWS connection for S3 and Personalize.
    :param dataset_group_arns: every dataset group the users are erased from; empty until a
        ``dataset_group_selector`` is resolved (:func:`select_dataset_groups`).
    :param role_arn: IAM role Personalize assumes to read the deletion files.
    :param bucket: S3 bucket of the deletion files (SSE-S3, never a customer KMS key).
    :param key_prefix: folder under which each run writes its files.
    :param requests_table: table of erasure requests.
    :param audit_table: table of audit records.
    :param dry_run: count and report only: no file, no job, nothing marked.
    :param cleanup_files: delete the run's deletion files once its jobs ended.
    :param overdue_days: the days of the ``days`` deadline rule (e.g. 45 for the CCPA).
    :param stale_file_hours: age after which deletion files an earlier run kept are deleted.
    :param max_follow_up_jobs: follow-up jobs at most per dataset group and file when a job overlapped
        activity (a training, an import, a batch job); then the run fails.
    :param quiet_timeout: seconds the create tasks wait, per try, for a quiet dataset group.
    :param dataset_group_selector: ``"all"`` or a tag filter as canonical JSON (``{"key": "value"}``)
        when the dataset groups are chosen by a selector; empty when they are named.
    :param allowed_dataset_group_arns: the allow-list that applies to this run's groups (set when the
        trigger form chose them); empty for no restriction.
    :param create_tables: a real run creates the request, audit and suppression tables when missing;
        off, the deployment creates them itself and a run finding one missing fails before it changes
        anything.
    :param suppression_table: table of the suppression list.
    :param export_kms_key_arn: the KMS key the verification's export jobs encrypt their files with
        (``kmsKeyArn``); empty: SSE-S3, the bucket's default encryption.
    :param find_and_forget: after the erasure is recorded, remove the erased users (and the suppression
        list's) from the S3 files of the dataset groups' jobs and of the Variable
        ``personalize_erasure_forget_locations`` (:mod:`.forget_steps`).
    :param deadline: how a request's due date is counted: ``calendar_month`` (GDPR art. 12(3), the
        default) or ``days`` (``overdue_days``); see :mod:`.deadlines`.
    :param retention_days: days after its erasure a request keeps its user id; then the id is replaced
        by its keyed hash (:mod:`.retention`); 0 keeps it.
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
    max_follow_up_jobs: int
    quiet_timeout: int
    dataset_group_selector: str = ""
    allowed_dataset_group_arns: tuple[str, ...] = ()
    create_tables: bool = True
    suppression_table: str = SUPPRESSION_TABLE
    export_kms_key_arn: str = ""
    find_and_forget: bool = False
    deadline: str = CALENDAR_MONTH
    retention_days: int = 0

    @property
    def deadline_rule(self) -> Deadline:
        """The deadline of the requests (:mod:`.deadlines`)."""
        return Deadline(self.deadline, self.overdue_days)

    @property
    def selector(self) -> str | dict[str, str] | None:
        """The dataset group selector (``"all"`` or tag key to value); None when groups are named."""
        if not self.dataset_group_selector:
            return None
        return (
            ALL_GROUPS
            if self.dataset_group_selector == ALL_GROUPS
            else json.loads(self.dataset_group_selector)
        )

    def as_dict(self) -> dict[str, Any]:
        """The settings as plain JSON, for XCom."""
        values = asdict(self)
        values["dataset_group_arns"] = list(self.dataset_group_arns)
        values["allowed_dataset_group_arns"] = list(self.allowed_dataset_group_arns)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ErasureSettings:
        """:param values: what :meth:`as_dict` returned."""
        return cls(
            **{
                **values,
                "dataset_group_arns": tuple(values["dataset_group_arns"]),
                "allowed_dataset_group_arns": tuple(values.get("allowed_dataset_group_arns", ())),
            }
        )


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


def variable_value(text: str | None) -> Any | None:
    """
    A Variable's value: JSON-decoded when it is JSON, else the text; None when not set.

    :param text: the Variable's stored text, or None.
    """
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # not JSON (or nested deeper than it decodes): the text
        return text


def resolve_settings(params: Mapping[str, Any], get_variable: Callable[[str], Any | None]) -> ErasureSettings:
    """
    Resolve and validate the settings: a non-empty form field wins, then the Variable, then the default.

    Empty means None, ``""`` or ``[]``: the form's ``dry_run`` and ``cleanup_files`` default to None,
    so their Variables apply unless the form sets them. Params that are not form fields are ignored:
    :func:`check_conf` refuses them in the run's conf. When the Variable
    ``personalize_erasure_allowed_dataset_group_arns`` is set, dataset groups given in the form must
    be among its groups (for a selector given in the form: every group it resolves to).

    ``dataset_group_arns`` may also be a selector: ``"all"`` or a tag filter (a JSON object of tag key
    to value); from the trigger form, whose field is a list, a list of that one item (``all`` or the
    JSON object as text). It is resolved by :func:`select_dataset_groups` (an AWS call), not here.

    :param params: the DAG run's params.
    :param get_variable: returns a Variable's (JSON-decoded) value, or None when not set.
    :raises PersonalizeValidationError: naming the setting and the rule, before any AWS call.
    """
    values: dict[str, Any] = {}
    from_form: set[str] = set()
    for name in DEFAULTS:
        value = params.get(name) if name in FORM_FIELDS else None
        if _is_empty(value):
            values[name] = _variable_or_default(name, get_variable)
        else:
            from_form.add(name)
            values[name] = _checked_type(name, value)
    selector = _selector(values["dataset_group_arns"])
    groups = () if selector else tuple(dict.fromkeys(values["dataset_group_arns"]))
    allowed: tuple[str, ...] = ()
    if "dataset_group_arns" in from_form:
        allowed = _allow_list(get_variable(VARIABLE_PREFIX + ALLOWED_GROUPS))
        _check_allowed(groups, allowed)
    settings = ErasureSettings(
        **{
            **values,
            "dataset_group_arns": groups,
            "dataset_group_selector": selector,
            "allowed_dataset_group_arns": allowed,
        }
    )
    _validate(settings)
    return settings


@dataclass(frozen=True)
class WarehouseSettings:
    """
    Where the example DAG keeps its requests and audit trail, and its deadline: what the erasure
    dashboard reads. Resolved from the same Variables and defaults as a run's :class:`ErasureSettings`.

    :param warehouse_conn_id: common-sql connection of the tables.
    :param requests_table: table of erasure requests.
    :param audit_table: table of audit records.
    :param overdue_days: the days of the ``days`` deadline rule.
    :param suppression_table: table of the suppression list.
    :param deadline: ``calendar_month`` (GDPR art. 12(3)) or ``days`` (:mod:`.deadlines`).
    """

    warehouse_conn_id: str
    requests_table: str
    audit_table: str
    overdue_days: int
    suppression_table: str = SUPPRESSION_TABLE
    deadline: str = CALENDAR_MONTH

    @property
    def deadline_rule(self) -> Deadline:
        """The deadline of the requests (:mod:`.deadlines`)."""
        return Deadline(self.deadline, self.overdue_days)


def resolve_warehouse_settings(get_variable: Callable[[str], Any | None]) -> WarehouseSettings:
    """
    The warehouse settings from the Variables ``personalize_erasure_<setting>`` and the defaults.

    :param get_variable: returns a Variable's (JSON-decoded) value, or None when not set.
    :raises PersonalizeValidationError: naming the setting and the rule.
    """
    names = WarehouseSettings.__dataclass_fields__
    settings = WarehouseSettings(**{name: _variable_or_default(name, get_variable) for name in names})
    _check_table_names(settings)
    return settings


def checked_warehouse_setting(name: str, value: Any) -> Any:
    """
    A value of a :class:`WarehouseSettings` field, checked as its Variable is: its type and bounds, and
    for a table a plain SQL name.

    :param name: the field.
    :param value: its value.
    :raises PersonalizeValidationError: naming the field and the rule, never the value.
    """
    value = _checked_type(name, value)
    if name in _TABLES:
        _check_table_name(name, value)
    return value


def setting_from_variables(name: str, get_variable: Callable[[str], Any | None]) -> Any:
    """
    One setting of :data:`DEFAULTS` from its Variable, checked, or its default (for a command line).

    :param name: the setting.
    :param get_variable: returns a Variable's (JSON-decoded) value, or None when not set.
    :raises PersonalizeValidationError: naming the setting and the rule.
    """
    return _variable_or_default(name, get_variable)


def _variable_or_default(name: str, get_variable: Callable[[str], Any | None]) -> Any:
    """A setting's Variable, type-checked, or its default when the Variable is empty or not set."""
    value = get_variable(VARIABLE_PREFIX + name)
    return DEFAULTS[name] if _is_empty(value) else _checked_type(name, value)


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list)) and not value)


def _checked_type(name: str, value: Any) -> Any:
    """The value of a setting if it has the setting's type (a list for a comma-separated string)."""
    if name in _BOOLEANS:
        if not isinstance(value, bool):
            raise PersonalizeValidationError(name, "must be true or false (a JSON boolean)")
        return value
    if name in _WHOLE_NUMBERS:
        low, high, unit = _WHOLE_NUMBERS[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise PersonalizeValidationError(
                name, f"must be a whole number of {unit} from {low} to {high}" + _WHY.get(name, "")
            )
        return value
    if name == "dataset_group_arns":
        return value if value == ALL_GROUPS or isinstance(value, Mapping) else _string_list(name, value)
    if not isinstance(value, str):
        raise PersonalizeValidationError(name, "must be a string")
    if name in _CHOICES and value not in _CHOICES[name]:
        raise PersonalizeValidationError(name, f"must be one of {', '.join(_CHOICES[name])}")
    return value


def _string_list(name: str, value: Any) -> list[str]:
    """A list of strings, or a string of comma- or line-separated items, as a list."""
    if isinstance(value, str):
        return [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise PersonalizeValidationError(name, "must be a list of strings (or one comma-separated string)")
    return value


def _selector(value: Any) -> str:
    """
    The canonical text of a dataset group selector (``"all"`` or sorted JSON of a tag filter); empty
    when ``value`` names groups. The tags' rules of the service model are checked by the hook's
    :meth:`~.PersonalizeHook.list_dataset_groups_by`, before its first call.
    """
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
        item = value[0].strip()
        if item == ALL_GROUPS:
            return ALL_GROUPS
        if item.startswith("{"):
            try:
                value = json.loads(item)
            except (ValueError, RecursionError):  # RecursionError: nested deeper than JSON decodes
                raise PersonalizeValidationError(
                    "dataset_group_arns", "a tag filter must be a JSON object of tag key to value"
                ) from None
    if value == ALL_GROUPS:
        return ALL_GROUPS
    if not isinstance(value, Mapping):
        return ""
    if not value or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise PersonalizeValidationError(
            "dataset_group_arns", 'must be "all" or a non-empty JSON object of tag key to value (strings)'
        )
    return json.dumps(dict(value), sort_keys=True, separators=(",", ":"))


def _allow_list(allowed: Any) -> tuple[str, ...]:
    """The groups of the allow-list Variable; empty when it is not set."""
    if _is_empty(allowed):
        return ()
    return tuple(_string_list(VARIABLE_PREFIX + ALLOWED_GROUPS, allowed))


def _check_allowed(groups: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    """Refuse form-given dataset groups outside the allow-list Variable, when it is set."""
    if not allowed:
        return
    allowed_groups = set(allowed)
    for index, arn in enumerate(groups):
        if arn not in allowed_groups:
            raise PersonalizeValidationError(
                f"dataset_group_arns[{index}]",
                f"must be one of the dataset groups of the Variable {VARIABLE_PREFIX}{ALLOWED_GROUPS}",
            )


def select_dataset_groups(
    settings: ErasureSettings, list_groups: Callable[[str | dict[str, str]], list[str]]
) -> ErasureSettings:
    """
    The settings with the dataset groups their selector names now (unchanged when groups are named).

    :param settings: the run's settings.
    :param list_groups: lists the ACTIVE dataset groups a selector names
        (:meth:`~.PersonalizeHook.list_dataset_groups_by`).
    :raises PersonalizeValidationError: the selector names no group, or the trigger form's selector
        names a group outside the allow-list Variable.
    """
    selector = settings.selector
    if selector is None:
        return settings
    groups = tuple(list_groups(selector))
    if not groups:
        raise PersonalizeValidationError(
            "dataset_group_arns", "names no ACTIVE dataset group (selector resolved to none)"
        )
    _check_allowed(groups, settings.allowed_dataset_group_arns)
    for index, arn in enumerate(groups):
        validate_member("CreateDataDeletionJob", "datasetGroupArn", arn, f"dataset_group_arns[{index}]")
    return replace(settings, dataset_group_arns=groups)


#: Days an erased request keeps its user id at least, when the retention is on: the verification,
#: find and forget and a re-key of the suppression list read the ids of recent erasures.
MIN_RETENTION_DAYS = 30


def _validate(settings: ErasureSettings) -> None:
    if 0 < settings.retention_days < MIN_RETENTION_DAYS:
        raise PersonalizeValidationError(
            "retention_days",
            f"must be 0 (keep the user ids) or at least {MIN_RETENTION_DAYS} days (the verification and "
            "find and forget read the ids of recent erasures)",
        )
    if not settings.dataset_group_arns and not settings.dataset_group_selector:
        raise PersonalizeValidationError(
            "dataset_group_arns",
            "must name at least one dataset group "
            f"(DAG param, or Variable {VARIABLE_PREFIX}dataset_group_arns)",
        )
    for index, arn in enumerate(settings.dataset_group_arns):
        validate_member("CreateDataDeletionJob", "datasetGroupArn", arn, f"dataset_group_arns[{index}]")
    if settings.export_kms_key_arn:  # the shape of CreateDatasetExportJob's kmsKeyArn, at the top level
        validate_member("CreateDatasetGroup", "kmsKeyArn", settings.export_kms_key_arn, "export_kms_key_arn")
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
    _check_table_names(settings)


def _check_table_names(settings: ErasureSettings | WarehouseSettings) -> None:
    for name in _TABLES:
        _check_table_name(name, getattr(settings, name))


def _check_table_name(name: str, table: str) -> None:
    if not is_table_name(table):
        raise PersonalizeValidationError(name, "must be a plain SQL table name, optionally schema.table")
