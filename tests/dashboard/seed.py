"""
A warehouse as the example DAG leaves it, written the way the DAG writes it, for the dashboard's tests,
its browser test and its benchmark.

Requests are rows of the requests table; runs are audit records built by the DAG's own
:func:`~.outcome.group_outcomes` and written by :meth:`.ErasureRequestStore.write_audit`, with the
claim of the requests they erased.
"""

from __future__ import annotations

import dataclasses
import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_personalize_deletion.erasure import outcome as outcomes
from airflow_provider_personalize_deletion.erasure.store import (
    ERASED,
    PENDING,
    REJECTED,
    ErasureRequestStore,
    batch_key,
    sql_timestamp,
)

ACCOUNT = "arn:aws:personalize:us-east-1:123456789012"
SHOP = f"{ACCOUNT}:dataset-group/shop-recommendations"
NEWS = f"{ACCOUNT}:dataset-group/news-recommendations"


def job(
    group: str,
    name: str,
    status: str,
    num_deleted: int | None,
    created: datetime,
    *,
    round_number: int = 0,
    overlapping: list[dict[str, Any]] | None = None,
    failure_reason: str | None = None,
) -> dict[str, Any]:
    """A job description as ``record_erasure`` gathers it (DescribeDataDeletionJob plus the guard's keys)."""
    return {
        "jobName": name,
        "dataDeletionJobArn": f"{ACCOUNT}:data-deletion-job/{name}",
        "datasetGroupArn": group,
        "dataSource": {"dataLocation": "s3://personalize-erasure/erasure-runs/part-00000.csv"},
        "status": status,
        "numDeleted": num_deleted,
        "failureReason": failure_reason,
        "creationDateTime": created.isoformat(),
        "lastUpdatedDateTime": (created + timedelta(minutes=20)).isoformat(),
        outcomes.SUPERSEDED: [],
        outcomes.ROUND: round_number,
        outcomes.OVERLAP: overlapping if status == "COMPLETED" else None,
    }


def training(created: datetime) -> dict[str, Any]:
    """What a job overlapped: a solution version trained during it."""
    return {
        "kind": "solution_version",
        "arn": f"{ACCOUNT}:solution/shop/version-1",
        "status": "ACTIVE",
        "created": created.isoformat(),
        "last_updated": (created + timedelta(minutes=30)).isoformat(),
    }


@dataclass
class Run:
    """An erasure run: its id, when it recorded, its outcome and jobs; its claim is its requests' key."""

    run_id: str
    recorded_at: datetime
    outcome: str
    jobs: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    groups: Sequence[str] = (SHOP, NEWS)
    overdue: int = 0
    #: The try of the run (a cleared run tries again, under a claim of its own).
    try_number: int = 1

    @property
    def claim(self) -> str:
        return batch_key(f"{self.run_id}#{self.try_number}")

    def record(self, erased: int) -> dict[str, Any]:
        """The audit record, shaped as ``record_erasure`` writes it."""
        groups = outcomes.group_outcomes(self.groups, 1, self.jobs)
        return {
            "run_id": self.run_id,
            "outcome": self.outcome,
            "problems": self.problems,
            "dry_run": False,
            "collected_at": (self.recorded_at - timedelta(hours=1)).isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "requests": {"erased": erased, "claimed": erased, "overdue": self.overdue, "pending": erased},
            "export": {"claim": self.claim, "id_count": erased, "file_count": 1},
            "dataset_group_selection": {"selector": None, "arns": list(self.groups)},
            "follow_up_jobs": sum(1 for item in self.jobs if item[outcomes.ROUND] > 0),
            "dataset_groups": [group.as_record() for group in groups],
        }


class WarehouseSeeder:
    """
    Writes requests and runs into the tables of a store, as the intake and the example DAG would.

    :param store: the request store (tables created).
    """

    def __init__(self, store: ErasureRequestStore) -> None:
        self.store = store

    def request(
        self,
        user_id: str,
        requested_at: datetime,
        status: str = PENDING,
        *,
        run: Run | None = None,
        rejected: str | None = None,
        source: str = "privacy-portal",
    ) -> str:
        """
        Add one request; an erased one is erased by ``run`` (its claim, at its ``recorded_at``), a
        pending one with a ``run`` was claimed by that (failed) run. Return its request id.
        """
        request_id = f"req-{uuid.uuid4().hex[:16]}"
        record: dict[str, Any] | None = None
        if status == ERASED:
            assert run is not None, "an erased request is erased by a run"
            record = {"jobs": [{"job_arn": item["dataDeletionJobArn"]} for item in run.jobs]}
        elif status == REJECTED:
            record = {"rejected": rejected or "too_long"}
        self.rows(
            [
                (
                    request_id,
                    user_id,
                    sql_timestamp(requested_at),
                    source,
                    status,
                    run.claim if run else None,
                    sql_timestamp(run.recorded_at) if status == ERASED and run else None,
                    json.dumps(record) if record else None,
                )
            ]
        )
        return request_id

    def rows(self, rows: Sequence[tuple]) -> None:
        """Insert request rows as they are: (request_id, user_id, requested_at, source, status,
        batch_key, erased_at, erasure_record)."""
        p = self.store.hook.placeholder
        connection = self.store.hook.get_conn()
        try:
            cursor = connection.cursor()
            cursor.executemany(
                f"INSERT INTO {self.store.requests_table} (request_id, user_id, requested_at, source, "
                f"status, batch_key, erased_at, erasure_record) VALUES ({', '.join([p] * 8)})",
                rows,
            )
            connection.commit()
        finally:
            connection.close()

    def audit_row(self, run_id: str, recorded_at: str, outcome: str, record: str) -> None:
        """Insert an audit row as it is (any text, as a hostile or broken writer would leave it)."""
        p = self.store.hook.placeholder
        connection = self.store.hook.get_conn()
        try:
            connection.cursor().execute(
                f"INSERT INTO {self.store.audit_table} (run_id, recorded_at, outcome, record) "
                f"VALUES ({p}, {p}, {p}, {p})",
                (run_id, recorded_at, outcome, record),
            )
            connection.commit()
        finally:
            connection.close()

    def run(self, run: Run, erased: int = 0) -> Run:
        """Write the run's audit record."""
        self.store.write_audit(run.run_id, run.recorded_at, run.outcome, run.record(erased))
        return run

    def copies(self, run: Run, count: int, step: timedelta) -> list[Run]:
        """
        Write the records of ``count`` runs shaped as ``run`` (its groups and jobs, its record built
        once), each under its own id and claim, recorded ``step`` apart from ``run.recorded_at`` on.
        """
        record = run.record(0)
        copies = []
        for number in range(count):
            copy = dataclasses.replace(
                run, run_id=f"{run.run_id}-{number:03d}", recorded_at=run.recorded_at + step * number
            )
            self.store.write_audit(
                copy.run_id,
                copy.recorded_at,
                copy.outcome,
                {**record, "run_id": copy.run_id, "export": {**record["export"], "claim": copy.claim}},
            )
            copies.append(copy)
        return copies

    def same_requests(
        self, user_id: str, count: int, requested_at: datetime, status: str, claims: Sequence[Run | str]
    ) -> list[str]:
        """
        Add ``count`` requests of one user a second apart, each with the claim of ``claims`` in turn (a
        run, or a claim no run read); an erased one is erased by its run, with the run's jobs stored on
        it (the JSON made once). Return their request ids, oldest first.
        """
        stored: dict[str, str] = {}
        rows = []
        for number in range(count):
            claim = claims[number % len(claims)]
            run = claim if isinstance(claim, Run) else None
            if status == ERASED and run is not None and run.run_id not in stored:
                stored[run.run_id] = json.dumps(
                    {"jobs": [{"job_arn": item["dataDeletionJobArn"]} for item in run.jobs]}
                )
            rows.append(
                (
                    f"req-{number:04d}-{uuid.uuid4().hex[:8]}",
                    user_id,
                    sql_timestamp(requested_at + timedelta(seconds=number)),
                    "privacy-portal",
                    status,
                    run.claim if run else claim,
                    sql_timestamp(run.recorded_at) if status == ERASED and run else None,
                    stored.get(run.run_id) if status == ERASED and run else None,
                )
            )
        self.rows(rows)
        return [row[0] for row in rows]


def wide_run(run_id: str, recorded_at: datetime, groups: int, outcome: str = outcomes.ERASED) -> Run:
    """A run on ``groups`` dataset groups, one COMPLETED job in each (10,000: a hostile audit table's)."""
    arns = [f"{ACCOUNT}:dataset-group/group-{number:05d}" for number in range(groups)]
    started = recorded_at - timedelta(hours=1)
    jobs = [
        job(arn, f"erase-{number:05d}", "COMPLETED", 40, started, overlapping=[])
        for number, arn in enumerate(arns)
    ]
    return Run(run_id, recorded_at, outcome, jobs=jobs, groups=arns)


@dataclass
class SmallWorld:
    """What :func:`small_world` wrote, and the figures the dashboard must show for it."""

    now: datetime
    erased_run: Run
    failed_run: Run
    requests: dict[str, list[str]]
    pending: int = 3
    overdue: int = 1
    oldest_pending_days: int = 40
    erased: int = 3
    rejected: int = 1
    #: Hours from request to erasure of the three erased requests: 48, 48 and 600.
    median_days: float = 2.0
    p95_days: float = 25.0


def small_world(seeder: WarehouseSeeder, now: datetime, suffix: str = "") -> SmallWorld:
    """
    Two runs and seven requests of six users (alice asked twice), with known figures. A user's id is
    their name and ``suffix`` (e.g. a test's own token, for a scan that must tell them apart).

    ``alice`` asked 12 days ago (erased 10 days ago by the erased run) and again 4 days ago (pending,
    claimed by the failed run); ``bob`` 40 days ago (pending, overdue); ``carol`` 35 days ago (erased
    after 25 days); ``erin`` 12 days ago (erased); ``dave`` 5 days ago (rejected); ``frank`` today.
    """
    erased_at = now - timedelta(days=10)
    erased_run = seeder.run(
        Run(
            "scheduled__erasure-a",
            erased_at,
            outcomes.ERASED,
            jobs=[
                job(SHOP, "erase-shop-a", "COMPLETED", 3, erased_at - timedelta(hours=2), overlapping=[]),
                job(
                    NEWS,
                    "erase-news-a",
                    "COMPLETED",
                    2,
                    erased_at - timedelta(hours=2),
                    overlapping=[training(erased_at - timedelta(hours=2))],
                ),
                job(
                    NEWS,
                    "erase-news-a-1",
                    "COMPLETED",
                    2,
                    erased_at - timedelta(hours=1),
                    round_number=1,
                    overlapping=[],
                ),
            ],
            overdue=1,
        ),
        erased=3,
    )
    failed_at = now - timedelta(days=3)
    failed_run = seeder.run(
        Run(
            "manual__erasure-b",
            failed_at,
            outcomes.FAILED,
            jobs=[
                job(
                    SHOP,
                    "erase-shop-b",
                    "FAILED",
                    None,
                    failed_at - timedelta(hours=1),
                    failure_reason="Access denied to the deletion file",
                ),
                job(NEWS, "erase-news-b", "COMPLETED", 1, failed_at - timedelta(hours=1), overlapping=[]),
            ],
            problems=[f"{SHOP} is FAILED"],
        )
    )
    days = timedelta(days=1)
    requests = {
        "alice": [
            seeder.request("alice" + suffix, erased_at - 2 * days, ERASED, run=erased_run),
            seeder.request("alice" + suffix, now - 4 * days, PENDING, run=failed_run, source="support-desk"),
        ],
        "bob": [seeder.request("bob" + suffix, now - 40 * days)],
        "carol": [seeder.request("carol" + suffix, erased_at - 25 * days, ERASED, run=erased_run)],
        "erin": [seeder.request("erin" + suffix, erased_at - 2 * days, ERASED, run=erased_run)],
        "dave": [seeder.request("dave" + suffix, now - 5 * days, REJECTED, rejected="too_long")],
        "frank": [seeder.request("frank" + suffix, now)],
    }
    return SmallWorld(now, erased_run, failed_run, requests)


def busy_quarter(seeder: WarehouseSeeder, now: datetime, seed: int = 7) -> list[Run]:
    """
    Ninety days of a busy intake, for the screenshot and the benchmark's first look: a daily run (one
    in eight failed, one in six followed up after a training overlapped it), and about 30 requests a
    day, most erased by the next erased run (those since it pending), a few rejected, plus a backlog of
    five requests left pending since 35 to 50 days. Return the runs, oldest first.
    """
    rng = random.Random(seed)
    runs = []
    for days_ago in range(89, -1, -1):
        recorded_at = (now - timedelta(days=days_ago)).replace(hour=2, minute=15, second=0, microsecond=0)
        if recorded_at > now:
            continue
        failed = rng.random() < 1 / 8
        followed_up = not failed and (days_ago == 1 or rng.random() < 1 / 6)
        name = recorded_at.strftime("%Y%m%d")
        started = recorded_at - timedelta(hours=2)
        deleted = rng.randint(8, 40)
        jobs = [
            job(
                SHOP,
                f"erase-shop-{name}",
                "FAILED" if failed else "COMPLETED",
                None if failed else deleted,
                started,
                overlapping=[],
                failure_reason="Access denied" if failed else None,
            )
        ]
        if followed_up:
            jobs += [
                job(
                    NEWS,
                    f"erase-news-{name}",
                    "COMPLETED",
                    deleted - 3,
                    started,
                    overlapping=[training(started)],
                ),
                job(
                    NEWS,
                    f"erase-news-{name}-1",
                    "COMPLETED",
                    deleted - 3,
                    started + timedelta(hours=1),
                    round_number=1,
                    overlapping=[],
                ),
            ]
        else:
            jobs.append(job(NEWS, f"erase-news-{name}", "COMPLETED", deleted - 3, started, overlapping=[]))
        outcome = outcomes.FAILED if failed else outcomes.ERASED
        runs.append(
            Run(
                f"scheduled__{recorded_at.isoformat()}",
                recorded_at,
                outcome,
                jobs=jobs,
                problems=[f"{SHOP} is FAILED"] if failed else [],
            )
        )
    rows = []
    for days_ago in range(90, -1, -1):
        for number in range(rng.randint(18, 42)):
            requested_at = now - timedelta(days=days_ago, minutes=rng.randint(0, 1439))
            erasing = next(
                (run for run in runs if run.recorded_at > requested_at and run.outcome == outcomes.ERASED),
                None,
            )
            status, run = (ERASED, erasing) if erasing else (PENDING, None)
            if rng.random() < 0.02:
                status, run = REJECTED, None
            record = json.dumps({"rejected": "too_long"}) if status == REJECTED else None
            rows.append(
                (
                    f"req-{uuid.uuid4().hex[:16]}",
                    f"customer-{days_ago:02d}-{number:03d}",
                    sql_timestamp(requested_at),
                    "privacy-portal",
                    status,
                    run.claim if run else None,
                    sql_timestamp(run.recorded_at) if run else None,
                    record,
                )
            )
    for number in range(5):
        rows.append(
            (
                f"req-{uuid.uuid4().hex[:16]}",
                f"backlog-{number}",
                sql_timestamp(now - timedelta(days=35 + 3 * number)),
                "support-desk",
                PENDING,
                None,
                None,
                None,
            )
        )
    seeder.rows(rows)
    for run in runs:
        seeder.run(run, erased=sum(1 for row in rows if row[5] == run.claim))
    return runs
