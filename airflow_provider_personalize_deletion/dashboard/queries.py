"""
The erasure dashboard's reads of the warehouse: bounded, indexed, on one plain DB-API connection.

Every query is bounded by a date window, a ``LIMIT`` or both, and reads through an index of
:meth:`.ErasureRequestStore.index_statements`. Figures are aggregated in SQL (counts per day, a
histogram of hours to erasure), so a read returns at most a few thousand rows whatever the size of
the tables. Reads go through a plain cursor, never ``DbApiHook.run``: that would hand the lookup's
user id to Airflow's hook lineage collector. Errors of the driver are raised as
:class:`~.sql_cursor.WarehouseError`, which never quotes a value.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_personalize_deletion.erasure.store import (
    ERASED,
    PENDING,
    REJECTED,
    is_batch_key,
    sql_timestamp,
)
from airflow_provider_personalize_deletion.transfers.sql_cursor import database_errors

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

#: The request statuses, in the order the charts stack them.
STATUSES = (PENDING, ERASED, REJECTED)
#: Days the charts look back.
WINDOW_DAYS = 90
#: Runs per page, at most.
MAX_RUNS_PER_PAGE = 50
#: Requests of one user the lookup returns, at most.
MAX_REQUESTS_PER_LOOKUP = 100
#: Requests of one user the lookup counts, at most, when it returns fewer than there are.
MAX_REQUESTS_COUNTED = 100_000
#: Audit records read, at most, to find the run that erased (or claimed) one request.
MAX_RUNS_SEARCHED = 50

#: SQL of a timestamp column's day, and of the whole seconds between two timestamp columns, by dialect.
_DAY = {"sqlite": "substr({column}, 1, 10)", "postgresql": "CAST({column} AS DATE)"}
_SECONDS = {
    "sqlite": "CAST(ROUND((julianday({end}) - julianday({start})) * 86400) AS INTEGER)",
    "postgresql": "CAST(EXTRACT(EPOCH FROM ({end} - {start})) AS BIGINT)",
}


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
            moment = sql_timestamp(_aware(datetime.fromisoformat(recorded_at)))
        except (ValueError, TypeError, OverflowError, binascii.Error, RecursionError):
            raise InvalidCursorError("'before' must be the cursor of a runs page") from None
        if not isinstance(run_id, str):
            raise InvalidCursorError("'before' must be the cursor of a runs page")
        return cls(moment, run_id)


class DashboardQueries:
    """
    The dashboard's reads of the erasure requests and audit tables.

    :param hook: the warehouse's hook (SQLite or PostgreSQL).
    :param requests_table: the erasure requests table (checked by the settings).
    :param audit_table: the audit table (checked by the settings).
    """

    def __init__(self, hook: DbApiHook, requests_table: str, audit_table: str) -> None:
        dialect = hook.dialect_name
        if dialect not in _DAY:
            raise UnsupportedWarehouseError(
                f"The erasure dashboard reads SQLite and PostgreSQL warehouses; this one is {dialect!r}"
            )
        self.hook = hook
        self.requests_table = requests_table
        self.audit_table = audit_table
        self._p = hook.placeholder
        self._dialect = dialect

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Any]:
        connection = self.hook.get_conn()
        try:
            yield connection.cursor()
        finally:
            connection.rollback()  # reads only: end the transaction PostgreSQL opened
            connection.close()

    @database_errors("Reading the erasure dashboard's figures")
    def summary(self, now: datetime, overdue_days: int) -> dict[str, Any]:
        """
        The overview: pending and overdue requests, the oldest pending one's age against the deadline,
        requests per day of request by their status now, and the time from request to erasure.

        :param now: the current time (aware).
        :param overdue_days: the deadline, in days.
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
            cursor.execute(
                f"SELECT COUNT(*) FROM {self.requests_table} WHERE status = {p} AND requested_at < {p}",
                (PENDING, sql_timestamp(now - timedelta(days=overdue_days))),
            )
            (overdue,) = cursor.fetchone()
            per_day: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATUSES, 0))
            for status in STATUSES:  # one range of the (status, requested_at) index each
                cursor.execute(
                    f"SELECT {day}, COUNT(*) FROM {self.requests_table} "
                    f"WHERE status = {p} AND requested_at >= {p} GROUP BY {day}",
                    (status, sql_timestamp(since)),
                )
                for when, count in cursor.fetchall():
                    per_day[_day(when)][status] = int(count)
            times = self._erasure_times(cursor, since)
        oldest_days = (now - _moment(oldest)).total_seconds() / 86400 if oldest is not None else None
        return {
            "generated_at": now.isoformat(),
            "window_days": WINDOW_DAYS,
            "deadline_days": overdue_days,
            "pending": int(pending),
            "overdue": int(overdue),
            "oldest_pending_days": None if oldest_days is None else round(oldest_days, 1),
            "requests_by_day": _days(since.date(), now.date(), per_day),
            "time_to_erasure": times,
        }

    def _erasure_times(self, cursor: Any, since: datetime) -> dict[str, Any]:
        """Median and 95th percentile of the days from request to erasure: overall and per week."""
        seconds = _SECONDS[self._dialect].format(start="requested_at", end="erased_at")
        day = _DAY[self._dialect].format(column="erased_at")
        hours = f"{seconds} / 3600"
        cursor.execute(
            f"SELECT {day}, {hours}, COUNT(*) FROM {self.requests_table} "
            f"WHERE erased_at >= {self._p} GROUP BY {day}, {hours}",
            (sql_timestamp(since),),
        )
        overall: Counter[int] = Counter()
        weekly: dict[date, Counter[int]] = defaultdict(Counter)
        for when, hour, count in cursor.fetchall():
            erased_on = date.fromisoformat(_day(when))
            overall[int(hour)] += int(count)
            weekly[erased_on - timedelta(days=erased_on.weekday())][int(hour)] += int(count)
        return {
            "erased": sum(overall.values()),
            "median_days": _percentile_days(overall, 0.5),
            "p95_days": _percentile_days(overall, 0.95),
            "weeks": [
                {
                    "week": week.isoformat(),
                    "erased": sum(histogram.values()),
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

        :param limit: runs per page (1 to :data:`MAX_RUNS_PER_PAGE`).
        :param before: the cursor of the previous page; None for the newest runs.
        :return: ``runs`` and ``next`` (the cursor of the next page, None on the last).
        """
        limit = max(1, min(limit, MAX_RUNS_PER_PAGE))
        p = self._p
        where = ""
        parameters: tuple[str, ...] = ()
        if before is not None:  # a row value comparison: one range of the (recorded_at, run_id) index
            where = f"WHERE (recorded_at, run_id) < ({p}, {p}) "
            parameters = (before.recorded_at, before.run_id)
        with self._cursor() as cursor:
            cursor.execute(
                f"SELECT run_id, recorded_at, outcome, record FROM {self.audit_table} {where}"
                f"ORDER BY recorded_at DESC, run_id DESC LIMIT {limit + 1}",
                parameters,
            )
            rows = cursor.fetchall()
        page = [run_view(*row) for row in rows[:limit]]
        last = rows[limit - 1] if len(rows) > limit else None
        return {
            "runs": page,
            "next": RunsCursor(sql_timestamp(_moment(last[1])), last[0]).encode() if last else None,
        }

    @database_errors("Reading an erasure run")
    def run(self, run_id: str) -> dict[str, Any] | None:
        """
        One run's view; None when the audit table holds no record of it.

        :param run_id: the DAG run's id.
        """
        with self._cursor() as cursor:
            cursor.execute(
                f"SELECT run_id, recorded_at, outcome, record FROM {self.audit_table} "
                f"WHERE run_id = {self._p}",
                (run_id,),
            )
            row = cursor.fetchone()
        return run_view(*row) if row else None

    @database_errors("Looking up the requests of a user")
    def requests_of(self, user_id: str) -> FoundRequests:
        """
        A user's requests, oldest first, each with the run that erased it (or last claimed it): the
        first :data:`MAX_REQUESTS_PER_LOOKUP`, and how many there are (counted up to
        :data:`MAX_REQUESTS_COUNTED`).

        The user id is a bind parameter of the queries and is not kept: the result names requests by
        ``request_id``.

        :param user_id: the user id, exactly as the requests table holds it.
        """
        p = self._p
        if self._dialect == "postgresql" and "\x00" in user_id:
            return FoundRequests([], 0)  # PostgreSQL's text cannot hold a NUL: no request has this id
        with self._cursor() as cursor:
            cursor.execute(
                f"SELECT request_id, source, status, requested_at, erased_at, batch_key, erasure_record "
                f"FROM {self.requests_table} WHERE user_id = {p} "
                f"ORDER BY requested_at, request_id LIMIT {MAX_REQUESTS_PER_LOOKUP + 1}",
                (user_id,),
            )
            rows = cursor.fetchall()
            total = len(rows)
            if total > MAX_REQUESTS_PER_LOOKUP:
                cursor.execute(
                    f"SELECT COUNT(*) FROM (SELECT 1 FROM {self.requests_table} WHERE user_id = {p} "
                    f"LIMIT {MAX_REQUESTS_COUNTED}) AS found",
                    (user_id,),
                )
                (total,) = cursor.fetchone()
            found = []
            for request_id, source, status, requested_at, erased_at, key, record in rows[
                :MAX_REQUESTS_PER_LOOKUP
            ]:
                run = self._claiming_run(cursor, key, requested_at, erased_at) if is_batch_key(key) else None
                found.append(
                    {
                        "request_id": request_id,
                        "source": source,
                        "status": status,
                        "requested_at": _moment(requested_at).isoformat(),
                        "erased_at": _moment(erased_at).isoformat() if erased_at is not None else None,
                        "erasure_record": _json(record),
                        "run": run,
                    }
                )
        return FoundRequests(found, int(total))

    def _claiming_run(
        self, cursor: Any, key: str, requested_at: Any, erased_at: Any | None
    ) -> dict[str, Any] | None:
        """
        The try of the run whose export read the claim ``key`` (the run's latest record, or the record
        of the earlier try that read it, with that try's outcome and jobs), among at most
        :data:`MAX_RUNS_SEARCHED` records read in the order of the ``(recorded_at, run_id)`` index:
        for an erased request the records of its ``erased_at`` (a run marks its requests and writes
        its record at the same moment), then the later ones (a retried run writes its record again,
        keeping the earlier tries' records under ``earlier_records``); for a pending one the latest
        records since it was requested (each later run claims it again).
        """
        select = f"SELECT run_id, recorded_at, outcome, record FROM {self.audit_table} WHERE recorded_at "
        p = self._p
        if erased_at is not None:
            searches = [
                (f"= {p} ORDER BY run_id", erased_at),
                (f"> {p} ORDER BY recorded_at, run_id", erased_at),
            ]
        else:
            searches = [(f">= {p} ORDER BY recorded_at DESC, run_id DESC", requested_at)]
        for condition, since in searches:
            cursor.execute(f"{select}{condition} LIMIT {MAX_RUNS_SEARCHED}", (sql_timestamp(_moment(since)),))
            for run_id, recorded_at, outcome, record_text in cursor.fetchall():
                record = _mapping(_json(record_text))
                if _claim(record) == key:
                    return run_view(run_id, recorded_at, outcome, record)
                for earlier in _list(record.get("earlier_records")):
                    earlier = _mapping(earlier)
                    if _claim(earlier) == key:
                        return run_view(
                            run_id,
                            _text(earlier.get("recorded_at")) or recorded_at,
                            _text(earlier.get("outcome")) or "unknown",
                            {**earlier, "earlier_records": []},
                            latest_try=False,
                        )
        return None


@dataclass(frozen=True)
class FoundRequests:
    """
    What a lookup found.

    :param requests: the requests returned (at most :data:`MAX_REQUESTS_PER_LOOKUP`), oldest first.
    :param total: how many requests the user has (counted up to :data:`MAX_REQUESTS_COUNTED`).
    """

    requests: list[dict[str, Any]]
    total: int

    @property
    def truncated(self) -> bool:
        """Whether the user has more requests than were returned."""
        return self.total > len(self.requests)


def run_view(
    run_id: str, recorded_at: Any, outcome: str, record: Any, *, latest_try: bool = True
) -> dict[str, Any]:
    """
    What the dashboard shows of a run's audit record: its outcome, request counts, problems, and
    per dataset group its status and jobs (status, ``numDeleted``, round, what overlapped them).

    A part of the record that is not shaped as the DAG writes it (a record that is not an object,
    a group or job that is not one, a count that is not a number) is left out, never an error.

    :param run_id: the DAG run's id.
    :param recorded_at: when the record was written.
    :param outcome: ``erased``, ``failed``, ``nothing_to_erase``.
    :param record: the audit record (JSON text, or parsed).
    :param latest_try: False for the record of an earlier try of the run (kept under ``earlier_records``).
    """
    record = _mapping(_json(record) if isinstance(record, str) else record)
    requests = _mapping(record.get("requests"))
    return {
        "run_id": run_id,
        "recorded_at": _moment(recorded_at).isoformat(),
        "outcome": outcome,
        "latest_try": latest_try,
        "requests": {key: value for key, value in requests.items() if _is_int(value)},
        "problems": [str(problem) for problem in _list(record.get("problems"))],
        "follow_up_jobs": _int(record.get("follow_up_jobs")),
        "earlier_tries": len(_list(record.get("earlier_records"))),
        "dataset_groups": [
            {
                "dataset_group_arn": _text(group.get("dataset_group_arn")),
                "status": _text(group.get("status")),
                "follow_up_jobs": _int(group.get("follow_up_jobs")),
                "jobs": [_job_view(job) for job in _list(group.get("jobs")) if isinstance(job, Mapping)],
            }
            for group in _list(record.get("dataset_groups"))
            if isinstance(group, Mapping)
        ],
    }


def _job_view(job: Mapping[str, Any]) -> dict[str, Any]:
    overlapping = job.get("overlappingActivity")
    return {
        "job_name": job.get("jobName"),
        "job_arn": job.get("dataDeletionJobArn"),
        "status": job.get("status"),
        "num_deleted": job.get("numDeleted"),
        "round": _int(job.get("erasureRound")),
        "overlapping_activity": [
            {key: item.get(key) for key in ("kind", "arn", "status") if key in item}
            for item in overlapping or []
            if isinstance(item, Mapping)
        ]
        if isinstance(overlapping, list)
        else None,
        "failure_reason": job.get("failureReason"),
    }


def _claim(record: Mapping[str, Any]) -> str | None:
    """The claim the export of one try of a run read."""
    return _text(_mapping(record.get("export")).get("claim"))


def _mapping(value: Any) -> Mapping[str, Any]:
    """A JSON object of a record; anything else (a malformed record) as an empty one."""
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    """A JSON array of a record; anything else (a malformed record) as an empty one."""
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(value: Any) -> int:
    """A count of a record; anything but a whole number (a malformed record) as 0."""
    return value if _is_int(value) else 0


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
    empty = dict.fromkeys(STATUSES, 0)
    return [
        {"day": day.isoformat(), **per_day.get(day.isoformat(), empty)}
        for day in (first + timedelta(days=offset) for offset in range((last - first).days + 1))
    ]


def _day(value: Any) -> str:
    """A day as SQLite (text) or PostgreSQL (a date) returns it, as ``YYYY-MM-DD``."""
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


def _moment(value: Any) -> datetime:
    """A timestamp as SQLite (text, UTC) or PostgreSQL (a naive datetime, UTC) returns it, aware."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return _aware(moment)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


__all__: Sequence[str] = ("DashboardQueries", "FoundRequests", "RunsCursor", "run_view")
