"""The dashboard's reads, on SQLite and on a real PostgreSQL: figures, runs and their pages, lookups."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_personalize_deletion.dashboard.queries import (
    DashboardQueries,
    InvalidCursorError,
    RunsCursor,
)
from airflow_provider_personalize_deletion.erasure.deadlines import DAYS, Deadline
from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore
from tests.dashboard.seed import NEWS, SHOP, Run, WarehouseSeeder, job

#: The deadline the seeded figures are counted against.
THIRTY_DAYS = Deadline(DAYS, 30)


def queries_of(store: ErasureRequestStore) -> DashboardQueries:
    return DashboardQueries(store.hook, store.requests_table, store.audit_table)


def test_the_summary_counts_pending_and_overdue_requests_and_the_oldest_ones_age(store, world):
    summary = queries_of(store).summary(world.now, THIRTY_DAYS)

    assert (summary["pending"], summary["overdue"]) == (world.pending, world.overdue)
    assert summary["oldest_pending_days"] == pytest.approx(world.oldest_pending_days, abs=0.1)
    assert summary["deadline"] == {"rule": DAYS, "days": 30}


def test_the_deadline_setting_decides_what_is_overdue(store, world):
    assert (
        queries_of(store).summary(world.now, Deadline(DAYS, 3))["overdue"] == 2
    )  # bob (40 days) and alice (4 days)


def test_requests_by_day_hold_every_day_of_the_window_and_each_status(store, world):
    days = queries_of(store).summary(world.now, THIRTY_DAYS)["requests_by_day"]

    assert len(days) == 91 and days[-1]["day"] == world.now.date().isoformat()
    totals = {status: sum(day[status] for day in days) for status in ("pending", "erased", "rejected")}
    assert totals == {"pending": world.pending, "erased": world.erased, "rejected": world.rejected}
    forty_days_ago = (world.now - timedelta(days=40)).date().isoformat()
    assert next(day for day in days if day["day"] == forty_days_ago)["pending"] == 1


def test_the_time_to_erasure_has_its_median_and_95th_percentile(store, world):
    times = queries_of(store).summary(world.now, THIRTY_DAYS)["time_to_erasure"]

    assert times["erased"] == world.erased
    assert (times["median_days"], times["p95_days"]) == (world.median_days, world.p95_days)
    (week,) = times["weeks"]  # the three were erased by one run
    assert (week["erased"], week["median_days"], week["p95_days"]) == (3, 2.0, 25.0)


def test_an_empty_warehouse_has_no_time_to_erasure(store):
    summary = queries_of(store).summary(datetime.now(timezone.utc), THIRTY_DAYS)

    assert summary["pending"] == 0 and summary["oldest_pending_days"] is None
    assert summary["time_to_erasure"] == {
        "erased": 0,
        "erased_then_found_again": 0,
        "median_days": None,
        "p95_days": None,
        "weeks": [],
    }


def test_runs_come_newest_first_with_their_jobs_per_dataset_group(store, world):
    page = queries_of(store).runs(10)

    failed, erased = page["runs"]
    assert page["next"] is None
    assert (failed["run_id"], failed["outcome"]) == (world.failed_run.run_id, "failed")
    assert failed["problems"] == [f"{SHOP} is FAILED"]
    assert (erased["outcome"], erased["follow_up_jobs"]) == ("erased", 1)
    groups = {group["dataset_group_arn"]: group for group in erased["dataset_groups"]}
    assert groups[SHOP]["status"] == "COMPLETED"
    assert [(job["round"], job["num_deleted"]) for job in groups[NEWS]["jobs"]] == [(0, 2), (1, 2)]
    overlapped, follow_up = groups[NEWS]["jobs"]
    assert [item["kind"] for item in overlapped["overlapping_activity"]] == ["solution_version"]
    assert follow_up["overlapping_activity"] == []


def test_runs_are_paged_by_a_cursor(store, world):
    queries = queries_of(store)
    first = queries.runs(1)
    second = queries.runs(1, RunsCursor.decode(first["next"]))

    assert [run["run_id"] for run in first["runs"] + second["runs"]] == [
        world.failed_run.run_id,
        world.erased_run.run_id,
    ]
    assert second["next"] is None


def test_runs_recorded_in_the_same_second_are_each_on_one_page(store):
    seeder = WarehouseSeeder(store)
    moment = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
    for number in range(5):
        seeder.run(Run(f"run-{number}", moment, "nothing_to_erase", groups=[SHOP]))
    queries = queries_of(store)
    seen, cursor = [], None
    while True:
        page = queries.runs(2, RunsCursor.decode(cursor) if cursor else None)
        seen += [run["run_id"] for run in page["runs"]]
        if not (cursor := page["next"]):
            break
    assert seen == [f"run-{number}" for number in reversed(range(5))]


def test_a_page_asks_for_fifty_runs_at_most(store):
    seeder = WarehouseSeeder(store)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for number in range(52):
        seeder.run(Run(f"run-{number:02d}", start + timedelta(hours=number), "nothing_to_erase", groups=[]))
    page = queries_of(store).runs(500)
    assert len(page["runs"]) == 50 and page["next"] is not None


@pytest.mark.parametrize("token", ["not-base64!", "WzFd", "bnVsbA=="])
def test_a_cursor_not_written_by_the_dashboard_is_refused(token):
    with pytest.raises(InvalidCursorError, match="'before'"):
        RunsCursor.decode(token)


def test_one_run_is_read_by_its_id_and_a_run_without_a_record_is_none(store, world):
    queries = queries_of(store)
    assert queries.run(world.erased_run.run_id)["requests"]["erased"] == 3
    assert queries.run("manual__never-recorded") is None


def test_a_lookup_finds_a_users_requests_with_the_run_that_erased_or_claimed_each(store, world):
    found = queries_of(store).requests_of("alice").requests

    assert [request["request_id"] for request in found] == world.requests["alice"]
    erased, pending = found
    assert (erased["status"], erased["run"]["run_id"]) == ("erased", world.erased_run.run_id)
    assert erased["erased_at"] == world.erased_run.recorded_at.replace(microsecond=0).isoformat()
    assert (pending["status"], pending["run"]["run_id"]) == ("pending", world.failed_run.run_id)
    assert "alice" not in repr(found)


def test_a_lookup_of_an_unclaimed_or_unknown_user_finds_no_run_or_nothing(store, world):
    queries = queries_of(store)
    (bob,) = queries.requests_of("bob").requests
    assert bob["run"] is None and bob["status"] == "pending"
    assert queries.requests_of("someone-else").requests == []


def test_a_request_erased_by_a_cleared_runs_first_try_shows_that_try_not_the_later_failed_one(store, world):
    first = world.erased_run
    later = world.now - timedelta(days=1)
    failed_jobs = [job(SHOP, "erase-shop-try-2", "FAILED", None, later, failure_reason="x")]
    cleared = Run(first.run_id, later, "failed", jobs=failed_jobs, problems=["FAILED"], try_number=2)
    WarehouseSeeder(store).run(
        cleared
    )  # replaces the row; the first try's record moves under earlier_records

    (erased, _) = queries_of(store).requests_of("alice").requests
    run = erased["run"]
    assert (run["run_id"], run["outcome"], run["latest_try"]) == (first.run_id, "erased", False)
    assert run["recorded_at"] == first.recorded_at.isoformat()
    jobs = {item["job_name"]: item["status"] for group in run["dataset_groups"] for item in group["jobs"]}
    assert jobs == {item["jobName"]: "COMPLETED" for item in first.jobs}


def test_a_request_id_and_record_that_hold_sql_are_only_read(store):
    seeder = WarehouseSeeder(store)
    seeder.request("x'); DROP TABLE erasure_requests; --", datetime.now(timezone.utc))
    found = queries_of(store).requests_of("x'); DROP TABLE erasure_requests; --").requests
    summary = queries_of(store).summary(datetime.now(timezone.utc), THIRTY_DAYS)
    assert len(found) == 1 and summary["pending"] == 1


def test_the_run_of_a_request_is_found_among_many_later_runs_by_reading_a_bounded_number(store, world):
    seeder = WarehouseSeeder(store)
    for number in range(60):
        later = world.now - timedelta(days=2) + timedelta(minutes=number)  # after both runs
        seeder.run(Run(f"later-{number:02d}", later, "nothing_to_erase", groups=[]))

    (carol,) = queries_of(store).requests_of("carol").requests
    assert carol["run"]["run_id"] == world.erased_run.run_id  # read at its erased_at
    (_, pending) = queries_of(store).requests_of("alice").requests
    # its claiming run is more than 50 records back: not searched further, and the answer says so
    assert (pending["run"], pending["run_search"]) == (None, "incomplete")


def test_a_request_says_whether_its_run_was_found_or_not_searched(store, world):
    queries = queries_of(store)
    (erased, pending) = queries.requests_of("alice").requests
    assert (erased["run_search"], pending["run_search"]) == ("found", "found")
    (bob,) = queries.requests_of("bob").requests
    assert bob["run_search"] is None  # never claimed: no run to search
