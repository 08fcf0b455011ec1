"""
Dashboard benchmark: the erasure dashboard's data on 1,000,000 requests and 10,000 runs, in SQLite and
PostgreSQL.

Ours: the dashboard's reads (``DashboardQueries``) with the indexes ``ErasureRequestStore.create_tables``
makes. Baseline: the same reads on the same tables without those indexes (the tables as the example
DAG made them before the dashboard). For each endpoint, the figure is the median of several timings
of what the endpoint computes after authorization: its queries on a fresh connection, the evidence
record (lookups) and the JSON or CSV encoding. The plan of every statement (SQLite ``EXPLAIN QUERY
PLAN``, PostgreSQL ``EXPLAIN``) is printed once, with the indexes.

The data: two years of requests (one every ~63 s), each erased by the first successful run after it
(a run every ~1.75 h, one in eight failed, one in six followed up after an overlap), 1% rejected, the
requests since the last successful run pending, and 200 requests left pending 31 to 60 days (overdue);
one user in fifty asked twice. Audit records are shaped by the example DAG's own ``group_outcomes``.

Then the hostile audit tables of issue 18, each on a fresh warehouse: a run naming 10,000 dataset groups
(and one of 500, Personalize's default limit) whose claim 100 erased requests of one user hold; 100
pending requests whose claim no record holds, among 20 records of 10,000 groups. Each lookup (and the
run tab and runs list on those records) is timed and weighed against a normal lookup (a user who asked
twice, of a run on two groups) in the same warehouse and process: the ratios say what the hostile
table still costs. ``--hostile-only`` skips the 1,000,000 requests.

Run: ``.venv/bin/python benchmarks/dashboard.py [--quick] [--sources sqlite,postgres] [--hostile-only]``
"""

from __future__ import annotations

import bisect
import contextlib
import csv
import io
import json
import os
import re
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from _common import REPO, argument_parser, machine_description, markdown_table, median, ratio, scratch_dir
from _postgres import postgres_server
from _warehouse import store_of

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from airflow_provider_personalize_deletion.dashboard.evidence import evidence_csv, evidence_record
from airflow_provider_personalize_deletion.dashboard.queries import DashboardQueries, RunsCursor
from airflow_provider_personalize_deletion.erasure.settings import WarehouseSettings
from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore, sql_timestamp
from tests.dashboard.seed import NEWS, SHOP, Run, WarehouseSeeder, job, training, wide_run

SIZES = {"full": (1_000_000, 10_000), "quick": (100_000, 1_000)}
SOURCES = ("sqlite", "postgres")
REPEATS = 5
SPAN = timedelta(days=730)
SETTINGS = WarehouseSettings("warehouse", "erasure_requests", "erasure_audit", 30)
COLUMNS = "request_id, user_id, requested_at, source, status, batch_key, erased_at, erasure_record"


def make_runs(count: int, now: datetime) -> list[Run]:
    """``count`` runs evenly over :data:`SPAN` up to ``now``."""
    step = SPAN / count
    runs = []
    for number in range(count):
        recorded_at = (now - SPAN + step * (number + 1)).replace(microsecond=0)
        started = recorded_at - timedelta(minutes=50)
        failed, followed_up = number % 8 == 3, number % 6 == 1
        jobs = [
            job(
                SHOP,
                f"shop-{number}",
                "FAILED" if failed else "COMPLETED",
                None if failed else 40,
                started,
                overlapping=[],
                failure_reason="Access denied" if failed else None,
            ),
            job(
                NEWS,
                f"news-{number}",
                "COMPLETED",
                35,
                started,
                overlapping=[training(started)] if followed_up else [],
            ),
        ]
        if followed_up:
            jobs.append(
                job(
                    NEWS,
                    f"news-{number}-1",
                    "COMPLETED",
                    35,
                    started + timedelta(minutes=20),
                    round_number=1,
                    overlapping=[],
                )
            )
        problems = [f"{SHOP} is FAILED"] if failed else []
        runs.append(
            Run(
                f"scheduled__{recorded_at.isoformat()}",
                recorded_at,
                "failed" if failed else "erased",
                jobs=jobs,
                problems=problems,
            )
        )
    return runs


def request_rows(count: int, runs: list[Run], now: datetime) -> Iterator[tuple]:
    """The requests, as rows of the requests table (``COLUMNS``)."""
    erasing = [run for run in runs if run.outcome == "erased"]
    times = [run.recorded_at for run in erasing]
    step = SPAN / count
    for number in range(count):
        requested_at = now - SPAN + step * number
        user = f"user-{number - 1 if number % 50 == 1 else number:07d}"
        index = bisect.bisect_right(times, requested_at)
        if number % 100 == 7:
            yield (
                f"r{number:09d}",
                user,
                sql_timestamp(requested_at),
                "portal",
                "rejected",
                None,
                None,
                json.dumps({"rejected": "too_long"}),
            )
        elif index < len(erasing) and number % 5000 != 11:
            run = erasing[index]
            record = json.dumps({"jobs": [{"job_arn": item["dataDeletionJobArn"]} for item in run.jobs]})
            yield (
                f"r{number:09d}",
                user,
                sql_timestamp(requested_at),
                "portal",
                "erased",
                run.claim,
                sql_timestamp(run.recorded_at),
                record,
            )
        else:
            yield (f"r{number:09d}", user, sql_timestamp(requested_at), "portal", "pending", None, None, None)
    for number in range(200):  # the overdue backlog
        requested_at = now - timedelta(days=31 + number % 30, hours=number)
        yield (
            f"b{number:09d}",
            f"backlog-{number:04d}",
            sql_timestamp(requested_at),
            "support",
            "pending",
            None,
            None,
            None,
        )


def seed(store: ErasureRequestStore, source: str, requests: int, runs: list[Run], now: datetime) -> float:
    """Write the runs and requests without the dashboard's indexes; return the seconds it took."""
    started = time.perf_counter()
    store._create_tables()  # the tables only, as before the dashboard
    audit = [
        (run.run_id, sql_timestamp(run.recorded_at), run.outcome, json.dumps(run.record(40), sort_keys=True))
        for run in runs
    ]
    connection = store.hook.get_conn()
    try:
        cursor = connection.cursor()
        p = store.hook.placeholder
        cursor.executemany(
            f"INSERT INTO {store.audit_table} (run_id, recorded_at, outcome, record) "
            f"VALUES ({p}, {p}, {p}, {p})",
            audit,
        )
        rows = request_rows(requests, runs, now)
        if source == "sqlite":
            cursor.executemany(
                f"INSERT INTO {store.requests_table} ({COLUMNS}) VALUES ({', '.join('?' * 8)})", rows
            )
        else:
            buffer = io.StringIO()
            csv.writer(buffer).writerows(rows)
            buffer.seek(0)
            copy = f"COPY {store.requests_table} ({COLUMNS}) FROM STDIN WITH (FORMAT csv)"
            if hasattr(cursor, "copy_expert"):  # psycopg2
                cursor.copy_expert(copy, buffer)
            else:  # psycopg 3
                with cursor.copy(copy) as writer:
                    writer.write(buffer.getvalue())
        connection.commit()
    finally:
        connection.close()
    analyze(store, source)
    return time.perf_counter() - started


def analyze(store: ErasureRequestStore, source: str) -> None:
    """Fresh planner statistics (an index is used only when the planner knows it pays)."""
    connection = store.hook.get_conn()
    try:
        if source == "postgres":
            connection.autocommit = True
        # PostgreSQL: VACUUM as autovacuum would, so that index-only scans skip the heap.
        connection.cursor().execute("VACUUM ANALYZE" if source == "postgres" else "ANALYZE")
        if source == "sqlite":
            connection.commit()
    finally:
        connection.close()


class RecordingQueries(DashboardQueries):
    """The dashboard's reads, keeping the statements they ran (for their plans)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.statements: list[tuple[str, Any]] = []

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Any]:
        with super()._cursor() as cursor:
            queries = self

            class Recording:
                def execute(self, sql: str, parameters: Any = ()) -> Any:
                    queries.statements.append((sql, parameters))
                    return cursor.execute(sql, parameters)

                def __getattr__(self, name: str) -> Any:
                    return getattr(cursor, name)

            yield Recording()


def endpoints(now: datetime, runs: list[Run], user: str) -> dict[str, Callable[[DashboardQueries], Any]]:
    """What each endpoint computes, by the endpoint's name."""
    deep = RunsCursor(sql_timestamp(runs[len(runs) // 2].recorded_at), runs[len(runs) // 2].run_id)

    def record(queries: DashboardQueries) -> dict[str, Any]:
        return evidence_record(
            queries.requests_of(user), settings=SETTINGS, dag_id="dag", generated_at=now, generated_by="bench"
        )

    return {
        "GET /api/summary": lambda queries: json.dumps(queries.summary(now, 30)),
        "GET /api/runs (newest 10)": lambda queries: json.dumps(queries.runs(10)),
        f"GET /api/runs (10 before run {len(runs) // 2:,})": lambda queries: json.dumps(
            queries.runs(10, deep)
        ),
        "GET /api/run": lambda queries: json.dumps(queries.run(runs[len(runs) // 3].run_id)),
        "POST /api/evidence (JSON)": lambda queries: json.dumps(record(queries)),
        "POST /api/evidence (CSV)": lambda queries: evidence_csv(record(queries)),
    }


def timed(action: Callable[[], Any]) -> float:
    """Median seconds of :data:`REPEATS` runs, after one to warm the caches."""
    action()
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return median(timings)


def plans(store: ErasureRequestStore, source: str, statements: list[tuple[str, Any]]) -> list[str]:
    """The distinct plan lines of the statements."""
    lines: list[str] = []
    connection = store.hook.get_conn()
    try:
        cursor = connection.cursor()
        for sql, parameters in statements:
            explain = "EXPLAIN QUERY PLAN " if source == "sqlite" else "EXPLAIN "
            cursor.execute(explain + sql, parameters)
            found = [
                re.sub(r"\s*\(cost=[^)]*\)|->", "", row[-1] if source == "sqlite" else row[0])
                for row in cursor.fetchall()
            ]
            lines.append(
                " / ".join(
                    line.strip() for line in found if "SCAN" in line.upper() or "SEARCH" in line.upper()
                )
            )
        connection.rollback()
    finally:
        connection.close()
    return list(dict.fromkeys(line for line in lines if line))


def measure(source: str, location: str, requests: int, run_count: int) -> dict[str, Any]:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    store = store_of(source, location)
    runs = make_runs(run_count, now)
    seconds = seed(store, source, requests, runs, now)
    print(f"{source}: seeded {requests:,} requests and {run_count:,} runs in {seconds:.1f} s", flush=True)
    work = endpoints(now, runs, user=f"user-{requests // 2:07d}")  # a user who asked twice
    baseline = {
        name: timed(lambda action=action: action(DashboardQueries(store.hook, *TABLES)))
        for name, action in work.items()
    }
    started = time.perf_counter()
    failed = store.create_indexes()
    index_seconds = time.perf_counter() - started
    assert not failed, failed
    analyze(store, source)
    ours = {
        name: timed(lambda action=action: action(DashboardQueries(store.hook, *TABLES)))
        for name, action in work.items()
    }
    explained = {}
    for name, action in work.items():
        recording = RecordingQueries(store.hook, *TABLES)
        action(recording)
        explained[name] = plans(store, source, recording.statements)
    return {"ours": ours, "baseline": baseline, "index_seconds": index_seconds, "plans": explained}


TABLES = (SETTINGS.requests_table, SETTINGS.audit_table)


def hostile_endpoints(
    store: ErasureRequestStore, now: datetime
) -> dict[str, Callable[[DashboardQueries], str]]:
    """
    Seed the hostile tables of issue 18 (and a normal user, first) into ``store``; return what each
    endpoint computes on them, the normal lookup first.
    """
    from airflow_provider_personalize_deletion.erasure.store import ERASED, PENDING, batch_key

    seeder = WarehouseSeeder(store)
    days = timedelta(days=1)
    normal = seeder.run(Run("normal", now - 9 * days, "erased", jobs=make_runs(1, now - 9 * days)[0].jobs), 2)
    seeder.same_requests("normal-user", 2, now - 11 * days, ERASED, [normal])
    for groups, user, age in ((10_000, "wide-user", 8), (500, "limit-user", 7)):
        run = seeder.run(wide_run(f"wide-{groups}", now - age * days, groups), erased=100)
        seeder.same_requests(user, 100, now - (age + 2) * days, ERASED, [run])
    seeder.copies(wide_run("later", now - 5 * days, 10_000, "failed"), 20, timedelta(minutes=10))
    claims = [batch_key(f"never-recorded-{number}") for number in range(100)]
    seeder.same_requests("pending-user", 100, now - 10 * days, PENDING, claims)

    def lookup(user: str, format: str = "json") -> Callable[[DashboardQueries], str]:
        def answer(queries: DashboardQueries) -> str:
            record = evidence_record(
                queries.requests_of(user),
                settings=SETTINGS,
                dag_id="dag",
                generated_at=now,
                generated_by="bench",
            )
            return evidence_csv(record) if format == "csv" else json.dumps(record)

        return answer

    return {
        "lookup: 2 requests, a run on 2 groups (normal, baseline)": lookup("normal-user"),
        "lookup: 100 erased requests of a run on 10,000 groups (JSON)": lookup("wide-user"),
        "lookup: 100 erased requests of a run on 10,000 groups (CSV)": lookup("wide-user", "csv"),
        "lookup: 100 erased requests of a run on 500 groups (JSON)": lookup("limit-user"),
        "lookup: 100 erased requests of a run on 500 groups (CSV)": lookup("limit-user", "csv"),
        "lookup: 100 pending, no record holds their claim, 20 records of 10,000 groups": lookup(
            "pending-user"
        ),
        "GET /api/run: the run on 10,000 groups": lambda queries: json.dumps(queries.run("wide-10000")),
        "GET /api/run: the run on 500 groups": lambda queries: json.dumps(queries.run("wide-500")),
        "GET /api/runs (newest 10: records of 10,000 groups)": lambda queries: json.dumps(queries.runs(10)),
    }


def measure_hostile(source: str, location: str) -> list[list[str]]:
    """The hostile cases' rows: milliseconds and answer bytes, each against the normal lookup."""
    store = store_of(source, location)
    store.create_tables()
    started = time.perf_counter()
    work = hostile_endpoints(store, datetime.now(timezone.utc).replace(microsecond=0))
    print(f"{source}: seeded the hostile tables in {time.perf_counter() - started:.1f} s", flush=True)
    figures = {}
    for name, action in work.items():
        queries = DashboardQueries(store.hook, *TABLES)
        figures[name] = (timed(lambda action=action, queries=queries: action(queries)), len(action(queries)))
    base_seconds, base_bytes = next(iter(figures.values()))
    return [
        [name, f"{seconds * 1000:,.1f}", ratio(seconds, base_seconds), f"{size:,}", ratio(size, base_bytes)]
        for name, (seconds, size) in figures.items()
    ]


@contextlib.contextmanager
def warehouse(source: str) -> Iterator[str]:
    if source == "sqlite":
        with scratch_dir("ppd-bench-dashboard-") as folder:
            yield os.path.join(folder, "warehouse.db")
    else:
        with postgres_server() as uri:
            yield uri


def main() -> None:
    parser = argument_parser(__doc__.strip().splitlines()[0])
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument("--hostile-only", action="store_true", help="only the hostile audit tables")
    options = parser.parse_args()
    requests, run_count = SIZES["quick" if options.quick else "full"]
    print(machine_description())
    print(f"SQLite {sqlite3.sqlite_version}; {requests:,} requests, {run_count:,} runs\n")
    for source in options.sources.split(","):
        with warehouse(source) as location:
            rows = measure_hostile(source, location)
        print(f"\n### {source}: hostile audit tables (issue 18)\n")
        print(markdown_table(["answer", "ms", "ratio to normal", "bytes", "ratio to normal"], rows))
    for source in [] if options.hostile_only else options.sources.split(","):
        with warehouse(source) as location:
            result = measure(source, location, requests, run_count)
        rows = [
            [
                name,
                f"{result['ours'][name] * 1000:,.1f}",
                f"{result['baseline'][name] * 1000:,.1f}",
                ratio(result["ours"][name], result["baseline"][name]),
            ]
            for name in result["ours"]
        ]
        for label, names in (
            ("the page as it opens (summary and newest runs)", list(result["ours"])[:2]),
            ("every endpoint once", list(result["ours"])),
        ):
            ours, base = (sum(result[key][name] for name in names) for key in ("ours", "baseline"))
            rows.append(
                [
                    f"**{label}**",
                    f"**{ours * 1000:,.1f}**",
                    f"**{base * 1000:,.1f}**",
                    f"**{ratio(ours, base)}**",
                ]
            )
        print(f"\n### {source}: creating the indexes took {result['index_seconds']:.1f} s\n")
        print(markdown_table(["endpoint", "ms, indexed", "ms, no index (baseline)", "ratio"], rows))
        print("\nPlans, indexed:")
        for name, lines in result["plans"].items():
            print(f"- {name}: " + "; ".join(lines))


if __name__ == "__main__":
    main()
