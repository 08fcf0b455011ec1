"""
The erasure pipeline's warehouse tables as ledger entries, the pipeline's index of what it appended,
and the comparison of both with the ledger; on any DB-API connection (no Airflow).

The warehouse stays the working copy: the pipeline appends each of its records (an audit row, a run's
verification rows) after committing it, and notes where it went in the index table
(``<audit table>_ledger``). What has no index row is *pending*: the next append writes it. The
verifier compares the warehouse with the ledger and reports every difference; nothing is repaired.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow_provider_personalize_deletion.ledger.record import DeletionJobClaim, Entry, ExportJobClaim
from airflow_provider_personalize_deletion.ledger.writer import Appended, LedgerWriter

#: The kinds of entries: an erasure run's audit record, a verification run's rows.
ERASURE_RUN, VERIFICATION = "erasure_run", "verification"
#: The status of an erased request, and the outcome of a run that erased, in the pipeline's tables.
ERASED = "erased"
_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
_VERIFICATION_COLUMNS = (
    "dataset_group_arn",
    "dataset_arn",
    "outcome",
    "users_found",
    "requests_added",
    "export_job_arn",
    "reason",
)


@dataclass(frozen=True)
class WarehouseTables:
    """
    The pipeline's tables (names, optionally schema-qualified).

    :param requests: the erasure requests.
    :param audit: the audit records, one per erasure run.
    :param verification: the verification rows, one per run, dataset group and dataset.
    """

    requests: str = "erasure_requests"
    audit: str = "erasure_audit"
    verification: str = "erasure_verification"

    @property
    def index(self) -> str:
        """The index of what was appended to the ledger: ``<audit>_ledger``."""
        return f"{self.audit}_ledger"


@dataclass(frozen=True)
class Pending:
    """
    A warehouse record not yet in the ledger.

    :param entry: what to append.
    :param recorded_at: its ``recorded_at`` as the database returned it (for the index row).
    :param claim: the erasure run's claim key (``batch_key`` of its requests), else None.
    """

    entry: Entry
    recorded_at: Any
    claim: str | None = None


def timestamp_text(value: Any) -> str:
    """
    A warehouse timestamp as ``YYYY-MM-DD HH:MM:SS`` (UTC): SQLite returns the text, PostgreSQL a
    naive datetime in UTC (the pipeline writes UTC); an aware one is converted.

    :param value: a ``recorded_at`` as read.
    """
    if isinstance(value, datetime):
        moment = value.astimezone(timezone.utc) if value.tzinfo else value
        return moment.strftime(_TIMESTAMP_FORMAT)
    return str(value)[:19]


def index_ddl(tables: WarehouseTables) -> str:
    """The statement that creates the index table if missing (portable SQL)."""
    return f"""CREATE TABLE IF NOT EXISTS {tables.index} (
        kind VARCHAR(32) NOT NULL,
        run_id VARCHAR(250) NOT NULL,
        recorded_at TIMESTAMP NOT NULL,
        claim VARCHAR(32),
        ledger_sequence BIGINT NOT NULL,
        record_sha256 VARCHAR(64) NOT NULL,
        record_key VARCHAR(1024) NOT NULL,
        PRIMARY KEY (kind, run_id, recorded_at)
    )"""


def audit_entry(
    run_id: str, recorded_at: Any, record: dict[str, Any], erased_request_ids: Callable[[str], list[str]]
) -> Pending:
    """
    The entry of one audit row; its earlier tries (``earlier_records``) were entries of their own.

    :param run_id: the row's run.
    :param recorded_at: the row's ``recorded_at``.
    :param record: the row's record, decoded.
    :param erased_request_ids: the ids of the erased requests of a claim key, sorted.
    """
    payload = {key: value for key, value in record.items() if key != "earlier_records"}
    export = payload.get("export") or {}
    found, locations = export.get("claim"), export.get("data_locations")
    claim = found if isinstance(found, str) else None
    jobs = [
        DeletionJobClaim(
            arn=job["dataDeletionJobArn"],
            dataset_group_arn=group["dataset_group_arn"],
            status=job["status"],
            num_deleted=job.get("numDeleted"),
            created=job.get("creationDateTime"),
            last_updated=job.get("lastUpdatedDateTime"),
            data_locations=sorted(locations) if isinstance(locations, list) else None,
        )
        for group in payload.get("dataset_groups") or []
        for job in group.get("jobs") or []
    ]
    entry = Entry(
        ERASURE_RUN,
        run_id,
        timestamp_text(recorded_at),
        payload,
        request_ids=erased_request_ids(claim) if claim and payload.get("outcome") == ERASED else [],
        deletion_jobs=jobs,
    )
    return Pending(entry, recorded_at, claim)


def verification_entry(run_id: str, recorded_at: Any, rows: Iterable[dict[str, Any]]) -> Pending:
    """
    The entry of one verification run's rows.

    :param run_id: the run.
    :param recorded_at: the rows' ``recorded_at``.
    :param rows: the rows, each with the verification columns.
    """
    payload = sorted(
        ({column: row[column] for column in _VERIFICATION_COLUMNS} for row in rows),
        key=lambda row: (row["dataset_group_arn"], row["dataset_arn"]),
    )
    exports = [
        ExportJobClaim(row["export_job_arn"], row["dataset_arn"], row["outcome"])
        for row in payload
        if row["export_job_arn"]
    ]
    return Pending(
        Entry(VERIFICATION, run_id, timestamp_text(recorded_at), payload, export_jobs=exports), recorded_at
    )


class WarehouseReader:
    """
    Reads the pipeline's tables as entries; writes only the index table.

    :param connection: an open DB-API connection (the caller closes it).
    :param placeholder: its parameter marker (``?`` for SQLite, ``%s`` for psycopg2).
    :param tables: the pipeline's tables.
    """

    def __init__(self, connection: Any, placeholder: str, tables: WarehouseTables) -> None:
        self.connection = connection
        self.p = placeholder
        self.tables = tables

    def _rows(self, statement: str, parameters: tuple = ()) -> list[tuple]:
        cursor = self.connection.cursor()
        try:
            cursor.execute(statement, parameters)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def erased_request_ids(self, claim: str) -> list[str]:
        """:param claim: an erasure run's claim key."""
        p = self.p
        return [
            row[0]
            for row in self._rows(
                f"SELECT request_id FROM {self.tables.requests} WHERE batch_key = {p} AND status = {p} "
                "ORDER BY request_id",
                (claim, ERASED),
            )
        ]

    def all_erased_request_ids(self) -> set[str]:
        """Every request the warehouse says is erased."""
        rows = self._rows(f"SELECT request_id FROM {self.tables.requests} WHERE status = {self.p}", (ERASED,))
        return {row[0] for row in rows}

    def audit_entries(self, *, pending_only: bool = False) -> list[Pending]:
        """
        The audit rows as entries, oldest first.

        :param pending_only: only those without an index row.
        """
        where = self._not_indexed("a", ERASURE_RUN) if pending_only else ""
        rows = self._rows(
            f"SELECT a.run_id, a.recorded_at, a.record FROM {self.tables.audit} a {where} "
            "ORDER BY a.recorded_at, a.run_id"
        )
        return [
            audit_entry(run_id, when, json.loads(record), self.erased_request_ids)
            for run_id, when, record in rows
        ]

    def earlier_audit_records(self) -> dict[tuple[str, str], dict[str, Any]]:
        """The earlier tries kept inside each audit row, by (run id, recorded at)."""
        found = {}
        for run_id, record in self._rows(f"SELECT run_id, record FROM {self.tables.audit}"):
            for earlier in json.loads(record).get("earlier_records") or []:
                when = timestamp_text(datetime.fromisoformat(earlier["recorded_at"]))
                found[(run_id, when)] = earlier
        return found

    def verification_entries(self, *, pending_only: bool = False) -> list[Pending]:
        """
        Each verification run's rows as one entry, oldest first.

        :param pending_only: only those without an index row.
        """
        where = self._not_indexed("v", VERIFICATION) if pending_only else ""
        columns = ", ".join(f"v.{column}" for column in _VERIFICATION_COLUMNS)
        rows = self._rows(
            f"SELECT v.run_id, v.recorded_at, {columns} FROM {self.tables.verification} v {where} "
            "ORDER BY v.recorded_at, v.run_id"
        )
        runs: dict[tuple[str, str], tuple[Any, list[dict[str, Any]]]] = {}
        for run_id, when, *values in rows:
            runs.setdefault((run_id, timestamp_text(when)), (when, []))[1].append(
                dict(zip(_VERIFICATION_COLUMNS, values, strict=True))
            )
        return [verification_entry(run_id, when, items) for (run_id, _), (when, items) in runs.items()]

    def _not_indexed(self, alias: str, kind: str) -> str:
        return (
            f"WHERE NOT EXISTS (SELECT 1 FROM {self.tables.index} l WHERE l.kind = '{kind}' "
            f"AND l.run_id = {alias}.run_id AND l.recorded_at = {alias}.recorded_at)"
        )

    def readable(self, table: str) -> bool:
        """Whether ``table`` exists and may be read (a failed read is rolled back)."""
        try:
            self._rows(f"SELECT 1 FROM {table} WHERE 1 = 0")
        except Exception:  # the driver's own error class: any means "cannot read it"
            self.connection.rollback()
            return False
        return True

    def index_rows(self) -> list[tuple]:
        """The index: (kind, run id, recorded at, sequence, hash), by sequence."""
        return self._rows(
            f"SELECT kind, run_id, recorded_at, ledger_sequence, record_sha256 FROM {self.tables.index} "
            "ORDER BY ledger_sequence"
        )

    def create_index_table(self) -> None:
        """Create the index table if missing."""
        cursor = self.connection.cursor()
        cursor.execute(index_ddl(self.tables))
        cursor.close()
        self.connection.commit()

    def add_index_row(self, pending: Pending, sequence: int, record_sha256: str, key: str) -> None:
        """
        Note where a warehouse record was appended (committed at once).

        :param pending: what was appended.
        :param sequence: its record's position.
        :param record_sha256: its record's hash.
        :param key: its record's S3 key.
        """
        p = self.p
        cursor = self.connection.cursor()
        cursor.execute(
            f"INSERT INTO {self.tables.index} (kind, run_id, recorded_at, claim, ledger_sequence, "
            f"record_sha256, record_key) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p})",
            (
                pending.entry.kind,
                pending.entry.run_id,
                pending.recorded_at,
                pending.claim,
                sequence,
                record_sha256,
                key,
            ),
        )
        cursor.close()
        self.connection.commit()


def entry_payload(entry: Entry) -> dict[str, Any]:
    """What of an entry the warehouse must hold the same: the payload and the request ids."""
    return {"payload": entry.payload, "request_ids": entry.request_ids}


def compare_with_warehouse(records: list[Any], reader: WarehouseReader) -> list[str]:
    """
    Every difference between the ledger's records and the warehouse's tables.

    :param records: the ledger's records (:class:`.chain.Record`).
    :param reader: the warehouse.
    """
    breaks: list[str] = []
    in_ledger = {
        (record.entry.kind, record.entry.run_id, record.entry.recorded_at): record
        for record in records
        if record.entry is not None
    }
    warehouse = reader.audit_entries()
    if reader.readable(reader.tables.verification):
        warehouse += reader.verification_entries()
    current = {
        (pending.entry.kind, pending.entry.run_id, pending.entry.recorded_at): pending.entry
        for pending in warehouse
    }
    for name, entry in current.items():
        record = in_ledger.get(name)
        if record is None:
            breaks.append(
                f"the warehouse's {_describe(name)} is not in the ledger (append pending, or removed)"
            )
        elif entry_payload(record.entry) != entry_payload(entry):
            breaks.append(f"the warehouse's {_describe(name)} differs from ledger record {record.sequence}")
    earlier = reader.earlier_audit_records()
    for name, record in in_ledger.items():
        if name in current:
            continue
        kept = earlier.get(name[1:]) if name[0] == ERASURE_RUN else None
        if kept is None:
            breaks.append(f"ledger record {record.sequence}: the {_describe(name)} is not in the warehouse")
        elif {k: v for k, v in kept.items() if k != "earlier_records"} != record.entry.payload:
            breaks.append(f"ledger record {record.sequence}: the warehouse's {_describe(name)} differs")
    breaks += _compare_requests(records, reader.all_erased_request_ids())
    if reader.readable(reader.tables.index):
        breaks += _compare_index(records, reader)
    return breaks


class IndexTableMissingError(LookupError):
    """The index table is missing, and the pipeline may not create it (the setting ``create_tables``)."""

    def __init__(self, table: str) -> None:
        super().__init__(
            f"create_tables is false and the warehouse has no table {table} (the evidence ledger's index): "
            'create it with the statement under "Creating the tables yourself" in the README, or set '
            "create_tables to true; nothing was appended, the records stay pending"
        )


def append_pending(
    writer: LedgerWriter, reader: WarehouseReader, kind: str, now: datetime, *, create_index: bool = True
) -> list[Appended]:
    """
    Append every warehouse record of ``kind`` that has no index row yet, oldest first, and note each.

    A record appended whose index row then fails to be written is appended again by the next call:
    the verifier reports the repeat.

    :param writer: the ledger.
    :param reader: the warehouse.
    :param kind: :data:`ERASURE_RUN` or :data:`VERIFICATION`.
    :param now: the current time (aware).
    :param create_index: create the index table if missing (the setting ``create_tables``); off, no DDL
        is issued.
    :return: where each was appended.
    :raises IndexTableMissingError: the index table is missing and ``create_index`` is off, before any
        append.
    """
    if create_index:
        reader.create_index_table()
    elif not reader.readable(reader.tables.index):
        raise IndexTableMissingError(reader.tables.index)
    if kind == ERASURE_RUN:
        pending = reader.audit_entries(pending_only=True)
    elif reader.readable(reader.tables.verification):
        pending = reader.verification_entries(pending_only=True)
    else:
        pending = []
    appended = []
    for item in pending:
        done = writer.append(item.entry, now)
        reader.add_index_row(item, done.sequence, done.sha256, done.key)
        appended.append(done)
    return appended


def _compare_requests(records: list[Any], erased: set[str]) -> list[str]:
    recorded = {request for record in records if record.entry for request in record.entry.request_ids}
    breaks = []
    if unrecorded := sorted(erased - recorded):
        breaks.append(
            f"{len(unrecorded)} request(s) marked erased in the warehouse are in no ledger record "
            f"(first: {', '.join(unrecorded[:5])})"
        )
    if not_erased := sorted(recorded - erased):
        breaks.append(
            f"{len(not_erased)} request(s) the ledger records erased are not erased in the warehouse "
            f"(first: {', '.join(not_erased[:5])})"
        )
    return breaks


def _compare_index(records: list[Any], reader: WarehouseReader) -> list[str]:
    by_sequence = {record.sequence: record for record in records}
    breaks = []
    for kind, run_id, recorded_at, sequence, digest in reader.index_rows():
        record = by_sequence.get(int(sequence))
        name = (kind, run_id, timestamp_text(recorded_at))
        entry = record.entry if record else None
        if (
            record is None
            or record.sha256 != digest
            or entry is None
            or (entry.kind, entry.run_id, entry.recorded_at) != name
        ):
            breaks.append(
                f"the warehouse's index places the {_describe(name)} at ledger record {sequence}, "
                "which holds another record"
            )
    return breaks


def _describe(name: tuple[str, str, str]) -> str:
    kind, run_id, recorded_at = name
    what = "audit record" if kind == ERASURE_RUN else "verification record"
    return f"{what} of run {run_id} recorded at {recorded_at}"
