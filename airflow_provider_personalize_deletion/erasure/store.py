"""The warehouse tables of erasure requests and of the audit trail, on any common-sql connection."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from airflow_provider_personalize_deletion.deletion_file.builder import DeletionFileBuilder
from airflow_provider_personalize_deletion.deletion_file.csv_file import MIN_FILE_BYTES
from airflow_provider_personalize_deletion.erasure.suppression import (
    SUPPRESSION_TABLE,
    entry_rows,
    insert_entries,
)
from airflow_provider_personalize_deletion.erasure.table_names import is_table_name
from airflow_provider_personalize_deletion.transfers.sql_cursor import (
    WarehouseError,
    column_batches,
    database_errors,
)

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

log = logging.getLogger(__name__)

#: A request is pending until every dataset group erased its user, then erased; a request whose user
#: id Personalize cannot hold (NULL, empty, too long...) is rejected, for a person to look at.
PENDING, ERASED, REJECTED = "pending", "erased", "rejected"
_BATCH_KEY = re.compile(r"[0-9a-f]{32}")
_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def _index_name(table: str, suffix: str) -> str:
    """An index's name from its table's and a suffix, within PostgreSQL's 63 characters."""
    name = f"{table}_{suffix}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(table.encode()).hexdigest()[:8]
    return f"{table[: 63 - len(suffix) - 10]}_{digest}_{suffix}"


def sql_timestamp(moment: datetime) -> str:
    """
    Write a moment as the UTC text both SQLite (compared as text) and PostgreSQL (cast) order right.

    :param moment: an aware datetime.
    """
    return moment.astimezone(timezone.utc).strftime(_TIMESTAMP_FORMAT)


def check_batch_size(batch_size: int) -> int:
    """
    Refuse a batch size below 1: a loop of empty batches does nothing and says nothing.

    :param batch_size: rows per transaction.
    :raises ValueError: naming ``batch_size`` and the rule.
    """
    if batch_size < 1:
        raise ValueError("Invalid parameter 'batch_size': must be at least 1")
    return batch_size


def batch_key(run_id: str) -> str:
    """
    The key a DAG run claims its requests with: a digest, so it is safe inside SQL text.

    :param run_id: the DAG run's id.
    """
    return hashlib.sha256(run_id.encode()).hexdigest()[:32]


def is_batch_key(value: object) -> bool:
    """:param value: what should be a :func:`batch_key` (32 lowercase hex digits)."""
    return isinstance(value, str) and _BATCH_KEY.fullmatch(value) is not None


class Marked(NamedTuple):
    """What :meth:`ErasureRequestStore.mark_erased` did: requests of the claim erased, and entries the
    suppression list gained (users already in it count once, in the run that first erased them)."""

    erased: int
    suppressed: int


class ClaimChangedError(RuntimeError):
    """
    The claim's rows, marked erased, are not the users the export wrote: the marks were rolled back.

    :param count: how many distinct valid users the claim holds now.
    :param expected: how many the export wrote.
    """

    def __init__(self, count: int, expected: int) -> None:
        self.count = count
        self.expected = expected
        super().__init__(
            f"the claim now holds {count} user(s), the export wrote {expected}, or their fingerprints "
            "differ: the claimed requests are not the users the jobs read; nothing was marked"
        )


class ErasureRequestStore:
    """
    Erasure requests and the audit trail in a warehouse, through a common-sql hook.

    A run *claims* the pending requests (sets their ``batch_key``), exports the claimed users, and
    marks the claimed requests erased only once every deletion job completed, adding their users
    to the suppression list (:mod:`.suppression`) in the same transaction. A request that arrives
    after the claim waits for the next run; a run that fails leaves its requests pending, and the
    next run claims them again.

    :param hook: the warehouse's hook (SQLite, PostgreSQL, any DbApiHook).
    :param requests_table: the erasure requests table, optionally schema-qualified.
    :param audit_table: the audit table, optionally schema-qualified.
    :param suppression_table: the suppression list's table, optionally schema-qualified.
    """

    def __init__(
        self,
        hook: DbApiHook,
        requests_table: str = "erasure_requests",
        audit_table: str = "erasure_audit",
        suppression_table: str = SUPPRESSION_TABLE,
    ) -> None:
        names = (
            ("requests_table", requests_table),
            ("audit_table", audit_table),
            ("suppression_table", suppression_table),
        )
        for name, value in names:
            if not is_table_name(value):
                raise ValueError(f"Invalid parameter {name!r}: must be a plain SQL table name")
        self.hook = hook
        self.requests_table = requests_table
        self.audit_table = audit_table
        self.suppression_table = suppression_table
        self._p = hook.placeholder

    def index_statements(self) -> dict[str, str]:
        """
        The indexes the erasure dashboard reads by, name to ``CREATE INDEX IF NOT EXISTS`` statement.

        The pending and overdue counts and the requests-by-status chart read ``(status,
        requested_at)``; the time to erasure ``(erased_at, requested_at)``; the evidence lookup
        ``user_id`` (on PostgreSQL a hash index: a B-tree entry cannot hold the longest ids the
        column takes), and its near misses ``lower(user_id)``; the runs, newest first,
        ``(recorded_at, run_id)`` of the audit table.
        """
        sqlite = self.hook.dialect_name == "sqlite"
        hashed = "USING hash " if self.hook.dialect_name == "postgresql" else ""
        wanted = [
            (self.requests_table, "status_requested", "(status, requested_at)"),
            (self.requests_table, "erased_requested", "(erased_at, requested_at)"),
            (self.requests_table, "user_id", f"{hashed}(user_id)"),
            (self.requests_table, "user_id_lower", f"{hashed}(lower(user_id))"),
            (self.audit_table, "recorded_run", "(recorded_at, run_id)"),
        ]
        statements = {}
        for table, suffix, columns in wanted:
            schema, _, name = table.rpartition(".")
            index = _index_name(name, suffix)
            # SQLite names the schema on the index, PostgreSQL on the table.
            target = f"{schema}.{index} ON {name}" if schema and sqlite else f"{index} ON {table}"
            statements[index] = f"CREATE INDEX IF NOT EXISTS {target} {columns}"
        return statements

    def create_indexes(self) -> list[str]:
        """
        Create the dashboard's indexes (:meth:`index_statements`) that are missing, each on its own.

        An index the connection's user may not create (PostgreSQL: only the table's owner may) is
        left out with a warning, never failing the run: the dashboard still reads, more slowly.

        :return: the names of the indexes that could not be created.
        """
        failed = []
        existing = self._existing_indexes()
        for index, statement in self.index_statements().items():
            if index.lower() in existing:
                continue
            try:
                self._create_index(statement)
            except WarehouseError as error:
                failed.append(index)
                log.warning(
                    "Could not create the index %s (%s): the erasure dashboard reads more slowly "
                    "without it; create it as the table's owner: %s",
                    index,
                    error.error_type,
                    statement,
                )
        return failed

    @database_errors("Looking up the dashboard's indexes")
    def _existing_indexes(self) -> set[str]:
        """The (lower-case) names of the indexes on both tables, read without writing."""
        from sqlalchemy import inspect

        inspector = inspect(self.hook.get_sqlalchemy_engine())
        names: set[str] = set()
        for table in (self.requests_table, self.audit_table):
            schema, _, name = table.lower().rpartition(".")
            names.update(
                str(index["name"]).lower() for index in inspector.get_indexes(name, schema=schema or None)
            )
        return names

    @database_errors("Creating an index")
    def _create_index(self, statement: str) -> None:
        self.hook.run(statement)

    def table_ddl(self) -> list[str]:
        """
        The statements that create the tables if missing, in portable SQL (SQLite and PostgreSQL are
        tested): what a real run executes for a missing table when the setting ``create_tables`` is on,
        and what a deployment that creates the tables itself runs once (the README prints them).
        """
        return [statement for statements in self._table_statements().values() for statement in statements]

    def _table_statements(self) -> dict[str, list[str]]:
        """Each table's statements, requests table first, then the audit table and the suppression list."""
        return {
            self.requests_table: [
                f"""CREATE TABLE IF NOT EXISTS {self.requests_table} (
                    request_id VARCHAR(64) PRIMARY KEY,
                    user_id VARCHAR(1024),
                    requested_at TIMESTAMP NOT NULL,
                    source VARCHAR(64) NOT NULL,
                    status VARCHAR(16) NOT NULL,
                    batch_key VARCHAR(32),
                    erased_at TIMESTAMP,
                    erasure_record TEXT,
                    details TEXT
                )""",
            ],
            self.audit_table: [
                f"""CREATE TABLE IF NOT EXISTS {self.audit_table} (
                    run_id VARCHAR(250) PRIMARY KEY,
                    recorded_at TIMESTAMP NOT NULL,
                    outcome VARCHAR(32) NOT NULL,
                    record TEXT NOT NULL
                )""",
            ],
            self.suppression_table: [
                f"""CREATE TABLE IF NOT EXISTS {self.suppression_table} (
                    user_key VARCHAR(64) PRIMARY KEY,
                    key_id VARCHAR(16) NOT NULL,
                    suppressed_at TIMESTAMP NOT NULL,
                    request_id VARCHAR(64) NOT NULL
                )""",
            ],
        }

    def create_tables(self, tables: Sequence[str] | None = None) -> list[str]:
        """
        Create the tables if missing (:meth:`table_ddl`), then the dashboard's indexes that are missing
        (:meth:`create_indexes`).

        :param tables: only these tables (a run passes the missing ones, so a warehouse whose tables
            and indexes exist gets no DDL and needs no ``CREATE`` privilege); None for all three.
        :return: the names of the indexes that could not be created.
        """
        statements = self._table_statements()
        chosen = statements if tables is None else tables
        self._run_ddl([s for table in chosen for s in statements[table]])
        return self.create_indexes()

    @database_errors("Creating the erasure tables")
    def _run_ddl(self, statements: list[str]) -> None:
        if statements:
            self.hook.run(statements)

    @database_errors("Looking up the erasure tables")
    def missing_tables(self) -> list[str]:
        """
        The tables that do not exist yet, requests table first; read without writing anything.

        A SQLite warehouse whose file does not exist has no table, and is not opened: connecting would
        create the file (a dry run writes nothing anywhere).
        """
        tables = [self.requests_table, self.audit_table, self.suppression_table]
        if self._sqlite_file_missing():
            return tables
        from sqlalchemy import inspect

        inspector = inspect(self.hook.get_sqlalchemy_engine())
        return [table for table in tables if not _has_table(inspector, table)]

    def has_table(self, table: str) -> bool:
        """
        Tell whether a table of the warehouse exists (read without writing).

        :param table: the table's name, optionally ``schema.table``.
        """
        if self._sqlite_file_missing():
            return False
        from sqlalchemy import inspect

        return _has_table(inspect(self.hook.get_sqlalchemy_engine()), table)

    def tables_exist(self) -> bool:
        """Tell whether the three tables exist."""
        return not self.missing_tables()

    def _sqlite_file_missing(self) -> bool:
        if getattr(self.hook, "conn_type", None) != "sqlite":
            return False
        from sqlalchemy.engine import make_url

        database = make_url(self.hook.get_uri()).database or ""
        return database not in ("", ":memory:") and not Path(database).exists()

    @database_errors("Adding the erasure requests")
    def add_requests(self, user_ids: Iterable[str], source: str, requested_at: datetime) -> int:
        """
        Add erasure requests, once each: a repeated (source, user) pair is ignored. Each new request
        gets a random ``request_id`` (32 hex digits), derived from nothing.

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
            f"WHERE NOT EXISTS (SELECT 1 FROM {self.requests_table} WHERE source = {p} AND user_id = {p})"
        )
        count = f"SELECT COUNT(*) FROM {self.requests_table} WHERE source = {p}"
        when = sql_timestamp(requested_at)
        # A random request id: a digest of the user id (keyed or not) would let anyone holding an
        # evidence record test a guessed id against it.
        rows = [
            (secrets.token_hex(16), user_id, when, source, source, user_id)
            for user_id in dict.fromkeys(user_ids)
        ]
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

    @database_errors("Counting the pending requests")
    def count_pending(self) -> int:
        """How many requests wait for erasure."""
        return self._count(f"status = {self._p}", (PENDING,))

    @database_errors("Counting the overdue requests")
    def count_overdue(self, deadline: datetime) -> int:
        """
        How many pending requests were made before ``deadline``.

        :param deadline: e.g. now minus the 30 days GDPR allows.
        """
        p = self._p
        return self._count(f"status = {p} AND requested_at < {p}", (PENDING, sql_timestamp(deadline)))

    @database_errors("Setting aside the invalid requests")
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

    @database_errors("Counting the invalid requests")
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

    @database_errors("Claiming the pending requests")
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

    @database_errors("Counting the claimed requests")
    def count_claimed(self, key: str) -> int:
        """:param key: the run's :func:`batch_key`."""
        p = self._p
        return self._count(f"batch_key = {p} AND status = {p}", (key, PENDING))

    def export_sql(self, key: str) -> str:
        """
        The query that lists the claimed users, ordered, for the export.

        :param key: the run's :func:`batch_key` (hex digits, safe inside the SQL text).
        """
        if not is_batch_key(key):
            raise ValueError("Invalid parameter 'key': must be a batch_key (32 hex digits)")
        return (
            f"SELECT user_id FROM {self.requests_table} "
            f"WHERE batch_key = '{key}' AND status = '{PENDING}' ORDER BY user_id"
        )

    @database_errors("Counting the claim")
    def count_claim(self, key: str) -> int:
        """
        How many requests a claim holds, pending or already marked erased.

        :param key: the run's :func:`batch_key`.
        """
        p = self._p
        return self._count(f"batch_key = {p} AND status IN ({p}, {p})", (key, PENDING, ERASED))

    def mark_erased(
        self,
        key: str,
        erased_at: datetime,
        record: dict[str, Any],
        *,
        fingerprint_key: bytes,
        expected: tuple[int, str],
        batch_size: int = 10_000,
    ) -> Marked:
        """
        Mark the run's claimed requests erased if they are exactly the users the export wrote, and
        add their users to the suppression list; safe to repeat.

        One transaction: the claim's pending requests are marked erased, then the claim's erased
        requests are read back on the same connection and go through the export's validation,
        deduplication and keyed fingerprint, while each batch's users are added to the suppression
        list under the same key (:func:`.suppression.insert_entries`). Only when their count and
        fingerprint equal the export's is the transaction committed; otherwise, or on any error
        before the commit, it is rolled back: nothing is marked and no entry added. A user id
        changed at any moment before the marks cannot be marked as read, and a request marked
        erased always has its user's entry.

        :param key: the run's :func:`batch_key`.
        :param erased_at: when the erasure was recorded (its jobs COMPLETED before).
        :param record: what erased them (job ARNs, numDeleted); stored as JSON on each request.
        :param fingerprint_key: the secret key of the export's fingerprint and of the suppression list.
        :param expected: the export's ``(id_count, fingerprint)``.
        :param batch_size: rows read (and entries written) at a time.
        :return: how many requests of the claim are erased, and how many entries were new.
        :raises ClaimChangedError: the claim's users are not the export's; nothing was marked.
        """
        if not is_batch_key(key):
            raise ValueError("Invalid parameter 'key': must be a batch_key (32 hex digits)")
        marked, found = self._mark_if_fingerprint(
            key, erased_at, record, fingerprint_key, expected, batch_size
        )
        if found != tuple(expected):
            raise ClaimChangedError(found[0], expected[0])
        return marked

    @database_errors("Marking the claimed requests erased")
    def _mark_if_fingerprint(
        self,
        key: str,
        erased_at: datetime,
        record: dict[str, Any],
        fingerprint_key: bytes,
        expected: tuple[int, str],
        batch_size: int,
    ) -> tuple[Marked, tuple[int, str]]:
        """
        Mark, read back, add the suppression entries and commit if the count and fingerprint are the
        expected ones; else roll back. Closing the connection uncommitted rolls back on any error.
        """
        p = self._p
        when = sql_timestamp(erased_at)
        connection = self.hook.get_conn()
        try:
            cursor = connection.cursor()
            cursor.execute(
                f"UPDATE {self.requests_table} SET status = {p}, erased_at = {p}, erasure_record = {p} "
                f"WHERE batch_key = {p} AND status = {p}",
                (ERASED, when, json.dumps(record), key, PENDING),
            )
            erased = column_batches(
                connection,
                f"SELECT user_id, request_id FROM {self.requests_table} "
                f"WHERE batch_key = {p} AND status = {p} ORDER BY user_id",
                (key, ERASED),
                batch_size,
                f"the claimed user ids of {self.requests_table}",
            )
            marked = suppressed = 0
            with DeletionFileBuilder(MIN_FILE_BYTES, fingerprint_key=fingerprint_key) as builder:
                for user_ids, request_ids in erased:
                    builder.add(user_ids)
                    marked += len(user_ids)
                    entries = entry_rows(fingerprint_key, request_ids, user_ids, when)
                    suppressed += insert_entries(cursor, self.suppression_table, p, entries)
                builder.count_and_fingerprint()
                found = (builder.unique_count, builder.fingerprint)
            cursor.close()
            if found == tuple(expected):
                connection.commit()
            else:
                connection.rollback()
        finally:
            connection.close()
        return Marked(marked, suppressed), found

    @database_errors("Writing the audit record")
    def write_audit(self, run_id: str, recorded_at: datetime, outcome: str, record: dict[str, Any]) -> None:
        """
        Keep the run's audit record; an earlier try's record of the same run is kept inside it.

        A cleared or retried run records again: its new record replaces the row, and the records of
        its earlier tries (their outcome, problems and jobs: a FAILED job stays on file) are kept, in
        order, under ``earlier_records``.

        :param run_id: the DAG run's id.
        :param recorded_at: when the record was made.
        :param outcome: ``erased``, ``failed``, ``nothing_to_erase`` or ``dry_run``.
        :param record: the audit record; holds no user id.
        """
        p = self._p
        connection = self.hook.get_conn()
        try:
            cursor = connection.cursor()
            cursor.execute(f"SELECT record FROM {self.audit_table} WHERE run_id = {p}", (run_id,))
            earlier = cursor.fetchone()
            if earlier is not None:
                previous = json.loads(earlier[0])
                record = {
                    **record,
                    "earlier_records": [*previous.pop("earlier_records", []), previous],
                }
            cursor.execute(f"DELETE FROM {self.audit_table} WHERE run_id = {p}", (run_id,))
            cursor.execute(
                f"INSERT INTO {self.audit_table} (run_id, recorded_at, outcome, record) "
                f"VALUES ({p}, {p}, {p}, {p})",
                (run_id, sql_timestamp(recorded_at), outcome, json.dumps(record, sort_keys=True)),
            )
            connection.commit()  # all statements, or none
        finally:
            connection.close()

    def _count(self, where: str, parameters: tuple) -> int:
        row = self.hook.get_first(f"SELECT COUNT(*) FROM {self.requests_table} WHERE {where}", parameters)
        return int(row[0])


def _has_table(inspector: Any, table: str) -> bool:
    # The statements name the tables unquoted, so the database folds their case (PostgreSQL to
    # lower case); SQLAlchemy reads a lower-case name as such a case-insensitive identifier.
    schema, _, name = table.lower().rpartition(".")
    return bool(inspector.has_table(name, schema=schema or None))
