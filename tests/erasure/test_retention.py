"""
Retention on SQLite and PostgreSQL: past ``retention_days`` an erased request's user id becomes its keyed
hash (the suppression list's digest); the lookup finds it by hashing the typed id, the suppression list
still knows the user, and a re-key never takes a hash for an id.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from airflow_provider_personalize_deletion.dashboard.queries import DashboardQueries
from airflow_provider_personalize_deletion.erasure.rekey import rekey_suppression_list
from airflow_provider_personalize_deletion.erasure.retention import pseudonymise_erased
from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore, batch_key
from airflow_provider_personalize_deletion.erasure.suppression import SuppressionList, key_id, user_digest
from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from tests.erasure.test_store import KEY, NOW, exported
from tests.erasure.test_tables_setting import collect, groups_set  # noqa: F401 (a fixture)
from tests.plugins.warehouse import warehouse_store

NEW_KEY = b"the-new-fingerprint-key"


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path, monkeypatch) -> ErasureRequestStore:
    store = warehouse_store(request.param, request, tmp_path, monkeypatch)
    store.create_tables()
    return store


def erase(store: ErasureRequestStore, user_id: str, days_ago: int) -> None:
    """Add and erase a request of ``user_id``, erased ``days_ago`` days before NOW."""
    when = NOW - timedelta(days=days_ago)
    store.add_requests([user_id], f"portal-{user_id}", when - timedelta(days=5))
    key = batch_key(f"run-{user_id}")
    store.claim_pending(key)
    store.mark_erased(key, when, {"jobs": []}, fingerprint_key=KEY, expected=exported(user_id))


def user_ids(store: ErasureRequestStore) -> dict[str, str | None]:
    """The requests' user ids (or their hashes) by their user_key_id."""
    rows = store.hook.get_records("SELECT user_id, user_key_id FROM erasure_requests ORDER BY user_id")
    return dict(rows)


def test_only_the_requests_erased_before_the_period_get_the_hash_of_their_id(store):
    erase(store, "old-user", days_ago=100)
    erase(store, "recent-user", days_ago=10)
    store.add_requests(["pending-user"], "portal", NOW - timedelta(days=200))

    assert pseudonymise_erased(store, KEY, NOW - timedelta(days=90)) == 1

    hashed = user_digest(KEY, "old-user").hex()
    assert user_ids(store) == {hashed: key_id(KEY), "recent-user": None, "pending-user": None}
    (entry,) = store.hook.get_first(
        "SELECT COUNT(*) FROM erasure_suppression WHERE user_key = '" + hashed + "'"
    )
    assert entry == 1  # the same digest as the suppression list's
    assert pseudonymise_erased(store, KEY, NOW - timedelta(days=90)) == 0  # idempotent


def test_the_lookup_finds_a_hashed_request_by_the_typed_id_and_never_by_the_hash(store):
    erase(store, "old-user", days_ago=100)
    pseudonymise_erased(store, KEY, NOW - timedelta(days=90))
    with_key = DashboardQueries(store.hook, store.requests_table, store.audit_table, fingerprint_key=KEY)

    found = with_key.requests_of("old-user")

    assert found.total == 1 and found.requests[0]["status"] == "erased"
    assert with_key.requests_of(user_digest(KEY, "old-user").hex()).total == 0
    without_key = DashboardQueries(store.hook, store.requests_table, store.audit_table)
    assert without_key.requests_of("old-user").total == 0


def test_the_suppression_list_still_knows_a_hashed_user(store):
    erase(store, "old-user", days_ago=100)
    pseudonymise_erased(store, KEY, NOW - timedelta(days=90))

    assert SuppressionList(store.hook).contains(KEY, ["old-user", "someone-else"]) == [True, False]


def test_a_rekey_skips_hashed_requests_and_keeps_their_entries_under_the_old_key(store):
    erase(store, "old-user", days_ago=100)
    erase(store, "recent-user", days_ago=10)
    pseudonymise_erased(store, KEY, NOW - timedelta(days=90))

    report = rekey_suppression_list(store, NEW_KEY, old_keys=[KEY])

    assert (report.requests, report.added, report.replaced) == (1, 1, 1)
    assert report.kept == {key_id(KEY): 1}
    assert SuppressionList(store.hook).contains(NEW_KEY, ["recent-user", "old-user"], [KEY]) == [True, True]
    hash_as_id = user_digest(NEW_KEY, user_digest(KEY, "old-user").hex()).hex()
    (entries,) = store.hook.get_first(
        "SELECT COUNT(*) FROM erasure_suppression WHERE user_key = '" + hash_as_id + "'"
    )
    assert entries == 0


@pytest.mark.usefixtures("groups_set")
def test_an_erasure_run_applies_the_retention_setting(store, monkeypatch):
    erase(store, "old-user", days_ago=400)
    monkeypatch.setenv("AIRFLOW__PERSONALIZE_DELETION__FINGERPRINT_KEY", KEY.decode())
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_RETENTION_DAYS", "365")

    assert collect()["requests"]["ids_hashed"] == 1

    assert user_ids(store) == {user_digest(KEY, "old-user").hex(): key_id(KEY)}


@pytest.mark.usefixtures("groups_set")
@pytest.mark.parametrize("days", [1, 29])
def test_a_retention_shorter_than_30_days_is_refused_naming_the_setting(store, monkeypatch, days):
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_RETENTION_DAYS", json.dumps(days))

    with pytest.raises(PersonalizeValidationError, match=r"retention_days.*at least 30 days"):
        collect()
