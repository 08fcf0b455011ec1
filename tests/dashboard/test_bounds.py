"""
The dashboard's answers are bounded whatever the audit table holds, and say what they leave out: a run
of 10,000 dataset groups, a user's 100 requests of one run, 100 pending requests whose claim no record
holds. On SQLite and PostgreSQL; the audit records a lookup reads are counted on the DB-API cursor.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_personalize_deletion.dashboard.evidence import (
    MAX_EVIDENCE_JOBS,
    evidence_csv,
    evidence_record,
)
from airflow_provider_personalize_deletion.dashboard.queries import (
    MAX_ANSWER_BYTES,
    MAX_RUNS_SEARCHED,
    DashboardQueries,
    RunsCursor,
)
from airflow_provider_personalize_deletion.dashboard.views import MAX_GROUPS_PER_RUN
from airflow_provider_personalize_deletion.erasure.settings import WarehouseSettings
from airflow_provider_personalize_deletion.erasure.store import (
    ERASED,
    PENDING,
    ErasureRequestStore,
    batch_key,
)
from tests.dashboard.seed import Run, WarehouseSeeder, wide_run

SETTINGS = WarehouseSettings("warehouse", "erasure_requests", "erasure_audit", 30)
#: What a bounded lookup answer may weigh: the groups' budget, plus 100 requests' own fields.
ANSWER_BOUND = MAX_ANSWER_BYTES + 100 * 2_000


class CountingQueries(DashboardQueries):
    """The dashboard's reads, counting the audit records whose text they fetched, by run id."""

    def __init__(self, store: ErasureRequestStore) -> None:
        super().__init__(store.hook, store.requests_table, store.audit_table)
        self.records: list[str] = []  # the record texts fetched
        self.record_statements = 0

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Any]:
        with super()._cursor() as cursor:
            yield _CountingCursor(cursor, self)


class _CountingCursor:
    """A DB-API cursor that counts the audit record texts its statements return (their last column)."""

    def __init__(self, cursor: Any, counts: CountingQueries) -> None:
        self._cursor, self._counts, self._reads_records = cursor, counts, False

    def execute(self, sql: str, parameters: Any = ()) -> Any:
        columns, _, source = sql.partition(" FROM ")
        self._reads_records = source.startswith(self._counts.audit_table) and "record" in columns
        self._counts.record_statements += self._reads_records
        return self._cursor.execute(sql, parameters)

    def _count(self, rows: list[Any]) -> list[Any]:
        if self._reads_records:
            self._counts.records += [row[-1] for row in rows if isinstance(row[-1], str)]
        return rows

    def fetchall(self) -> list[Any]:
        return self._count(list(self._cursor.fetchall()))

    def fetchone(self) -> Any:
        row = self._cursor.fetchone()
        if row is not None:
            self._count([row])
        return row

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def record_of(queries: DashboardQueries, user_id: str) -> dict[str, Any]:
    return evidence_record(
        queries.requests_of(user_id),
        settings=SETTINGS,
        dag_id="dag",
        generated_at=datetime.now(timezone.utc),
        generated_by="officer",
    )


NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def test_pending_requests_whose_claim_no_record_holds_read_each_record_once(store):
    seeder = WarehouseSeeder(store)
    seeder.copies(Run("later", NOW - timedelta(days=1), "failed", groups=[]), 20, timedelta(minutes=1))
    claims = [batch_key(f"never-recorded-{number}") for number in range(100)]
    seeder.same_requests("waiting", 100, NOW - timedelta(days=2), PENDING, claims)
    queries = CountingQueries(store)

    found = queries.requests_of("waiting")

    assert len(queries.records) == 20  # each of the 20 records once, not once per request
    assert found.audit_records_read == 20
    assert {(request["run"], request["run_search"]) for request in found.requests} == {(None, "not_found")}


def test_a_lookup_reads_fifty_audit_records_at_most_and_says_which_searches_stopped(store):
    seeder = WarehouseSeeder(store)
    seeder.copies(Run("later", NOW - timedelta(days=1), "failed", groups=[]), 80, timedelta(minutes=1))
    claims = [batch_key(f"never-recorded-{number}") for number in range(100)]
    seeder.same_requests("waiting", 100, NOW - timedelta(days=2), PENDING, claims)
    queries = CountingQueries(store)

    found = queries.requests_of("waiting")

    assert len(queries.records) <= MAX_RUNS_SEARCHED and queries.record_statements <= MAX_RUNS_SEARCHED
    assert {(request["run"], request["run_search"]) for request in found.requests} == {(None, "incomplete")}


def test_records_too_large_to_read_are_not_fetched_and_the_search_says_incomplete(store):
    seeder = WarehouseSeeder(store)
    seeder.copies(wide_run("wide", NOW - timedelta(days=1), 10_000, "failed"), 20, timedelta(minutes=1))
    claims = [batch_key(f"never-recorded-{number}") for number in range(100)]
    seeder.same_requests("waiting", 100, NOW - timedelta(days=2), PENDING, claims)
    queries = CountingQueries(store)

    record = record_of(queries, "waiting")

    assert queries.records == []  # no record of 6 MB fetched, let alone parsed 100 times
    assert {(request["run"], request["run_search"]) for request in record["requests"]} == {
        (None, "incomplete")
    }
    assert len(json.dumps(record)) < ANSWER_BOUND


def test_the_requests_of_one_wide_run_share_its_record_and_the_answer_is_bounded(store):
    seeder = WarehouseSeeder(store)
    run = seeder.run(wide_run("wide", NOW - timedelta(days=1), 500), erased=100)
    seeder.same_requests("many", 100, NOW - timedelta(days=3), ERASED, [run])
    queries = CountingQueries(store)

    record = record_of(queries, "many")
    text = evidence_csv(record)

    assert len(queries.records) == 1 and record["audit_records_read"] == 1
    first, last = record["requests"][0], record["requests"][-1]
    assert (first["run"]["run_id"], first["run_search"]) == ("wide", "found")
    assert (first["dataset_groups_total"], first["dataset_groups_truncated"]) == (500, True)
    assert len(first["dataset_groups"]) == MAX_GROUPS_PER_RUN
    assert (last["dataset_groups"], last["dataset_groups_truncated"]) == (
        [],
        True,
    )  # past the answer's budget
    assert record["dataset_groups_left_out"] > 0
    assert len(json.dumps(record)) < ANSWER_BOUND
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) <= MAX_EVIDENCE_JOBS + 100
    assert {(row["dataset_groups_total"], row["dataset_groups_truncated"]) for row in rows} == {
        ("500", "true")
    }


def test_the_requests_of_a_run_of_ten_thousand_groups_get_a_bounded_answer_that_says_so(store):
    seeder = WarehouseSeeder(store)
    run = seeder.run(wide_run("wide", NOW - timedelta(days=1), 10_000), erased=100)
    seeder.same_requests("many", 100, NOW - timedelta(days=3), ERASED, [run])
    queries = CountingQueries(store)

    record = record_of(queries, "many")
    text = evidence_csv(record)

    assert all(len(item) <= 1024 * 1024 for item in queries.records)  # the 6 MB record is not fetched
    for request in record["requests"]:  # the jobs stored on it instead, bounded, or unread
        assert (request["run"], request["run_search"]) == (None, "incomplete")
        assert request["dataset_groups_truncated"] or request["dataset_groups"][0]["jobs_truncated"]
    assert len(json.dumps(record)) < ANSWER_BOUND and len(text) < 4 * ANSWER_BOUND
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["run_search"] for row in rows} == {"incomplete"}
    assert all(
        "true" in (row["dataset_groups_truncated"], row["dataset_group_jobs_truncated"]) for row in rows
    )


def test_the_run_tab_shows_a_wide_run_bounded_and_says_so(store):
    seeder = WarehouseSeeder(store)
    seeder.run(wide_run("wide", NOW, 500))
    seeder.run(wide_run("very-wide", NOW, 10_000))
    queries = DashboardQueries(store.hook, store.requests_table, store.audit_table)

    wide, very_wide = queries.run("wide"), queries.run("very-wide")

    assert (wide["dataset_groups_total"], wide["dataset_groups_truncated"]) == (500, True)
    assert len(wide["dataset_groups"]) == MAX_GROUPS_PER_RUN
    assert (very_wide["record_too_large"], very_wide["dataset_groups_truncated"]) == (True, True)
    assert very_wide["record_bytes"] > 5_000_000 and len(json.dumps(very_wide)) < 10_000


def test_the_runs_list_ends_a_page_early_rather_than_read_or_send_too_much(store):
    seeder = WarehouseSeeder(store)
    seeder.copies(wide_run("wide", NOW - timedelta(days=1), 1_500), 6, timedelta(minutes=1))  # ~0.9 MB each
    seeder.run(wide_run("very-wide", NOW, 10_000))
    queries = CountingQueries(store)

    first = queries.runs(10)
    seen = [run["run_id"] for run in first["runs"]]
    cursor = first["next"]
    while cursor:
        page = queries.runs(10, RunsCursor.decode(cursor))
        seen += [run["run_id"] for run in page["runs"]]
        cursor = page["next"]

    assert first["runs"][0]["record_too_large"] is True
    assert len(first["runs"]) < 7 and first["next"] is not None
    assert seen == ["very-wide", *(f"wide-{number:03d}" for number in reversed(range(6)))]
    assert len(json.dumps(first)) <= MAX_ANSWER_BYTES + 1024 * 1024


@pytest.mark.parametrize("format", ["json", "csv"])
def test_the_lookup_answer_says_its_truncation(api, store, format):
    from tests.dashboard.test_evidence import lookup, world_store

    seeder = WarehouseSeeder(world_store(None, api))
    run = seeder.run(wide_run("wide", datetime.now(timezone.utc) - timedelta(days=1), 500), erased=100)
    seeder.same_requests("api-many", 100, datetime.now(timezone.utc) - timedelta(days=3), ERASED, [run])

    response = lookup(api.login("officer"), "api-many", format)

    assert response.status_code == 200 and len(response.content) < 4 * ANSWER_BOUND
    if format == "json":
        record = response.json()
        assert record["requests"][0]["dataset_groups_truncated"] is True
        assert record["limits"]["audit_records_read"] == MAX_RUNS_SEARCHED
    else:
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert rows[0]["dataset_groups_truncated"] == "true" and rows[0]["run_search"] == "found"
