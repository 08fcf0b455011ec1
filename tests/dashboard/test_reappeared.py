"""
A person erased and found again by the verification DAG: the lookup says "found again, pending
re-erasure" with where and when, then "erased" again with both erasures in the history; the overview's
erased figures leave them out, and it shows each dataset group's latest verification. The new fields
keep the lookup's bounds. A requests table of 0.2 (no ``details``) is read as far as it goes. On SQLite
and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_personalize_deletion.dashboard import queries as queries_module
from airflow_provider_personalize_deletion.dashboard.evidence import evidence_csv
from airflow_provider_personalize_deletion.dashboard.queries import (
    MAX_ANSWER_BYTES,
    MAX_DETAILS_BYTES,
    DashboardQueries,
)
from airflow_provider_personalize_deletion.dashboard.views import MAX_NAME_CHARS, TEXT_CUT
from airflow_provider_personalize_deletion.erasure import outcome as outcomes
from airflow_provider_personalize_deletion.erasure.reappearance import Reappearance, add_reappeared_requests
from airflow_provider_personalize_deletion.erasure.store import ERASED, REJECTED, sql_timestamp
from airflow_provider_personalize_deletion.erasure.verification import (
    DELETION_RUNNING,
    FOUND_AGAIN,
    NOT_VERIFIED,
    VERIFIED_ABSENT,
    DatasetVerification,
    record_verification,
)
from tests.dashboard.conftest import PREFIX
from tests.dashboard.seed import ACCOUNT, NEWS, SHOP, Run, WarehouseSeeder, job
from tests.dashboard.test_bounds import record_of

NOW = datetime.now(timezone.utc).replace(microsecond=0)
INTERACTIONS = f"{ACCOUNT}:dataset/shop-recommendations/INTERACTIONS"
USERS = f"{ACCOUNT}:dataset/shop-recommendations/USERS"
EXPORT = f"{ACCOUNT}:dataset-export-job/verify-1"
FOUND = Reappearance(SHOP, INTERACTIONS, EXPORT)
#: What a lookup's header (settings, limits, counts) may add to the bound of its requests.
HEADER_BYTES = 16 * 1024


def queries_of(store) -> DashboardQueries:
    return DashboardQueries(store.hook, store.requests_table, store.audit_table)


def erasure_run(seeder: WarehouseSeeder, run_id: str, recorded_at: datetime) -> Run:
    return seeder.run(
        Run(
            run_id,
            recorded_at,
            outcomes.ERASED,
            jobs=[
                job(SHOP, f"erase-{run_id}", "COMPLETED", 1, recorded_at - timedelta(hours=1), overlapping=[])
            ],
            groups=(SHOP,),
        ),
        erased=1,
    )


def erased_then_found_again(store, user_id: str = "zoe") -> tuple[str, datetime]:
    """``user_id`` erased 10 days ago, then found again 2 days ago by a verification (the real intake)."""
    seeder = WarehouseSeeder(store)
    first = erasure_run(seeder, "scheduled__first", NOW - timedelta(days=10))
    request_id = seeder.request(user_id, NOW - timedelta(days=12), ERASED, run=first)
    found_at = NOW - timedelta(days=2)
    assert add_reappeared_requests(store, [user_id], FOUND, found_at) == {"read": 1, "added": 1}
    return request_id, found_at


def erase_again(store, user_id: str = "zoe") -> Run:
    """The next erasure run erases the reappeared request (its claim, at its time)."""
    run = erasure_run(WarehouseSeeder(store), "scheduled__second", NOW - timedelta(days=1))
    p = store.hook.placeholder
    store.hook.run(
        f"UPDATE {store.requests_table} SET status = {p}, batch_key = {p}, erased_at = {p} "
        f"WHERE user_id = {p} AND source = 'reappeared'",
        parameters=(ERASED, run.claim, sql_timestamp(run.recorded_at), user_id),
    )
    return run


def test_a_person_found_again_is_shown_found_again_pending_re_erasure_with_where_and_when(store):
    first_request, found_at = erased_then_found_again(store)

    record = record_of(queries_of(store), "zoe")

    assert record["status_now"] == {
        "status": "found_again",
        "erased_requests": 1,
        "times_found_again": 1,
        "pending_re_erasure": 1,
    }
    erased, again = record["requests"]
    assert (erased["request_id"], erased["status"]) == (first_request, "erased")
    assert erased["found_again_by"] == again["request_id"]
    assert (again["source"], again["status"], again["erased_at"]) == ("reappeared", "pending", None)
    assert again["reappeared"] == {
        "dataset_group_arn": SHOP,
        "dataset_arn": INTERACTIONS,
        "export_job_arn": EXPORT,
        "found_at": found_at.isoformat(),
    }


def test_after_the_next_erasure_run_the_person_is_erased_again_with_both_erasures_in_the_history(store):
    erased_then_found_again(store)
    second = erase_again(store)

    record = record_of(queries_of(store), "zoe")

    assert record["status_now"]["status"] == "erased"
    assert (record["status_now"]["erased_requests"], record["status_now"]["times_found_again"]) == (2, 1)
    first, again = record["requests"]
    assert [request["status"] for request in record["requests"]] == ["erased", "erased"]
    assert (first["run"]["run_id"], again["run"]["run_id"]) == ("scheduled__first", second.run_id)
    assert again["reappeared"]["export_job_arn"] == EXPORT
    assert [job["job_name"] for group in again["dataset_groups"] for job in group["jobs"]] == [
        "erase-scheduled__second"
    ]


@pytest.mark.parametrize("format", ["json", "csv"])
def test_the_lookup_and_its_csv_say_found_again_and_where(api, store, format):
    _, found_at = erased_then_found_again(store, "zoe-api")

    response = api.login("officer").post(
        f"{PREFIX}/api/evidence", json={"user_id": "zoe-api", "format": format}
    )

    assert response.status_code == 200, response.text
    assert "zoe-api" not in response.text
    if format == "json":
        assert response.json()["status_now"]["status"] == "found_again"
        return
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert {row["status_now"] for row in rows} == {"found_again"}
    again = rows[-1]
    assert (again["source"], again["status"]) == ("reappeared", "pending")
    assert (again["reappeared_dataset_arn"], again["reappeared_export_job_arn"]) == (INTERACTIONS, EXPORT)
    assert again["reappeared_found_at"] == found_at.isoformat()
    assert rows[0]["found_again_by"] == again["request_id"]


def test_the_overview_does_not_count_a_person_found_again_as_erased(store, world):
    add_reappeared_requests(store, ["carol"], FOUND, NOW - timedelta(hours=1))

    summary = queries_of(store).summary(NOW, 30)

    assert summary["found_again"] == 1
    assert summary["pending"] == world.pending + 1
    times = summary["time_to_erasure"]
    assert (times["erased"], times["erased_then_found_again"]) == (world.erased - 1, 1)
    days = summary["requests_by_day"]
    assert sum(day["erased"] for day in days) == world.erased - 1
    assert sum(day["found_again"] for day in days) == 1


def shop_clean(store, run_id: str, days_ago: int, *others: DatasetVerification) -> None:
    """A verification run, ``days_ago``, that found both datasets of SHOP clean, and ``others``."""
    clean = [
        DatasetVerification(SHOP, arn, VERIFIED_ABSENT, export_job_arn=EXPORT)
        for arn in (INTERACTIONS, USERS)
    ]
    record_verification(store, run_id, NOW - timedelta(days=days_ago), [*clean, *others])


def test_the_overview_shows_each_groups_latest_verification_and_the_groups_never_verified(store, world):
    # the latest erasure run (the world's failed one) erased in SHOP and NEWS; no verification names NEWS
    other = f"{ACCOUNT}:dataset-group/old-catalogue"
    shop_clean(
        store, "scheduled__verify-1", 8, DatasetVerification(other, "", NOT_VERIFIED, reason=DELETION_RUNNING)
    )
    record_verification(
        store,
        "scheduled__verify-2",
        NOW - timedelta(days=1),
        [
            DatasetVerification(SHOP, INTERACTIONS, FOUND_AGAIN, users_found=2, requests_added=2),
            DatasetVerification(SHOP, USERS, NOT_VERIFIED, reason="export CREATE FAILED: access denied"),
        ],
    )

    verification = queries_of(store).summary(NOW, 30)["verification"]

    groups = {group["dataset_group_arn"]: group for group in verification["dataset_groups"]}
    assert set(groups) == {SHOP, NEWS, other}
    shop = groups[SHOP]
    assert (shop["status"], shop["run_id"], shop["users_found"]) == ("not_verified", "scheduled__verify-2", 2)
    assert shop["verified_at"] == (NOW - timedelta(days=1)).isoformat()
    assert shop["reasons"] == ["export CREATE FAILED: access denied"]
    datasets = {item["dataset_arn"]: item for item in shop["datasets"]}
    assert datasets[INTERACTIONS]["last_verified_at"] == (NOW - timedelta(days=1)).isoformat()
    assert datasets[USERS]["last_verified_at"] == (NOW - timedelta(days=8)).isoformat()
    assert (groups[other]["status"], groups[other]["reasons"]) == ("not_verified", [DELETION_RUNNING])
    assert groups[other]["datasets"][0]["last_verified_at"] is None  # never verified
    assert (groups[NEWS]["status"], groups[NEWS]["run_id"]) == ("never_verified", None)


def test_a_group_whose_every_dataset_was_verified_absent_is_clean(store):
    shop_clean(store, "scheduled__verify", 1)

    (shop,) = queries_of(store).summary(NOW, 30)["verification"]["dataset_groups"]

    assert (shop["status"], shop["users_found"], shop["reasons"]) == ("clean", 0, [])


def test_without_a_verification_table_every_group_erased_is_never_verified(store, world):
    verification = queries_of(store).summary(NOW, 30)["verification"]

    assert verification["table_exists"] is False
    assert {(group["dataset_group_arn"], group["status"]) for group in verification["dataset_groups"]} == {
        (SHOP, "never_verified"),
        (NEWS, "never_verified"),
    }


def hostile_details(store, user_id: str, details: str) -> None:
    """Write ``details`` on every reappeared request of ``user_id``, as a hostile writer could."""
    p = store.hook.placeholder
    store.hook.run(
        f"UPDATE {store.requests_table} SET details = {p} WHERE user_id = {p}", parameters=(details, user_id)
    )


#: The last columns of a pending request no run claimed: status, batch_key, erased_at, erasure_record.
PENDING_UNCLAIMED = ("pending", None, None, None)


def reappeared_rows(store, user_id: str, count: int) -> None:
    """``count`` pending reappeared requests of one user (one per source, as no intake would)."""
    WarehouseSeeder(store).rows(
        [
            (
                f"req-{n:04d}",
                user_id,
                sql_timestamp(NOW - timedelta(seconds=n)),
                "reappeared",
                *PENDING_UNCLAIMED,
            )
            for n in range(count)
        ]
    )


def test_long_texts_of_the_details_are_cut_said_and_the_answer_stays_bounded(store):
    reappeared_rows(store, "wide-details", 100)
    where = {key: "a" * 300 for key in ("dataset_group_arn", "dataset_arn", "export_job_arn")}
    hostile_details(store, "wide-details", json.dumps({"reappeared": {**where, "found_at": "x"}}))

    record = record_of(queries_of(store), "wide-details")

    shown = record["requests"][0]["reappeared"]
    assert shown["dataset_arn"] == "a" * MAX_NAME_CHARS + TEXT_CUT and shown["found_at"] is None
    assert record["texts_cut"] is True
    assert len(json.dumps(record)) <= MAX_ANSWER_BYTES + HEADER_BYTES
    rows = list(csv.DictReader(io.StringIO(evidence_csv(record), newline="")))
    assert len(rows) == 100 and {row["texts_cut"] for row in rows} == {"true"}


def test_details_longer_than_their_cap_are_not_read_and_said_unread(store):
    reappeared_rows(store, "huge-details", 3)
    hostile_details(
        store, "huge-details", json.dumps({"reappeared": {"dataset_arn": "b" * MAX_DETAILS_BYTES}})
    )

    record = record_of(queries_of(store), "huge-details")

    assert [request["reappeared_unread"] for request in record["requests"]] == [True] * 3
    assert [request["reappeared"] for request in record["requests"]] == [None] * 3
    assert len(json.dumps(record)) < 64 * 1024


def test_details_count_in_the_lookups_byte_budget_before_the_stored_records(store, monkeypatch):
    reappeared_rows(store, "budget", 5)
    details = json.dumps({"reappeared": {"dataset_arn": "d" * 900}})
    hostile_details(store, "budget", details)
    WarehouseSeeder(store).rows(  # a rejected request, whose stored reason the lookup reads last
        [("req-rejected", "budget", sql_timestamp(NOW), "portal", REJECTED, None, None, '{"rejected": "x"}')]
    )
    monkeypatch.setattr(queries_module, "MAX_RECORD_BYTES_PER_ANSWER", 3 * len(details) + 10)

    record = record_of(queries_of(store), "budget")

    reappeared = [request for request in record["requests"] if request["source"] == "reappeared"]
    assert [request["reappeared"] is not None for request in reappeared] == [True, True, True, False, False]
    assert [request["reappeared_unread"] for request in reappeared] == [False, False, False, True, True]
    rejected = record["requests"][-1]
    assert (rejected["status"], rejected["rejected_reason"]) == ("rejected", None)  # the budget is spent


TABLE_OF_0_2 = (
    "CREATE TABLE erasure_requests (request_id VARCHAR(64) PRIMARY KEY, user_id VARCHAR(1024), "
    "requested_at TIMESTAMP NOT NULL, source VARCHAR(64) NOT NULL, status VARCHAR(16) NOT NULL, "
    "batch_key VARCHAR(32), erased_at TIMESTAMP, erasure_record TEXT)"
)


def test_a_requests_table_of_0_2_is_read_as_far_as_it_goes(api, store):
    store.hook.run("DROP TABLE erasure_requests")
    store.hook.run(TABLE_OF_0_2)
    seeder = WarehouseSeeder(store)
    first = erasure_run(seeder, "scheduled__first", NOW - timedelta(days=10))
    seeder.request("old-table", NOW - timedelta(days=12), ERASED, run=first)
    client = api.login("officer")

    summary = client.get(f"{PREFIX}/api/summary")
    lookup = client.post(f"{PREFIX}/api/evidence", json={"user_id": "old-table"})
    exported = client.post(f"{PREFIX}/api/evidence", json={"user_id": "old-table", "format": "csv"})

    assert (summary.status_code, lookup.status_code, exported.status_code) == (200, 200, 200)
    assert summary.json()["time_to_erasure"]["erased"] == 1
    record = lookup.json()
    assert record["details_column"] is False
    assert record["status_now"]["status"] == "erased"
    assert record["requests"][0]["run"]["run_id"] == "scheduled__first"
