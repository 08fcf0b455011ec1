"""
Each field the dashboard shows of a record or a column is capped, a malformed one is left out, and
neither is ever an error: an earlier try's outcome of 1 MB repeated by 100 requests, a job's field
nested near the JSON parser's limit, a timestamp that is no date, ids of 200,000 characters in a
SQLite table. On SQLite and PostgreSQL (the over-long columns on SQLite only: PostgreSQL refuses them).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_personalize_deletion.dashboard.evidence import evidence_csv
from airflow_provider_personalize_deletion.dashboard.queries import (
    MAX_ANSWER_BYTES,
    DashboardQueries,
    RunsCursor,
)
from airflow_provider_personalize_deletion.dashboard.views import MAX_NAME_CHARS, TEXT_CUT, parse_json
from airflow_provider_personalize_deletion.erasure.store import ERASED, PENDING, REJECTED, sql_timestamp
from tests.dashboard.seed import WarehouseSeeder
from tests.dashboard.test_bounds import record_of

#: What a lookup's header (settings, limits, counts) may add to the bound of its requests.
HEADER_BYTES = 16 * 1024
#: The claim of the earlier try that erased the requests, and of the run's latest try.
EARLIER_CLAIM, LATEST_CLAIM = "c" * 32, "d" * 32
RECORDED_AT = "2026-12-02 00:00:00"
#: The job fields the views copy, and the names a run's view shows them under.
JOB_FIELDS = ("jobName", "dataDeletionJobArn", "status", "numDeleted", "failureReason")
JOB_VIEW_FIELDS = ("job_name", "job_arn", "status", "num_deleted", "failure_reason")


def erased_requests(seeder: WarehouseSeeder, user_id: str, count: int, **columns: Any) -> None:
    """``count`` requests of ``user_id`` erased by the earlier try (its claim, at :data:`RECORDED_AT`)."""
    requested = datetime(2026, 11, 30, tzinfo=timezone.utc)
    seeder.rows(
        [
            (
                columns.get("request_id", f"req-{number:04d}"),
                user_id,
                sql_timestamp(requested + timedelta(seconds=number)),
                columns.get("source", "portal"),
                columns.get("status", ERASED),
                EARLIER_CLAIM,
                RECORDED_AT,
                columns.get("erasure_record"),
            )
            for number in range(count)
        ]
    )


def retried_run(seeder: WarehouseSeeder, earlier: dict[str, Any], run_id: str = "run-amp") -> None:
    """The audit row of a run retried once: its earlier try (``earlier``) read :data:`EARLIER_CLAIM`."""
    record = {
        "export": {"claim": LATEST_CLAIM},
        "earlier_records": [{"export": {"claim": EARLIER_CLAIM}, **earlier}],
    }
    seeder.audit_row(run_id, RECORDED_AT, "erased", json.dumps(record))


def queries_of(store) -> DashboardQueries:
    return DashboardQueries(store.hook, store.requests_table, store.audit_table)


def test_a_long_outcome_of_an_earlier_try_repeated_by_a_hundred_requests_is_cut_once_and_said(store):
    seeder = WarehouseSeeder(store)
    retried_run(seeder, {"outcome": "X" * 1_000_000})
    erased_requests(seeder, "victim-amp", 100)

    record = record_of(queries_of(store), "victim-amp")
    text = evidence_csv(record)

    run = record["requests"][0]["run"]
    assert (run["run_id"], run["latest_try"]) == ("run-amp", False)
    assert run["outcome"] == "X" * MAX_NAME_CHARS + TEXT_CUT
    assert record["texts_cut"] is True
    assert len(json.dumps(record)) <= MAX_ANSWER_BYTES + HEADER_BYTES
    assert len(text.encode()) <= 2 * (MAX_ANSWER_BYTES + HEADER_BYTES)
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == 100 and {row["texts_cut"] for row in rows} == {"true"}


def test_the_fields_of_each_request_count_once_per_csv_row_towards_the_answers_bytes(store):
    """
    A run of 2,000 jobs whose texts are at their cap erased 100 requests: 2,000 CSV rows repeating the
    request's, the run's and the group's fields would pass the bytes, so its groups are left out (plain
    ASCII: a CSV cell takes fewer bytes than its JSON, and the CSV stays within the bytes too).
    """
    seeder = WarehouseSeeder(store)
    jobs = [{"jobName": "j" * 300, "dataDeletionJobArn": "arn", "status": "COMPLETED"}] * 20
    groups = [{"dataset_group_arn": "a" * 300, "status": "ACTIVE", "jobs": jobs}] * 100
    retried_run(seeder, {"outcome": "o" * 5_000, "dataset_groups": groups}, run_id="r" * 250)
    erased_requests(seeder, "wide-fields", 100)

    record = record_of(queries_of(store), "wide-fields")
    text = evidence_csv(record)

    assert record["requests"][0]["run_search"] == "found"
    assert record["requests"][0]["dataset_groups_total"] == 100
    assert record["dataset_groups_left_out"] == 100
    assert len(json.dumps(record)) <= MAX_ANSWER_BYTES + HEADER_BYTES
    assert len(text.encode()) <= MAX_ANSWER_BYTES + HEADER_BYTES


def test_long_rejection_reasons_are_cut_and_said(store):
    seeder = WarehouseSeeder(store)
    reason = json.dumps({"rejected": "=" + "R" * 900_000})
    erased_requests(seeder, "rejected-amp", 100, status=REJECTED, erasure_record=reason)

    record = record_of(queries_of(store), "rejected-amp")

    first = record["requests"][0]["rejected_reason"]
    assert first.endswith(TEXT_CUT) and len(first) < 2_000
    assert record["texts_cut"] is True
    assert len(json.dumps(record)) <= MAX_ANSWER_BYTES + HEADER_BYTES


def test_over_long_columns_of_a_sqlite_warehouse_are_read_cut_and_the_runs_behind_them_unread(sqlite_store):
    seeder = WarehouseSeeder(sqlite_store)
    long = "L" * 200_000
    erased_requests(seeder, "long-columns", 1, request_id="q" + long, source="s" + long, status="t" + long)
    for number in range(3):
        seeder.audit_row(
            f"{number}{long}", RECORDED_AT, "o" + long, json.dumps({"export": {"claim": EARLIER_CLAIM}})
        )
    queries = FetchedTexts(sqlite_store)

    record = record_of(queries, "long-columns")
    page = queries.runs(10)

    (request,) = record["requests"]
    assert [request[key] for key in ("request_id", "source", "status")] == [
        first + "L" * (MAX_NAME_CHARS - 1) + TEXT_CUT for first in "qst"
    ]
    assert (request["run"], request["run_search"]) == (None, "incomplete")  # ids too long to name a record
    assert record["texts_cut"] is True
    assert [run["run_id"][0] for run in page["runs"]] == ["2", "1", "0"]
    assert {(len(run["run_id"]), run["record_unread"], run["texts_cut"]) for run in page["runs"]} == {
        (MAX_NAME_CHARS + len(TEXT_CUT), True, True)
    }
    assert len(json.dumps(page)) < 10_000
    assert queries.longest <= MAX_NAME_CHARS + 1  # no column but a record's fetched longer than its cap


class FetchedTexts(DashboardQueries):
    """The dashboard's reads, noting the longest text fetched in a column other than a stored record."""

    def __init__(self, store) -> None:
        super().__init__(store.hook, store.requests_table, store.audit_table)
        self.longest = 0

    def _cursor(self):
        import contextlib

        @contextlib.contextmanager
        def noting():
            with DashboardQueries._cursor(self) as cursor:
                yield _NotingCursor(cursor, self)

        return noting()


class _NotingCursor:
    def __init__(self, cursor: Any, queries: FetchedTexts) -> None:
        self._cursor, self._queries, self._record_last = cursor, queries, False

    def execute(self, sql: str, parameters: Any = ()) -> Any:
        self._record_last = "record END" in sql  # the last column is a stored record (bounded apart)
        return self._cursor.execute(sql, parameters)

    def _note(self, rows: list[Any]) -> list[Any]:
        for row in rows:
            cells = row[:-1] if self._record_last else row
            self._queries.longest = max(
                [self._queries.longest, *(len(c) for c in cells if isinstance(c, str))]
            )
        return rows

    def fetchall(self) -> list[Any]:
        return self._note(list(self._cursor.fetchall()))

    def fetchone(self) -> Any:
        row = self._cursor.fetchone()
        return row if row is None else self._note([row])[0]


def nested(depth: int) -> str:
    """JSON text of a value nested ``depth`` arrays deep: it parses, and may fail to encode again."""
    return "[" * depth + "]" * depth


def deep_record(field: str, depth: int) -> str:
    """An audit record whose one job's ``field`` (or its overlap's kind, its group's ARN, a problem) is
    nested ``depth`` deep."""
    job: dict[str, Any] = {"jobName": "erase", "dataDeletionJobArn": "arn:job", "status": "COMPLETED"}
    group = {"dataset_group_arn": "arn:group", "status": "ACTIVE", "jobs": [job]}
    record = {"export": {"claim": EARLIER_CLAIM}, "problems": ["p"], "dataset_groups": [group]}
    if field in JOB_FIELDS:
        job[field] = DEEP
    elif field == "overlappingActivity":
        job[field] = [{"kind": DEEP, "status": "ACTIVE"}]
    elif field == "dataset_group_arn":
        group[field] = DEEP
    else:
        record[field] = ["p", DEEP]
    return json.dumps(record).replace(json.dumps(DEEP), "[" * depth + "]" * depth)


#: Where :func:`deep_record` puts the nested value.
DEEP = "(nested)"


def deepest_parsed() -> int:
    """The deepest nesting of :func:`deep_record` that the parser reads from here (about 950 to 999: it
    depends on how deep the stack already is)."""
    low, high = 1, 2_000
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if parse_json(deep_record("jobName", middle)) else (low, middle - 1)
    return low


@pytest.mark.parametrize("below", [10, 30, 60])
@pytest.mark.parametrize("field", [*JOB_FIELDS, "overlappingActivity", "dataset_group_arn", "problems"])
def test_a_field_nested_near_the_parsers_limit_is_left_out_of_the_run_view(store, field, below):
    depth = deepest_parsed() - below
    WarehouseSeeder(store).audit_row("deep", RECORDED_AT, "erased", deep_record(field, depth))

    view = queries_of(store).run("deep")

    (group,) = view["dataset_groups"]
    (job,) = group["jobs"]
    shown = {
        **dict(zip(JOB_FIELDS, (job[name] for name in JOB_VIEW_FIELDS), strict=True)),
        "overlappingActivity": [item.get("kind") for item in job["overlapping_activity"] or []],
        "dataset_group_arn": group["dataset_group_arn"],
        "problems": view["problems"],
    }
    left_out = {"overlappingActivity": [None], "problems": ["p"]}.get(field)
    assert shown[field] == left_out
    assert json.loads(json.dumps(view)) == view


@pytest.mark.parametrize("format", ["json", "csv"])
def test_a_nested_job_field_is_no_error_of_the_runs_list_nor_the_lookup(api, store, format):
    from tests.dashboard.test_evidence import lookup, world_store

    seeder = WarehouseSeeder(world_store(None, api))
    seeder.audit_row("deep-api", RECORDED_AT, "erased", deep_record("jobName", deepest_parsed() - 10))
    erased_requests(seeder, "deep-victim", 2)
    client = api.login("officer")

    runs = client.get("/personalize-erasure/api/runs")
    answer = lookup(client, "deep-victim", format)

    assert (
        runs.status_code == 200 and runs.json()["runs"][0]["dataset_groups"][0]["jobs"][0]["job_name"] is None
    )
    assert answer.status_code == 200


@pytest.mark.parametrize(
    "recorded_at", ["not-a-date", "", "2026-13-45 99:00:00", 7, ["2026-12-01"], "9" * 100_000]
)
def test_a_malformed_recorded_at_of_an_earlier_try_is_left_out_not_an_error(store, recorded_at):
    seeder = WarehouseSeeder(store)
    retried_run(seeder, {"outcome": "failed", "recorded_at": recorded_at})
    erased_requests(seeder, "malformed", 2)

    record = record_of(queries_of(store), "malformed")

    run = record["requests"][0]["run"]
    assert (run["run_id"], run["outcome"], run["recorded_at"]) == ("run-amp", "failed", None)
    evidence_csv(record)


def test_a_malformed_recorded_at_is_no_warehouse_error_at_the_lookup(api, store):
    from tests.dashboard.test_evidence import lookup, world_store

    seeder = WarehouseSeeder(world_store(None, api))
    retried_run(seeder, {"outcome": "failed", "recorded_at": "not-a-date"})
    erased_requests(seeder, "malformed-api", 1)

    response = lookup(api.login("officer"), "malformed-api")

    assert response.status_code == 200, response.text
    assert response.json()["requests"][0]["run"]["recorded_at"] is None


def test_malformed_timestamps_of_a_sqlite_warehouse_are_left_out_not_errors(sqlite_store):
    seeder = WarehouseSeeder(sqlite_store)
    seeder.rows(
        [
            ("req-bad-time", "bad-time", "not-a-date", "portal", ERASED, EARLIER_CLAIM, "also-not", None),
            ("req-bad-pending", "other", "not-a-date", "portal", PENDING, None, None, None),
        ]
    )
    seeder.audit_row("bad-time-run", "never", "erased", json.dumps({"export": {"claim": EARLIER_CLAIM}}))
    seeder.audit_row("good-time-run", RECORDED_AT, "erased", "{}")
    queries = queries_of(sqlite_store)

    record = record_of(queries, "bad-time")
    page = queries.runs(1)
    following = queries.runs(1, RunsCursor.decode(page["next"]))
    summary = queries.summary(datetime.now(timezone.utc), 30)

    (request,) = record["requests"]
    assert (request["requested_at"], request["erased_at"], request["days_to_erasure"]) == (None, None, None)
    assert request["run_search"] == "incomplete"
    assert (page["runs"][0]["run_id"], page["runs"][0]["recorded_at"]) == ("bad-time-run", None)
    assert [run["run_id"] for run in following["runs"]] == ["good-time-run"]  # "never" sorts first, as text
    assert (summary["pending"], summary["oldest_pending_days"]) == (1, None)
    assert summary["time_to_erasure"]["erased"] == 0
