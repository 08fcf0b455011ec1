"""
The overview's deadlines on SQLite and PostgreSQL: overdue by the calendar month of GDPR art. 12(3),
extensions counted; the requests erased late beside them; refused and unfulfillable requests by code.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_personalize_deletion.dashboard.queries import DashboardQueries
from airflow_provider_personalize_deletion.erasure.deadlines import CALENDAR_MONTH, DAYS, Deadline
from airflow_provider_personalize_deletion.erasure.decisions import decide_request, extend_request
from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore, batch_key
from tests.dashboard.conftest import PREFIX, option_env
from tests.erasure.test_store import KEY, exported

MONTH = Deadline(CALENDAR_MONTH)
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
OFFICER = "dpo@example.com"


def queries_of(store: ErasureRequestStore) -> DashboardQueries:
    return DashboardQueries(store.hook, store.requests_table, store.audit_table)


def request_id(store: ErasureRequestStore, user_id: str) -> str:
    p = store.hook.placeholder
    return store.hook.get_first(f"SELECT request_id FROM erasure_requests WHERE user_id = {p}", (user_id,))[0]


def erase(
    store: ErasureRequestStore, user_id: str, received: datetime, erased: datetime, months: int = 0
) -> None:
    store.add_requests([user_id], f"portal-{user_id}", received)
    if months:
        extend_request(
            store, request_id(store, user_id), months, "complex", OFFICER, received, MONTH, may_alter=False
        )
    key = batch_key(f"run-{user_id}")
    store.claim_pending(key)
    store.mark_erased(key, erased, {"jobs": []}, fingerprint_key=KEY, expected=exported(user_id))


def test_requests_erased_after_their_due_date_are_counted_late_beside_the_overdue_ones(store):
    erased = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
    erase(store, "late", datetime(2026, 1, 31, 8, 0, tzinfo=timezone.utc), erased)  # due 28 February
    erase(
        store, "extended", datetime(2026, 1, 31, 8, 0, tzinfo=timezone.utc), erased, months=1
    )  # due 31 March
    erase(store, "on-time", datetime(2026, 2, 1, 8, 0, tzinfo=timezone.utc), erased)  # due 1 March
    erase(store, "very-late", datetime(2025, 10, 1, 8, 0, tzinfo=timezone.utc), erased)
    erase(store, "late-long-ago", datetime(2025, 1, 1, tzinfo=timezone.utc), NOW - timedelta(days=120))

    summary = queries_of(store).summary(NOW, MONTH)

    assert (summary["overdue"], summary["erased_late"]) == (
        0,
        2,
    )  # the one erased 120 days ago is out of the window


def test_a_request_received_29_days_ago_is_overdue_after_a_february(store):
    store.add_requests(["due-9-march"], "portal", datetime(2026, 2, 9, 8, 0, tzinfo=timezone.utc))
    store.add_requests(["due-10-march"], "portal", datetime(2026, 2, 10, 8, 0, tzinfo=timezone.utc))

    assert queries_of(store).summary(NOW, MONTH)["overdue"] == 1
    assert queries_of(store).summary(NOW, Deadline(DAYS, 30))["overdue"] == 0


def test_refused_and_unfulfillable_requests_are_counted_by_reason_code(store):
    store.add_requests(["a", "b", "c", "d", "e"], "portal", NOW - timedelta(days=3))
    decide_request(store, request_id(store, "a"), "art17_3_e_legal_claims", OFFICER, NOW, may_alter=False)
    decide_request(store, request_id(store, "b"), "art17_3_e_legal_claims", OFFICER, NOW, may_alter=False)
    decide_request(store, request_id(store, "c"), "cannot_identify", OFFICER, NOW, may_alter=False)
    # written by hand into the table: a code that is none of ours counts as "other", and is not shown
    store.hook.run(
        "UPDATE erasure_requests SET status = 'refused', reason_code = 'because <b>' WHERE user_id = 'd'"
    )

    summary = queries_of(store).summary(NOW, MONTH)

    assert summary["decided"] == {
        "refused": {"art17_3_e_legal_claims": 2, "other": 1},
        "unfulfillable": {"cannot_identify": 1},
    }
    assert summary["pending"] == 1
    by_day = {
        status: sum(day[status] for day in summary["requests_by_day"])
        for status in ("refused", "unfulfillable")
    }
    assert by_day == {"refused": 3, "unfulfillable": 1}


@pytest.mark.parametrize(("rule", "overdue"), [("calendar_month", 1), ("days", 0)])
def test_the_api_counts_by_the_configured_rule_and_says_times_are_utc(
    api, sqlite_store, monkeypatch, rule, overdue
):
    now = datetime.now(timezone.utc)
    # received 32 days before today began: a calendar month (31 days at most) has passed, 40 days not
    received = datetime.combine(now.date(), datetime.min.time(), timezone.utc) - timedelta(days=32)
    sqlite_store.add_requests(["u1"], "portal", received)
    monkeypatch.setenv(option_env("dashboard_deadline"), rule)
    monkeypatch.setenv(option_env("dashboard_overdue_days"), "40")

    summary = api.login("reader").get(f"{PREFIX}/api/summary").json()

    assert summary["deadline"] == {"rule": rule, "days": 40}
    assert (summary["overdue"], summary["times_zone"]) == (overdue, "UTC")


def test_a_bad_deadline_option_is_refused_naming_it(api, sqlite_store, monkeypatch):
    monkeypatch.setenv(option_env("dashboard_deadline"), "fortnight")

    response = api.login("reader").get(f"{PREFIX}/api/summary")

    assert response.status_code == 500
    assert "[personalize_deletion] dashboard_deadline" in response.json()["detail"]
    assert "calendar_month, days" in response.json()["detail"]
