"""
The erasure dashboard's reads of the warehouse: bounded, indexed, on one plain DB-API connection.

Every query is bounded by a date window, a ``LIMIT`` or both, and reads through an index of
:meth:`.ErasureRequestStore.index_statements`. Figures are aggregated in SQL (counts per day, a
histogram of hours to erasure), so a read returns at most a few thousand rows whatever the size of
the tables. Reads go through a plain cursor, never ``DbApiHook.run``: that would hand the lookup's
user id to Airflow's hook lineage collector. Errors of the driver are raised as
:class:`~.sql_cursor.WarehouseError`, which never quotes a value.

Text columns are read cut in SQL to one character past their cap (:data:`.MAX_NAME_CHARS`), so that
a SQLite table, which keeps any text whatever the declared type, cannot send more; the views cut them
to the cap and say so. A value that is no timestamp (SQLite) is left out, never an error.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from unicodedata import normalize

from airflow_provider_personalize_deletion.dashboard.evidence_reads import (
    VerificationRow,
    ledger_positions,
    verification_rows_since,
)
from airflow_provider_personalize_deletion.dashboard.verifications import latest_verifications
from airflow_provider_personalize_deletion.dashboard.views import (
    MAX_MESSAGE_CHARS,
    MAX_NAME_CHARS,
    MAX_RECORD_BYTES,
    message,
    name,
    parse_json,
    reappearance_view,
    run_view,
    timestamp,
    try_views,
    unread_view,
    valid_moment,
)
from airflow_provider_personalize_deletion.erasure.columns import (
    DETAILS_COLUMN,
    EXTENDED_AT,
    EXTENDED_BY,
    EXTENSION_MONTHS,
    EXTENSION_REASON,
    REASON_CODE,
    USER_KEY_ID,
    missing_columns,
)
from airflow_provider_personalize_deletion.erasure.deadlines import (
    Deadline,
    overdue_condition,
    valid_extension,
)
from airflow_provider_personalize_deletion.erasure.decisions import REASON_CODES
from airflow_provider_personalize_deletion.erasure.reappearance import REAPPEARED
from airflow_provider_personalize_deletion.erasure.retention import user_id_match
from airflow_provider_personalize_deletion.erasure.store import (
    ERASED,
    PENDING,
    REFUSED,
    REJECTED,
    UNFULFILLABLE,
    is_batch_key,
    sql_timestamp,
)
from airflow_provider_personalize_deletion.erasure.verification import VERIFICATION_TABLE
from airflow_provider_personalize_deletion.transfers.sql_cursor import database_errors

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

#: The request statuses.
STATUSES = (PENDING, ERASED, REJECTED, REFUSED, UNFULFILLABLE)
#: The statuses of the officer's decisions not to erase (:mod:`.decisions`), counted by reason code.
DECIDED = (REFUSED, UNFULFILLABLE)
#: What the requests-by-day chart stacks: the statuses, the erased requests of people found again since
#: (a pending ``reappeared`` request is theirs now) apart from the others.
FOUND_AGAIN = "found_again"
CHART_SERIES = (PENDING, ERASED, FOUND_AGAIN, REJECTED, REFUSED, UNFULFILLABLE)
#: Days the charts look back.
WINDOW_DAYS = 90
#: Runs per page, at most.
MAX_RUNS_PER_PAGE = 50
#: Requests of one user the lookup returns, at most.
MAX_REQUESTS_PER_LOOKUP = 100
#: Requests of one user the lookup counts, at most, when it returns fewer than there are.
MAX_REQUESTS_COUNTED = 100_000
#: Audit records one lookup reads, at most, to find the runs of all its requests (each record read
#: once, shared by the requests that meet it); also the records one search meets, at most.
MAX_RUNS_SEARCHED = 50
#: Bytes of stored records (audit records, requests' erasure records) one lookup or one runs page
#: reads, at most, in all.
MAX_RECORD_BYTES_PER_ANSWER = 4 * 1024 * 1024
#: Bytes of a request's ``details`` (where a reappeared user was found: three ARNs and a time, about
#: 1 KB at most as the intake writes it) a lookup reads, at most; a longer one is not read.
MAX_DETAILS_BYTES = 4096
#: Bytes of JSON of the runs one runs page shows, at most; and of the jobs one evidence record shows.
MAX_ANSWER_BYTES = 2 * 1024 * 1024
#: How the search for a request's run ended: found; every record it could meet was read and none is
#: the run; or it stopped before that (a record too large to read, or the lookup's budget spent).
RUN_FOUND, RUN_NOT_FOUND, RUN_SEARCH_INCOMPLETE = "found", "not_found", "incomplete"

#: SQL of a timestamp column's day, and of the whole seconds between two timestamp columns, by dialect.
_DAY = {"sqlite": "substr({column}, 1, 10)", "postgresql": "CAST({column} AS DATE)"}
_SECONDS = {
    "sqlite": "CAST(ROUND((julianday({end}) - julianday({start})) * 86400) AS INTEGER)",
    "postgresql": "CAST(EXTRACT(EPOCH FROM ({end} - {start})) AS BIGINT)",
}
#: SQL of the length of a text column in bytes (read from the row header, not the text), by dialect.
_BYTES = {"sqlite": "length(CAST({column} AS BLOB))", "postgresql": "octet_length({column})"}
#: SQL of a text column read one character past the cap of what a view shows (a longer one is cut there).
_NAME = f"substr({{column}}, 1, {MAX_NAME_CHARS + 1})"
#: SQL of a timestamp column, read as a text column where it is one (SQLite), by dialect.
_TIMESTAMP = {"sqlite": _NAME, "postgresql": "{column}"}


class UnsupportedWarehouseError(ValueError):
    """The dashboard's date arithmetic is written for SQLite and PostgreSQL only."""


class InvalidCursorError(ValueError):
    """A runs page cursor that this module did not write."""


@dataclass(frozen=True)
class RunsCursor:
    """
    Where a page of runs ends: the next page holds the runs recorded before it (keyset pagination).

    :param recorded_at: the last run's ``recorded_at``, as the warehouse wrote it.
    :param run_id: the last run's id (breaks ties between runs recorded in the same second).
    """

    recorded_at: str
    run_id: str

    def encode(self) -> str:
        """The cursor as an opaque URL-safe token."""
        return base64.urlsafe_b64encode(json.dumps([self.recorded_at, self.run_id]).encode()).decode()

    @classmethod
    def decode(cls, token: str) -> RunsCursor:
        """
        :param token: what :meth:`encode` returned.
        :raises InvalidCursorError: the token is not one.
        """
        try:
            recorded_at, run_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        except (ValueError, TypeError, binascii.Error, RecursionError):
            raise InvalidCursorError("'before' must be the cursor of a runs page") from None
        if not isinstance(recorded_at, str) or not isinstance(run_id, str):
            raise InvalidCursorError("'before' must be the cursor of a runs page")
        try:
            found = datetime.fromisoformat(recorded_at)
        except ValueError:  # no date: the text of a malformed SQLite value, compared as text
            return cls(recorded_at, run_id)
        when = valid_moment(found)
        if when is None:
            raise InvalidCursorError("'before' must be the cursor of a runs page")
        return cls(sql_timestamp(when), run_id)

    @classmethod
    def after(cls, recorded_at: Any, run_id: str) -> RunsCursor:
        """
        The cursor past a run, from its columns as read (a malformed SQLite timestamp as its text).

        :param recorded_at: the run's ``recorded_at``.
        :param run_id: its id (cut to one past :data:`.MAX_NAME_CHARS`: the next page then starts past
            the ids it begins, a hostile table's only).
        """
        when = valid_moment(recorded_at)
        return cls(sql_timestamp(when) if when is not None else str(recorded_at), run_id)


class DashboardQueries:
    """
    The dashboard's reads of the erasure requests and audit tables.

    :param hook: the warehouse's hook (SQLite or PostgreSQL).
    :param requests_table: the erasure requests table (checked by the settings).
    :param audit_table: the audit table (checked by the settings).
    :param verification_table: the verification DAG's table of outcomes.
    :param fingerprint_key: the key user ids are hashed with after the retention period (the lookup
        finds those requests by hashing the typed id); None finds the requests holding the id only.
    """

    def __init__(
        self,
        hook: DbApiHook,
        requests_table: str,
        audit_table: str,
        verification_table: str = VERIFICATION_TABLE,
        fingerprint_key: bytes | None = None,
    ) -> None:
        dialect = hook.dialect_name
        if dialect not in _DAY:
            raise UnsupportedWarehouseError(
                f"The erasure dashboard reads SQLite and PostgreSQL warehouses; this one is {dialect!r}"
            )
        self.hook = hook
        self.requests_table = requests_table
        self.audit_table = audit_table
        self.verification_table = verification_table
        self.fingerprint_key = fingerprint_key
        self._p = hook.placeholder
        self._dialect = dialect

    @functools.cached_property
    def _missing(self) -> set[str]:
        """The columns of this release the requests table lacks (one of 0.2 or 0.3)."""
        return {added.column for added in missing_columns(self.hook, self.requests_table)}

    @property
    def has_details(self) -> bool:
        """Whether the requests table has the ``details`` column (a table created by 0.2 has not)."""
        return DETAILS_COLUMN not in self._missing

    def _grouped_by(self, column: str) -> tuple[str, str]:
        """
        What to select and the GROUP BY term of a column of this release: NULL and none when the table
        (of an earlier release) lacks it (PostgreSQL refuses a constant GROUP BY term).
        """
        return ("NULL", "") if column in self._missing else (column, f", {column}")

    def _user_match(self, user_id: str) -> tuple[str, tuple[str, ...]]:
        """SQL and parameters matching the requests of a typed user id, hashed or not (:mod:`.retention`)."""
        where, parameters = user_id_match(
            user_id, self.fingerprint_key, hashed_column=USER_KEY_ID not in self._missing
        )
        return where.format(p=self._p), parameters

    def _found_again(self, column: str = "user_id") -> str:
        """
        SQL that is 1 for a row of a person found again (a pending ``reappeared`` request is theirs),
        else 0: the subquery reads the pending range of the ``(status, requested_at)`` index, once.
        """
        people = f"SELECT user_id FROM {self.requests_table} WHERE status = '{PENDING}' AND source = "
        people += f"'{REAPPEARED}'"
        return f"CASE WHEN {column} IN ({people}) THEN 1 ELSE 0 END"

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Any]:
        connection = self.hook.get_conn()
        try:
            yield connection.cursor()
        finally:
            connection.rollback()  # reads only: end the transaction PostgreSQL opened
            connection.close()

    @database_errors("Reading the erasure dashboard's figures")
    def summary(self, now: datetime, deadline: Deadline) -> dict[str, Any]:
        """
        The overview: pending and overdue requests (past their due date, :mod:`.deadlines`), the requests
        erased late (after their due date) in the last :data:`WINDOW_DAYS` days, the refused and
        unfulfillable ones by reason code, the oldest pending one's age,
        the people found again (pending re-erasure), requests per day of request by their status now (an
        erased request of a person found again since apart, as ``found_again``), the time from request
        to erasure, and the latest verification of each dataset group.

        :param now: the current time (aware).
        :param deadline: how due dates are counted.
        """
        p = self._p
        since = (now - timedelta(days=WINDOW_DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
        day = _DAY[self._dialect].format(column="requested_at")
        with self._cursor() as cursor:
            cursor.execute(
                f"SELECT COUNT(*), MIN(requested_at) FROM {self.requests_table} WHERE status = {p}",
                (PENDING,),
            )
            pending, oldest = cursor.fetchone()
            overdue_sql, overdue_parameters = overdue_condition(
                deadline, now, p, extensions=EXTENSION_MONTHS not in self._missing
            )
            cursor.execute(
                f"SELECT COUNT(*) FROM {self.requests_table} WHERE status = {p} AND {overdue_sql}",
                (PENDING, *overdue_parameters),
            )
            (overdue,) = cursor.fetchone()
            erased_late = self._erased_late(cursor, since, deadline)
            decided = self._decided(cursor)
            cursor.execute(
                f"SELECT COUNT(*) FROM {self.requests_table} WHERE status = {p} AND source = {p}",
                (PENDING, REAPPEARED),
            )
            (found_again,) = cursor.fetchone()
            per_day: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(CHART_SERIES, 0))
            for status in STATUSES:  # one range of the (status, requested_at) index each
                # an erased request of a person found again since is counted apart (a 0 is no GROUP BY term)
                keys = f"{day}, {self._found_again()}" if status == ERASED else day
                flag = keys if status == ERASED else f"{day}, 0"
                cursor.execute(
                    f"SELECT {flag}, COUNT(*) FROM {self.requests_table} "
                    f"WHERE status = {p} AND requested_at >= {p} GROUP BY {keys}",
                    (status, sql_timestamp(since)),
                )
                for when, flagged, count in cursor.fetchall():
                    per_day[_day(when)][FOUND_AGAIN if flagged else status] += int(count)
            times = self._erasure_times(cursor, since)
            verification = latest_verifications(self, cursor)
        oldest_at = valid_moment(oldest)  # None too for a malformed SQLite value
        oldest_days = (now - oldest_at).total_seconds() / 86400 if oldest_at is not None else None
        return {
            "generated_at": now.isoformat(),
            "window_days": WINDOW_DAYS,
            "deadline": {"rule": deadline.rule, "days": deadline.days},
            "times_zone": "UTC",
            "pending": int(pending),
            "overdue": int(overdue),
            "erased_late": erased_late,
            "decided": decided,
            "found_again": int(found_again),
            "oldest_pending_days": None if oldest_days is None else round(oldest_days, 1),
            "requests_by_day": _days(since.date(), now.date(), per_day),
            "time_to_erasure": times,
            "verification": verification,
        }

    def _erased_late(self, cursor: Any, since: datetime, deadline: Deadline) -> int:
        """
        How many requests erased since ``since`` were erased after their due date: counted by day of
        request, day of erasure and extension (a few thousand rows at most, read through the
        ``(erased_at, requested_at)`` index).
        """
        requested = _DAY[self._dialect].format(column="requested_at")
        erased = _DAY[self._dialect].format(column="erased_at")
        months, by_months = self._grouped_by(EXTENSION_MONTHS)
        cursor.execute(
            f"SELECT {requested}, {erased}, {months}, COUNT(*) FROM {self.requests_table} "
            f"WHERE erased_at >= {self._p} GROUP BY {requested}, {erased}{by_months}",
            (sql_timestamp(since),),
        )
        late = 0
        for requested_on, erased_on, extension, count in cursor.fetchall():
            try:
                received, done = date.fromisoformat(_day(requested_on)), date.fromisoformat(_day(erased_on))
            except (ValueError, TypeError):
                continue  # a SQLite value that is no timestamp: no due date
            if done > deadline.due_on(received, valid_extension(extension)):
                late += int(count)
        return late

    def _decided(self, cursor: Any) -> dict[str, dict[str, int]]:
        """
        The refused and unfulfillable requests, by status and reason code; a code that is not one of
        :data:`.decisions.REASON_CODES` (written into the table by hand) or none at all counts as ``other``.
        """
        code, by_code = self._grouped_by(REASON_CODE)
        statuses = ", ".join(f"'{status}'" for status in DECIDED)
        cursor.execute(
            f"SELECT status, {_NAME.format(column=code)}, COUNT(*) FROM {self.requests_table} "
            f"WHERE status IN ({statuses}) GROUP BY status{by_code}"
        )
        decided: dict[str, dict[str, int]] = {status: {} for status in DECIDED}
        for status, reason, count in cursor.fetchall():
            key = reason if reason in REASON_CODES else "other"
            decided[status][key] = decided[status].get(key, 0) + int(count)
        return decided

    def _erasure_times(self, cursor: Any, since: datetime) -> dict[str, Any]:
        """
        Median and 95th percentile of the days from request to erasure: overall and per week. The days
        are those of every erasure; ``erased`` counts the requests whose person is not found again now,
        ``erased_then_found_again`` the others.
        """
        seconds = _SECONDS[self._dialect].format(start="requested_at", end="erased_at")
        day = _DAY[self._dialect].format(column="erased_at")
        hours = f"{seconds} / 3600"
        again = self._found_again()
        cursor.execute(
            f"SELECT {day}, {hours}, {again}, COUNT(*) FROM {self.requests_table} "
            f"WHERE erased_at >= {self._p} GROUP BY {day}, {hours}, {again}",
            (sql_timestamp(since),),
        )
        overall: Counter[int] = Counter()
        weekly: dict[date, Counter[int]] = defaultdict(Counter)
        found_again: Counter[date] = Counter()
        for when, hour, flagged, count in cursor.fetchall():
            try:
                erased_on, whole_hours = date.fromisoformat(_day(when)), int(hour)
            except (ValueError, TypeError):
                continue  # a SQLite value that is no timestamp: no day, no duration
            week = erased_on - timedelta(days=erased_on.weekday())
            overall[whole_hours] += int(count)
            weekly[week][whole_hours] += int(count)
            found_again[week] += int(count) if flagged else 0
        return {
            "erased": sum(overall.values()) - found_again.total(),
            "erased_then_found_again": found_again.total(),
            "median_days": _percentile_days(overall, 0.5),
            "p95_days": _percentile_days(overall, 0.95),
            "weeks": [
                {
                    "week": week.isoformat(),
                    "erased": sum(histogram.values()) - found_again[week],
                    "erased_then_found_again": found_again[week],
                    "median_days": _percentile_days(histogram, 0.5),
                    "p95_days": _percentile_days(histogram, 0.95),
                }
                for week, histogram in sorted(weekly.items())
            ],
        }

    @database_errors("Reading the erasure runs")
    def runs(self, limit: int, before: RunsCursor | None = None) -> dict[str, Any]:
        """
        A page of runs, newest first, each with its outcome and its jobs per dataset group.

        The page ends early, before the run that would pass :data:`MAX_RECORD_BYTES_PER_ANSWER` of
        records read or :data:`MAX_ANSWER_BYTES` of views (its first run is always on it); ``next``
        then continues from there.

        :param limit: runs per page (1 to :data:`MAX_RUNS_PER_PAGE`).
        :param before: the cursor of the previous page; None for the newest runs.
        :return: ``runs`` and ``next`` (the cursor of the next page, None on the last).
        """
        limit = max(1, min(limit, MAX_RUNS_PER_PAGE))
        p = self._p
        where = ""
        parameters: tuple[str, ...] = ()
        if before is not None:  # a row value comparison: one range of the (recorded_at, run_id) index
            if self._dialect == "postgresql" and valid_moment(before.recorded_at) is None:
                raise InvalidCursorError("'before' must be the cursor of a runs page")
            where = f"WHERE (recorded_at, run_id) < ({p}, {p}) "
            parameters = (before.recorded_at, before.run_id)
        size = _BYTES[self._dialect].format(column="record")
        with self._cursor() as cursor:
            cursor.execute(
                f"SELECT {self._columns('run_id', 'recorded_at', 'outcome')}, {size} FROM {self.audit_table} "
                f"{where}ORDER BY recorded_at DESC, run_id DESC LIMIT {limit + 1}",
                parameters,
            )
            rows = cursor.fetchall()
            chosen: list[tuple[Any, ...]] = []
            budget = MAX_RECORD_BYTES_PER_ANSWER
            for row in rows[:limit]:
                cost = row[3] if _readable(row[0], row[3]) else 0  # a record not read costs nothing
                if chosen and cost > budget:
                    break
                chosen.append(row)
                budget -= cost
            records = self._records(cursor, [row[0] for row in chosen if _readable(row[0], row[3])])
        page: list[dict[str, Any]] = []
        shown = 0
        for run_id, recorded_at, outcome, record_bytes in chosen:
            if run_id in records:
                view = run_view(run_id, recorded_at, outcome, records[run_id])
            else:
                view = unread_view(run_id, recorded_at, outcome, int(record_bytes))
            shown += len(json.dumps(view))
            if page and shown > MAX_ANSWER_BYTES:
                break
            page.append(view)
        last = chosen[len(page) - 1] if len(page) < len(rows) else None
        return {"runs": page, "next": RunsCursor.after(last[1], last[0]).encode() if last else None}

    def _columns(self, *columns: str) -> str:
        """The SQL of the columns, read bounded: a timestamp as :data:`_TIMESTAMP`, text as :data:`_NAME`."""
        timestamps = {"recorded_at", "requested_at", "erased_at"}
        return ", ".join(
            (_TIMESTAMP[self._dialect] if column in timestamps else _NAME).format(column=column)
            for column in columns
        )

    def _records(self, cursor: Any, run_ids: Sequence[str]) -> dict[str, str]:
        """The record text of each of the runs (their records not longer than :data:`MAX_RECORD_BYTES`)."""
        if not run_ids:
            return {}
        size = _BYTES[self._dialect].format(column="record")
        cursor.execute(
            f"SELECT run_id, record FROM {self.audit_table} "
            f"WHERE run_id IN ({', '.join([self._p] * len(run_ids))}) AND {size} <= {MAX_RECORD_BYTES}",
            tuple(run_ids),
        )
        return dict(cursor.fetchall())

    @database_errors("Reading an erasure run")
    def run(self, run_id: str) -> dict[str, Any] | None:
        """
        One run's view; None when the audit table holds no record of it.

        :param run_id: the DAG run's id.
        """
        with self._cursor() as cursor:
            cursor.execute(
                f"SELECT {self._columns('run_id', 'recorded_at', 'outcome')}, "
                f"{self._record_columns(MAX_RECORD_BYTES)} FROM {self.audit_table} WHERE run_id = {self._p}",
                (run_id,),
            )
            row = cursor.fetchone()
        if row is None:
            return None
        run_id, recorded_at, outcome, record_bytes, record = row
        if record is None:
            return unread_view(run_id, recorded_at, outcome, int(record_bytes))
        return run_view(run_id, recorded_at, outcome, record)

    def _record_columns(self, limit: int, column: str = "record") -> str:
        """The columns of a record's size in bytes and its text, the text NULL when longer than ``limit``."""
        size = _BYTES[self._dialect].format(column=column)
        return f"{size}, CASE WHEN {size} <= {int(limit)} THEN {column} END"

    @database_errors("Looking up the requests of a user")
    def requests_of(self, user_id: str) -> FoundRequests:
        """
        A user's requests, oldest first, each with the run that erased it (or last claimed it): the
        first :data:`MAX_REQUESTS_PER_LOOKUP`, and how many there are (counted up to
        :data:`MAX_REQUESTS_COUNTED`).

        The runs are searched within one budget for the whole lookup (:class:`_RunSearch`); each
        request says how its search ended (``run_search``). The stored record of a request (its jobs,
        or why it was rejected) is read only when it is shown: for a rejected request, or one whose
        run was not found.

        A reappeared request (source ``reappeared``) says where its user was found again, from its
        ``details`` (``reappeared``), read within the same budget (:meth:`_RunSearch.details`). How many
        requests of each status the user has (counted up to :data:`MAX_REQUESTS_COUNTED`, the
        reappeared ones apart) is read for all of them, the requests not returned too: what the person's
        status is now does not depend on the first :data:`MAX_REQUESTS_PER_LOOKUP`.

        The user id is a bind parameter of the queries and is not kept: the result names requests by
        ``request_id``.

        :param user_id: the user id, exactly as the requests table holds it.
        """
        if self._dialect == "postgresql" and "\x00" in user_id:
            return FoundRequests([], 0)  # PostgreSQL's text cannot hold a NUL: no request has this id
        with self._cursor() as cursor:
            columns = self._columns(
                "request_id", "source", "status", "requested_at", "erased_at", "batch_key"
            )
            details = _BYTES[self._dialect].format(column=DETAILS_COLUMN) if self.has_details else "NULL"
            match, matched = self._user_match(user_id)
            cursor.execute(
                f"SELECT {columns}, {details}, {self._decision_columns()} FROM {self.requests_table} "
                f"WHERE {match} "
                f"ORDER BY requested_at, request_id LIMIT {MAX_REQUESTS_PER_LOOKUP + 1}",
                matched,
            )
            rows = cursor.fetchall()
            counts = self._status_counts(cursor, user_id) if rows else {}
            total = len(rows) if len(rows) <= MAX_REQUESTS_PER_LOOKUP else sum(counts.values())
            rows = rows[:MAX_REQUESTS_PER_LOOKUP]
            search = _RunSearch(self, cursor, {row[5] for row in rows if is_batch_key(row[5])})
            found = []
            stored: list[tuple[str, dict[str, Any]]] = []  # (request id, request) whose record is shown
            reappeared: list[tuple[str, Any, dict[str, Any]]] = []  # (request id, details bytes, request)
            for request_id, source, status, requested_at, erased_at, key, details_bytes, *decision in rows:
                run, outcome = (
                    search.run_of(key, requested_at, erased_at) if is_batch_key(key) else (None, None)
                )
                request: dict[str, Any] = {
                    "request_id": name(request_id),
                    "source": name(source),
                    "status": name(status),
                    "requested_at": timestamp(requested_at),
                    "erased_at": timestamp(erased_at),
                    **_decision(status, *decision),
                    "erasure_record": None,
                    "erasure_record_unread": False,
                    "run": run,
                    "run_search": outcome,
                    "reappeared": None,
                    "reappeared_unread": False,
                }
                found.append(request)
                if source == REAPPEARED:
                    reappeared.append((request_id, details_bytes, request))
                if run is None or status == REJECTED:
                    stored.append((request_id, request))
            search.details(reappeared)
            search.stored_records(stored)
            verification = verification_rows_since(self, cursor, _groups_of(found), _earliest_erasure(found))
            ledger = ledger_positions(
                self,
                cursor,
                {request["run"]["run_id"] for request in found if request["run"]}
                | {row.run_id for row in verification if row.run_id},
            )
        return FoundRequests(
            found, int(total), search.records_read, counts, self.has_details, verification, ledger
        )

    def _decision_columns(self) -> str:
        """
        The SQL of a request's extension (months, reason, by whom, when) and reason code, bounded as
        shown; NULL for a column the table (of an earlier release) lacks.
        """
        bounded = {
            EXTENSION_MONTHS: "{column}",
            EXTENSION_REASON: f"substr({{column}}, 1, {MAX_MESSAGE_CHARS + 1})",
            EXTENDED_BY: _NAME,
            EXTENDED_AT: _TIMESTAMP[self._dialect],
            REASON_CODE: _NAME,
        }
        missing = self._missing
        return ", ".join("NULL" if col in missing else sql.format(column=col) for col, sql in bounded.items())

    @database_errors("Looking up the near misses of a user id")
    def near_misses(self, user_id: str) -> dict[str, bool]:
        """
        For a lookup that found nothing: whether the id as typed has leading or trailing whitespace
        (``outer_whitespace``), whether the id without it has requests (``trimmed_has_requests``), and
        whether ids that differ from it only in case have (``case_variants_exist``, by the database's
        ``lower()``: ASCII on SQLite; the ids kept, not those replaced by their keyed hash), and whether the
        id in another Unicode form has requests (``unicode_variant_has_requests``: composed or decomposed,
        NFC or NFD, or without zero-width characters, as pasting from a document may change it). Booleans
        only: no other id, request or count is told; how many people share the id's case-folded form would
        tell about them.

        :param user_id: the id as typed.
        """
        p = self._p
        trimmed = user_id.strip()
        found = {
            "outer_whitespace": trimmed != user_id,
            "trimmed_has_requests": False,
            "case_variants_exist": False,
            "unicode_variant_has_requests": False,
        }
        if not trimmed or (self._dialect == "postgresql" and "\x00" in trimmed):
            return found
        # an id replaced by its keyed hash (:mod:`.retention`) is found by hashing the typed id only: never
        # as the text of its hash, nor as a case variant of it
        held = "" if USER_KEY_ID in self._missing else f" AND {USER_KEY_ID} IS NULL"
        with self._cursor() as cursor:
            if found["outer_whitespace"]:
                match, matched = self._user_match(trimmed)
                cursor.execute(f"SELECT 1 FROM {self.requests_table} WHERE {match} LIMIT 1", matched)
                found["trimmed_has_requests"] = cursor.fetchone() is not None
            cursor.execute(  # reads the lower(user_id) index
                f"SELECT 1 FROM {self.requests_table} WHERE lower(user_id) = lower({p}) "
                f"AND user_id <> {p} AND user_id <> {p}{held} LIMIT 1",
                (trimmed, trimmed, user_id),
            )
            found["case_variants_exist"] = cursor.fetchone() is not None
            for variant in unicode_variants(trimmed) - {user_id, trimmed}:
                cursor.execute(f"SELECT 1 FROM {self.requests_table} WHERE user_id = {p} LIMIT 1", (variant,))
                if cursor.fetchone() is not None:
                    found["unicode_variant_has_requests"] = True
                    break
        return found

    def _status_counts(self, cursor: Any, user_id: str) -> dict[tuple[str, bool], int]:
        """
        How many requests the user has, by status (any other text as ``other``) and whether they are
        reappeared ones: at most :data:`MAX_REQUESTS_COUNTED` requests counted, a handful of rows read.
        """
        p = self._p
        known = ", ".join(f"'{status}'" for status in STATUSES)
        match, matched = self._user_match(user_id)
        cursor.execute(
            f"SELECT CASE WHEN status IN ({known}) THEN status ELSE 'other' END, "
            f"CASE WHEN source = {p} THEN 1 ELSE 0 END, COUNT(*) "
            f"FROM (SELECT status, source FROM {self.requests_table} WHERE {match} "
            f"LIMIT {MAX_REQUESTS_COUNTED}) AS mine GROUP BY 1, 2",
            (REAPPEARED, *matched),
        )
        return {(str(status), bool(again)): int(count) for status, again, count in cursor.fetchall()}


def unicode_variants(user_id: str) -> set[str]:
    """
    The other Unicode forms an id may have been typed or stored in: NFC and NFD, each without
    zero-width characters (:data:`ZERO_WIDTH`).

    :param user_id: the id (trimmed).
    """
    unseen = user_id.translate(_WITHOUT_ZERO_WIDTH)
    return {
        form for text in (user_id, unseen) for form in (normalize("NFC", text), normalize("NFD", text))
    } | {unseen}


#: Characters that show as nothing: zero-width space, non-joiner and joiner, word joiner, BOM.
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
_WITHOUT_ZERO_WIDTH = dict.fromkeys(map(ord, ZERO_WIDTH))


class _RunSearch:
    """
    The audit records one lookup reads, to find the run of each request: at most
    :data:`MAX_RUNS_SEARCHED` records and :data:`MAX_RECORD_BYTES_PER_ANSWER` bytes of them in all,
    each read and parsed once and shared by the requests whose search meets it. A record longer than
    :data:`MAX_RECORD_BYTES`, or past the budget, is not read.

    :param queries: the reads (tables, dialect).
    :param cursor: the lookup's cursor.
    :param claims: the claims of the lookup's requests (only their tries' views are made).
    """

    def __init__(self, queries: DashboardQueries, cursor: Any, claims: set[str]) -> None:
        self.queries = queries
        self.cursor = cursor
        self.claims = claims
        self.records_read = 0
        self.bytes_left = MAX_RECORD_BYTES_PER_ANSWER
        #: By run id: the views of its tries by claim; None when its record was not read.
        self.tries: dict[str, dict[str, dict[str, Any]] | None] = {}
        #: By search: the run ids it meets, in order, and whether they are all there are.
        self.candidates: dict[tuple[str, str], tuple[list[str], bool]] = {}

    def run_of(self, key: str, requested_at: Any, erased_at: Any | None) -> tuple[dict[str, Any] | None, str]:
        """
        The try of the run whose export read the claim ``key`` (the run's latest record, or the record
        of the earlier try that read it, with that try's outcome and jobs), and how the search ended
        (:data:`RUN_FOUND`, :data:`RUN_NOT_FOUND`, :data:`RUN_SEARCH_INCOMPLETE`).

        Records are met in the order of the ``(recorded_at, run_id)`` index, at most
        :data:`MAX_RUNS_SEARCHED` per search: for an erased request the records of its ``erased_at``
        (a run marks its requests and writes its record at the same moment), then the later ones (a
        retried run writes its record again, keeping the earlier tries' records under
        ``earlier_records``); for a pending one the latest records since it was requested (each later
        run claims it again).
        """
        p = self.queries._p
        if erased_at is not None:
            searches = [
                (f"= {p} ORDER BY run_id", erased_at),
                (f"> {p} ORDER BY recorded_at, run_id", erased_at),
            ]
        else:
            searches = [(f">= {p} ORDER BY recorded_at DESC, run_id DESC", requested_at)]
        complete = True
        for condition, since in searches:
            when = valid_moment(since)
            if when is None:  # a malformed SQLite value: no range to search
                complete = False
                continue
            run_ids, all_met = self._candidates(condition, sql_timestamp(when))
            complete = complete and all_met
            for run_id in run_ids:
                tries = self._tries(run_id)
                if tries is None:
                    complete = False
                elif key in tries:
                    return tries[key], RUN_FOUND
        return None, RUN_NOT_FOUND if complete else RUN_SEARCH_INCOMPLETE

    def _candidates(self, condition: str, since: str) -> tuple[list[str], bool]:
        """The run ids a search meets (an index range, no record read), and whether that is all of them."""
        if (condition, since) not in self.candidates:
            self.cursor.execute(
                f"SELECT {_NAME.format(column='run_id')} FROM {self.queries.audit_table} "
                f"WHERE recorded_at {condition} "
                f"LIMIT {MAX_RUNS_SEARCHED + 1}",
                (since,),
            )
            run_ids = [run_id for (run_id,) in self.cursor.fetchall()]
            self.candidates[condition, since] = (
                run_ids[:MAX_RUNS_SEARCHED],
                len(run_ids) <= MAX_RUNS_SEARCHED,
            )
        return self.candidates[condition, since]

    def _tries(self, run_id: str) -> dict[str, dict[str, Any]] | None:
        """The views of a run's tries by claim, its record read once; None when it is not read."""
        if run_id in self.tries:
            return self.tries[run_id]
        if not _readable(run_id, 0):
            return None  # an id cut in the read cannot name its record
        if self.records_read >= MAX_RUNS_SEARCHED:
            return None  # the lookup's budget is spent
        self.records_read += 1
        limit = min(MAX_RECORD_BYTES, self.bytes_left)
        columns = self.queries._columns("recorded_at", "outcome")
        self.cursor.execute(
            f"SELECT {columns}, {self.queries._record_columns(limit)} "
            f"FROM {self.queries.audit_table} WHERE run_id = {self.queries._p}",
            (run_id,),
        )
        row = self.cursor.fetchone()
        tries: dict[str, dict[str, Any]] | None = {}
        if row is not None:  # None: the record was replaced since the search met it
            recorded_at, outcome, size, record = row
            if record is None:
                tries = None
            else:
                self.bytes_left -= int(size)
                tries = try_views(run_id, recorded_at, outcome, parse_json(record), self.claims)
        self.tries[run_id] = tries
        return tries

    def details(self, requests: list[tuple[str, Any, dict[str, Any]]]) -> None:
        """
        Read where each of the reappeared ``requests`` was found again (``reappeared``, from its
        ``details``), in order, within what is left of the lookup's bytes, which they use up first;
        one longer than :data:`MAX_DETAILS_BYTES` or past them, or of a request whose id was cut in the
        read, is not read (``reappeared_unread``). One statement for all of them.

        :param requests: each request's id as read, the bytes of its ``details`` (None: none stored),
            and the request.
        """
        chosen: dict[str, dict[str, Any]] = {}
        for request_id, size, request in requests:
            if size is None:
                continue  # none stored (or a requests table of 0.2, which has no such column)
            if not _readable(request_id, 0) or int(size) > min(MAX_DETAILS_BYTES, self.bytes_left):
                request["reappeared_unread"] = True
                continue
            self.bytes_left -= int(size)
            chosen[request_id] = request
        if not chosen:
            return
        size = _BYTES[self.queries._dialect].format(column=DETAILS_COLUMN)
        self.cursor.execute(
            f"SELECT request_id, {DETAILS_COLUMN} FROM {self.queries.requests_table} "
            f"WHERE request_id IN ({', '.join([self.queries._p] * len(chosen))}) "
            f"AND {size} <= {MAX_DETAILS_BYTES}",
            tuple(chosen),
        )
        for request_id, text in self.cursor.fetchall():
            if request_id in chosen:
                chosen[request_id]["reappeared"] = reappearance_view(text)

    def stored_records(self, requests: list[tuple[str, dict[str, Any]]]) -> None:
        """
        Read the stored record of each of ``requests`` (``erasure_record``), in order, within what is
        left of the lookup's bytes; one longer than :data:`MAX_RECORD_BYTES` or past them, or of a
        request whose id was cut in the read, is not read (``erasure_record_unread``).

        :param requests: each request's id as read, and the request.
        """
        for request_id, request in requests:
            if not _readable(request_id, 0):
                request["erasure_record_unread"] = True
                continue
            columns = self.queries._record_columns(min(MAX_RECORD_BYTES, self.bytes_left), "erasure_record")
            self.cursor.execute(
                f"SELECT {columns} FROM {self.queries.requests_table} WHERE request_id = {self.queries._p}",
                (request_id,),
            )
            size, text = self.cursor.fetchone() or (None, None)
            if size is None:
                continue  # no record stored
            if text is None:
                request["erasure_record_unread"] = True
                continue
            self.bytes_left -= int(size)
            request["erasure_record"] = parse_json(text)


@dataclass(frozen=True)
class FoundRequests:
    """
    What a lookup found.

    :param requests: the requests returned (at most :data:`MAX_REQUESTS_PER_LOOKUP`), oldest first.
    :param total: how many requests the user has (counted up to :data:`MAX_REQUESTS_COUNTED`).
    :param audit_records_read: the audit records the lookup read (at most :data:`MAX_RUNS_SEARCHED`).
    :param status_counts: the user's requests by status and whether reappeared (counted up to
        :data:`MAX_REQUESTS_COUNTED`, those not returned too).
    :param details_column: whether the requests table has the ``details`` column (0.2's has not).
    :param verification_rows: the verification rows of the groups shown since the earliest erasure.
    :param ledger: where the runs shown sit in the evidence ledger, by ``(kind, run id)``.
    """

    requests: list[dict[str, Any]]
    total: int
    audit_records_read: int = 0
    status_counts: Mapping[tuple[str, bool], int] = field(default_factory=dict)
    details_column: bool = True
    verification_rows: Sequence[VerificationRow] = ()
    ledger: Mapping[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    @property
    def truncated(self) -> bool:
        """Whether the user has more requests than were returned."""
        return self.total > len(self.requests)


def _decision(status: Any, months: Any, reason: Any, by: Any, at: Any, code: Any) -> dict[str, Any]:
    """
    A request's extension (``extension``: months, reason, who, when; None without one the deadline
    counts, :func:`.deadlines.valid_extension`) and, refused or unfulfillable, its reason code.
    """
    counted = valid_extension(months)
    return {
        "extension": {
            "months": counted,
            "reason": message(reason),
            "extended_by": name(by),
            "extended_at": timestamp(at),
        }
        if counted
        else None,
        "reason_code": name(code) if status in DECIDED else None,
    }


def _groups_of(requests: Sequence[Mapping[str, Any]]) -> set[str]:
    """The dataset groups of the runs that erased the requests (as their views show them)."""
    return {
        group["dataset_group_arn"]
        for request in requests
        if request["run"] and request["status"] == ERASED
        for group in request["run"]["dataset_groups"]
        if group["dataset_group_arn"]
    }


def _earliest_erasure(requests: Sequence[Mapping[str, Any]]) -> datetime | None:
    """The earliest erasure of the requests; None when none is erased."""
    moments = [valid_moment(request["erased_at"]) for request in requests if request["status"] == ERASED]
    return min((moment for moment in moments if moment is not None), default=None)


def _readable(key: str, record_bytes: int) -> bool:
    """
    Whether a stored record can be read: its key (run id, request id) as read is not cut (not longer
    than :data:`.MAX_NAME_CHARS`), and it is not longer than :data:`.MAX_RECORD_BYTES`.
    """
    return len(key) <= MAX_NAME_CHARS and record_bytes <= MAX_RECORD_BYTES


def _percentile_days(histogram: Mapping[int, int], fraction: float) -> float | None:
    """The ``fraction`` percentile (nearest rank) of a histogram of whole hours, in days."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for hours in sorted(histogram):
        seen += histogram[hours]
        if seen >= rank:
            return round(hours / 24, 1)
    raise AssertionError("unreachable: the ranks add up to the total")


def _days(first: date, last: date, per_day: Mapping[str, Mapping[str, int]]) -> list[dict[str, Any]]:
    """One entry per calendar day from ``first`` to ``last``, days without requests included."""
    empty = dict.fromkeys(CHART_SERIES, 0)
    return [
        {"day": day.isoformat(), **per_day.get(day.isoformat(), empty)}
        for day in (first + timedelta(days=offset) for offset in range((last - first).days + 1))
    ]


def _day(value: Any) -> str:
    """A day as SQLite (text) or PostgreSQL (a date) returns it, as ``YYYY-MM-DD``."""
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


__all__: Sequence[str] = ("DashboardQueries", "FoundRequests", "RunsCursor")
