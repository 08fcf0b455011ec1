"""
The task ``append_to_ledger`` of the erasure and verification DAGs: after a run committed its record
to the warehouse, append every record of its kind that is not in the evidence ledger yet.

Where the ledger lives is the provider's configuration (``[personalize_deletion] ledger_*``), read by
the worker's own process: no Variable, param or run conf changes it (any task may write a Variable,
none the configuration). A failed append leaves the warehouse as it is (the requests stay as the
warehouse marked them): the record is pending, the task fails, and its retry or the next run appends
it. A dry run appends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from botocore.exceptions import ClientError

from airflow_provider_personalize_deletion.erasure import runtime
from airflow_provider_personalize_deletion.erasure.settings import ErasureSettings
from airflow_provider_personalize_deletion.erasure.verification import VERIFICATION_TABLE
from airflow_provider_personalize_deletion.ledger.warehouse import (
    ERASURE_RUN,
    IndexTableMissingError,
    WarehouseReader,
    WarehouseTables,
    append_pending,
)
from airflow_provider_personalize_deletion.ledger.writer import (
    DEFAULT_RETENTION_DAYS,
    LedgerNotLockedError,
    LedgerWriter,
)

SECTION = "personalize_deletion"
#: The defaults of the ledger's settings (the provider's ``config`` declares the same).
DEFAULT_PREFIX, DEFAULT_AWS_CONN_ID = "erasure-ledger", "aws_default"


class LedgerSettingError(ValueError):
    """A ``[personalize_deletion] ledger_*`` setting holds a value it cannot take."""


@dataclass(frozen=True)
class LedgerSettings:
    """
    Where and how the ledger is written: ``[personalize_deletion] ledger_*``.

    :param bucket: ``ledger_bucket``; the ledger is off while unset.
    :param prefix: ``ledger_prefix``, also the ledger's name in its records.
    :param retention_days: ``ledger_retention_days``, each record's compliance retention.
    :param allow_unlocked: ``ledger_allow_unlocked``: write to a bucket without Object Lock.
    :param aws_conn_id: ``ledger_aws_conn_id``, the connection that writes the ledger.
    """

    bucket: str
    prefix: str = DEFAULT_PREFIX
    retention_days: int = DEFAULT_RETENTION_DAYS
    allow_unlocked: bool = False
    aws_conn_id: str = DEFAULT_AWS_CONN_ID


def ledger_settings() -> LedgerSettings | None:
    """
    The ledger's settings from this process's Airflow configuration; None when ``ledger_bucket`` is unset.

    :raises LedgerSettingError: a setting holds a value of the wrong type.
    """
    from airflow.configuration import conf

    bucket = (conf.get(SECTION, "ledger_bucket", fallback="") or "").strip()
    if not bucket:
        return None
    try:
        retention_days = conf.getint(SECTION, "ledger_retention_days", fallback=DEFAULT_RETENTION_DAYS)
    except Exception as error:  # AirflowConfigException; its message quotes the value, not a secret
        raise LedgerSettingError(f"[{SECTION}] ledger_retention_days must be a number of days") from error
    try:
        allow_unlocked = conf.getboolean(SECTION, "ledger_allow_unlocked", fallback=False)
    except Exception as error:
        raise LedgerSettingError(f"[{SECTION}] ledger_allow_unlocked must be True or False") from error
    return LedgerSettings(
        bucket=bucket,
        prefix=(conf.get(SECTION, "ledger_prefix", fallback="") or DEFAULT_PREFIX).strip().strip("/"),
        retention_days=retention_days,
        allow_unlocked=allow_unlocked,
        aws_conn_id=(conf.get(SECTION, "ledger_aws_conn_id", fallback="") or DEFAULT_AWS_CONN_ID).strip(),
    )


def ledger_writer(ledger: LedgerSettings) -> LedgerWriter:
    """
    The ledger's writer, on its own AWS connection.

    :param ledger: the ledger's settings.
    """
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    s3 = S3Hook(aws_conn_id=ledger.aws_conn_id).get_conn()
    return LedgerWriter(
        s3, ledger.bucket, ledger.prefix, ledger.retention_days, allow_unlocked=ledger.allow_unlocked
    )


def append_to_ledger(settings: ErasureSettings, kind: str, now: datetime) -> dict[str, Any]:
    """
    Append the warehouse's records of ``kind`` that are not in the ledger yet.

    :param settings: the run's settings (its warehouse; never where the ledger is).
    :param kind: :data:`.ledger.warehouse.ERASURE_RUN` or :data:`.ledger.warehouse.VERIFICATION`.
    :param now: the current time (aware).
    :return: how many records were appended, their sequence numbers, and whether the ledger is
        tamper-evident.
    :raises AirflowSkipException: the ledger is off, or the run is a dry run.
    :raises AirflowFailException: the setting or the bucket is wrong (no Object Lock, no such bucket), or
        the index table is missing with ``create_tables`` off: a retry cannot mend it, so the task fails
        at once; the records stay pending for the next run.
    """
    try:
        return _append_to_ledger(settings, kind, now)
    except (LedgerSettingError, LedgerNotLockedError, IndexTableMissingError) as error:
        raise AirflowFailException(str(error)) from error
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in SETTING_ERROR_CODES:
            raise AirflowFailException(
                f"The evidence ledger's bucket cannot be written ({error.response['Error']['Code']}): check "
                f"[{SECTION}] ledger_bucket; the records stay pending for the next run"
            ) from error
        raise


#: S3 error codes that say the ledger's setting is wrong, which a retry cannot mend.
SETTING_ERROR_CODES = frozenset({"NoSuchBucket"})


def _append_to_ledger(settings: ErasureSettings, kind: str, now: datetime) -> dict[str, Any]:
    ledger = ledger_settings()
    if ledger is None:
        raise AirflowSkipException(f"The evidence ledger is off: [{SECTION}] ledger_bucket is not set")
    if kind == ERASURE_RUN and settings.dry_run:
        raise AirflowSkipException("Dry run: nothing is appended to the evidence ledger")
    writer = ledger_writer(ledger)
    hook = runtime.request_store(settings).hook
    tables = WarehouseTables(settings.requests_table, settings.audit_table, VERIFICATION_TABLE)
    connection = hook.get_conn()
    try:
        reader = WarehouseReader(connection, hook.placeholder, tables)
        appended = append_pending(writer, reader, kind, now, create_index=settings.create_tables)
    finally:
        connection.close()
    return {
        "appended": len(appended),
        "sequences": [item.sequence for item in appended],
        "tamper_evident": writer.locked,
    }
