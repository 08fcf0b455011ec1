"""The warehouse tables of erasure requests and of the audit trail, on any common-sql connection."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_personalize_deletion.deletion_file.builder import DeletionFileBuilder
from airflow_provider_personalize_deletion.deletion_file.csv_file import MIN_FILE_BYTES
from airflow_provider_personalize_deletion.transfers.sql_cursor import column_batches, first_column_batches

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

#: A request is pending until every dataset group erased its user, then erased; a request whose user
#: id Personalize cannot hold (NULL, empty, too long...) is rejected, for a person to look at.
PENDING, ERASED, REJECTED = "pending", "erased", "rejected"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$")
_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def sql_timestamp(moment: datetime) -> str:
    """
    Write a moment as the UTC text both SQLite (compared as text) and PostgreSQL (cast) order right.

    :param moment: an aware datetime.
    """
    return moment.astimezone(timezone.utc).strftime(_TIMESTAMP_FORMAT)


def batch_key(run_id: str) -> str:
    """
    The key a DAG run claims its requests with: a digest, so it is safe inside SQL text.

    :param run_id: the DAG run's id.
    """
    return hashlib.sha256(run_id.encode()).hexdigest()[:32]


class ErasureRequestStore:
    """
    Erasure requests and the audit trail in a warehouse, through a common-sql hook.

    A run *claims* the pending requests (sets their ``batch_key``), exports the claimed users, and
    marks the claimed requests erased only once every deletion job completed. A request that
    arrives after the claim waits for the next run; a run that fails leaves its requests pending,
    and the next run claims them again.

    :param hook: the warehouse's hook (SQLite, PostgreSQL, any DbApiHook).
    :param requests_table: the erasure requests table, optionally schema-qualified.
    :param audit_table: the audit table, optionally schema-qualified.
    """

    def __init__(
        self, hook: DbApiHook, requests_table: str = "erasure_requests", audit_table: str = "erasure_audit"
    ) -> None:
        for name, value in (("requests_table", requests_table), ("audit_table", audit_table)):
            if not _IDENTIFIER.match(value):
                raise ValueError(f"Invalid parameter {name!r}: must be a plain SQL table name")
        self.hook = hook
        self.requests_table = requests_table
        self.audit_table = audit_table
        self._p = hook.placeholder

    def create_tables(self) -> None:
        """Create both tables if missing, with portable SQL (SQLite, PostgreSQL, MySQL)."""
        self.hook.run(
            [
                f"""CREATE TABLE IF NOT EXISTS {self.requests_table} (
                    request_id VARCHAR(64) PRIMARY KEY,
                    user_id VARCHAR(1024),
                    requested_at TIMESTAMP NOT NULL,
                    source VARCHAR(64) NOT NULL,
                    status VARCHAR(16) NOT NULL,
                    batch_key VARCHAR(32),
                    erased_at TIMESTAMP,
                    erasure_record TEXT
                )""",
                f"""CREATE TABLE IF NOT EXISTS {self.audit_table} (
                    run_id VARCHAR(250) PRIMARY KEY,
                    recorded_at TIMESTAMP NOT NULL,
                    outcome VARCHAR(32) NOT NULL,
                    record TEXT NOT NULL
                )""",
            ]
        )

    def tables_exist(self) -> bool:
        """Tell whether both tables exist (a dry run reports on a warehouse without creating them)."""
        from sqlalchemy import inspect

        inspector = inspect(self.hook.get_sqlalchemy_engine())
        return all(
            inspector.has_table(name, schema=schema or None)
            for schema, _, name in (
                table.rpartition(".") for table in (self.requests_table, self.audit_table)
            )
        )

    def add_requests(self, user_ids: Iterable[str], source: str, requested_at: datetime) -> int:
        """
        Add erasure requests, once each: a repeated (source, user) pair is ignored.

        The ids go through a plain DB-API cursor: ``DbApiHook.run`` would hand every statement's
        parameters to Airflow's hook lineage collector (what OpenLineage sends on), whatever ``log_sql``.

        :param user_ids: the users to erase.
        :param source: where the requests come from, e.g. ``ad-hoc:<run key>``; no personal data.
        :param requested_at: when they were made.
        :return: how many requests were new.
        """
        p = self._p
        statement = (
            f"INSERT INTO {self.requests_table} (request_id, user_id, requested_at, source, status) "
            f"SELECT {p}, {p}, {p}, {p}, '{PENDING}' "
            f"WHERE NOT EXISTS (SELECT 1 FROM {self.requests_table} WHERE request_id = {p})"
        )
        count = f"SELECT COUNT(*) FROM {self.requests_table} WHERE source = {p}"
        when = sql_timestamp(requested_at)
        rows = []
        for user_id in dict.fromkeys(user_ids):
            request_id = hashlib.sha256(f"{source}\x1f{user_id}".encode()).hexdigest()[:40]
            rows.append((request_id, user_id, when, source, request_id))
        connection = self.hook.get_conn()
        try:
            cursor = connection.cursor()
            cursor.execute(count, (source,))
            before = cursor.fetchone()[0]
            cursor.executemany(statement, rows)
            cursor.execute(count, (source,))
            after = cursor.fetchone()[0]
            connection.commit()
        finally:
            connection.close()
        return int(after) - int(before)

    def count_pending(self) -> int:
        """How many requests wait for erasure."""
        return self._count(f"status = {self._p}", (PENDING,))

    def count_overdue(self, deadline: datetime) -> int:
        """
        How many pending requests were made before ``deadline``.

        :param deadline: e.g. now minus the 30 days GDPR allows.
        """
        p = self._p
        return self._count(f"status = {p} AND requested_at < {p}", (PENDING, sql_timestamp(deadline)))

    def reject_invalid(self, reason_of: Callable[[object], str | None], batch_size: int = 10_000) -> Counter:
        """
        Set aside pending requests whose user id Personalize cannot take, so they never block a run.

        A user id that is not UTF-8 (SQLite stores any bytes as TEXT) is read, not refused, and
        rejected as ``not_utf8``; an error of the database names neither the value nor the message.

        :param reason_of: tells why a value is not a user id, or None when it is one.
        :param batch_size: rows read at a time.
        :return: how many requests were rejected, by reason.
        :raises WarehouseReadError: the database failed while the requests were read.
        """
        p = self._p
        connection = self.hook.get_conn()
        try:
            rejected = self._invalid_requests(connection, reason_of, batch_size)
            cursor = connection.cursor()
            cursor.executemany(
                f"UPDATE {self.requests_table} SET status = {p}, erasure_record = {p} WHERE request_id = {p}",
                [(REJECTED, json.dumps({"rejected": reason}), rid) for rid, reason in rejected.items()],
            )
            connection.commit()
        finally:
            connection.close()
        return Counter(rejected.values())

    def count_invalid(self, reason_of: Callable[[object], str | None], batch_size: int = 10_000) -> Counter:
        """
        Count the pending requests :meth:`reject_invalid` would set aside, changing nothing (dry run).

        :param reason_of: tells why a value is not a user id, or None when it is one.
        :param batch_size: rows read at a time.
        :return: how many requests would be rejected, by reason.
        """
        connection = self.hook.get_conn()
        try:
            return Counter(self._invalid_requests(connection, reason_of, batch_size).values())
        finally:
            connection.close()

    def _invalid_requests(
        self, connection: Any, reason_of: Callable[[object], str | None], batch_size: int
    ) -> dict[str, str]:
        """The pending requests whose user id Personalize cannot take: request id to reason."""
        invalid: dict[str, str] = {}
        pending = column_batches(
            connection,
            f"SELECT request_id, user_id FROM {self.requests_table} WHERE status = {self._p}",
            (PENDING,),
            batch_size,
            f"the user ids of {self.requests_table}",
        )
        for request_ids, user_ids in pending:
            for request_id, user_id in zip(request_ids, user_ids, strict=True):
                if reason := reason_of(user_id):
                    invalid[request_id] = reason
        return invalid

    def claim_pending(self, key: str) -> int:
        """
        Claim every pending request for one run.

        :param key: the run's :func:`batch_key`.
        :return: how many requests the run claimed.
        """
        p = self._p
        self.hook.run(
            f"UPDATE {self.requests_table} SET batch_key = {p} WHERE status = {p}", parameters=(key, PENDING)
        )
        return self.count_claimed(key)

    def count_claimed(self, key: str) -> int:
        """:param key: the run's :func:`batch_key`."""
        p = self._p
        return self._count(f"batch_key = {p} AND status = {p}", (key, PENDING))

    def export_sql(self, key: str) -> str:
        """
        The query that lists the claimed users, ordered, for the export.

        :param key: the run's :func:`batch_key` (hex digits, safe inside the SQL text).
        """
        if not re.fullmatch(r"[0-9a-f]{1,64}", key):
            raise ValueError("Invalid parameter 'key': must be a batch_key (hex digits)")
        return (
            f"SELECT user_id FROM {self.requests_table} "
            f"WHERE batch_key = '{key}' AND status = '{PENDING}' ORDER BY user_id"
        )

    def fingerprint_claim(
        self, key: str, fingerprint_key: bytes, batch_size: int = 10_000
    ) -> tuple[int, str]:
        """
        Count and fingerprint the users of a claim (pending or already marked erased), no file written.

        The ids go through the same validation, deduplication and keyed fingerprint as the export's,
        so equal results mean the claim holds exactly the users the export wrote.

        :param key: the run's :func:`batch_key`.
        :param fingerprint_key: the secret key of the export's fingerprint.
        :param batch_size: rows read at a time.
        :return: the number of distinct valid ids and their fingerprint.
        """
        if not re.fullmatch(r"[0-9a-f]{1,64}", key):
            raise ValueError("Invalid parameter 'key': must be a batch_key (hex digits)")
        sql = (
            f"SELECT user_id FROM {self.requests_table} "
            f"WHERE batch_key = '{key}' AND status IN ('{PENDING}', '{ERASED}') ORDER BY user_id"
        )
        with DeletionFileBuilder(MIN_FILE_BYTES, fingerprint_key=fingerprint_key) as builder:
            for values in first_column_batches(self.hook, sql, None, batch_size):
                builder.add(values)
            builder.count_and_fingerprint()
            return builder.unique_count, builder.fingerprint

    def mark_erased(self, key: str, erased_at: datetime, record: dict[str, Any]) -> int:
        """
        Mark the run's claimed requests erased, with the jobs that erased them; safe to repeat.

        :param key: the run's :func:`batch_key`.
        :param erased_at: when the erasure was recorded (its jobs COMPLETED before).
        :param record: what erased them (job ARNs, numDeleted); stored as JSON on each request.
        :return: how many requests of the claim are erased.
        """
        p = self._p
        self.hook.run(
            f"UPDATE {self.requests_table} SET status = {p}, erased_at = {p}, erasure_record = {p} "
            f"WHERE batch_key = {p} AND status = {p}",
            parameters=(ERASED, sql_timestamp(erased_at), json.dumps(record), key, PENDING),
        )
        return self._count(f"batch_key = {p} AND status = {p}", (key, ERASED))

    def write_audit(self, run_id: str, recorded_at: datetime, outcome: str, record: dict[str, Any]) -> None:
        """
        Keep the run's audit record (replacing an earlier try's).

        :param run_id: the DAG run's id.
        :param recorded_at: when the record was made.
        :param outcome: ``erased``, ``failed``, ``nothing_to_erase`` or ``dry_run``.
        :param record: the audit record; holds no user id.
        """
        p = self._p
        connection = self.hook.get_conn()
        try:
            cursor = connection.cursor()
            cursor.execute(f"DELETE FROM {self.audit_table} WHERE run_id = {p}", (run_id,))
            cursor.execute(
                f"INSERT INTO {self.audit_table} (run_id, recorded_at, outcome, record) "
                f"VALUES ({p}, {p}, {p}, {p})",
                (run_id, sql_timestamp(recorded_at), outcome, json.dumps(record, sort_keys=True)),
            )
            connection.commit()  # both statements, or neither
        finally:
            connection.close()

    def _count(self, where: str, parameters: tuple) -> int:
        row = self.hook.get_first(f"SELECT COUNT(*) FROM {self.requests_table} WHERE {where}", parameters)
        return int(row[0])
