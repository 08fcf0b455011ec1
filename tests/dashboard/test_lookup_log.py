"""
Who may look a person up, and the record of every lookup in Airflow's event log: a permission of its
own (SimpleAuthManager roles), the keyed hash of the id and never the id, the officer's search of who
looked a person up, the rate limit, and what a lookup that found nothing says (near misses).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from airflow_provider_personalize_deletion.dashboard.lookup_log import LOOKUP_EVENT, REFUSED_EVENT
from airflow_provider_personalize_deletion.erasure.suppression import user_digest
from tests.conftest import TEST_FINGERPRINT_KEY
from tests.dashboard.conftest import PREFIX, option_env
from tests.dashboard.seed import WarehouseSeeder

LOOKUP = f"{PREFIX}/api/evidence"
LOOKUPS = f"{PREFIX}/api/lookups"
#: An id that appears nowhere else, so that finding it anywhere is a leak.
SUBJECT = "lookup-subject-7c1e9a52-b0d4"


def keyed(user_id: str) -> str:
    return user_digest(TEST_FINGERPRINT_KEY.encode(), user_id).hex()


def test_a_viewer_and_an_operator_may_not_look_up_by_default(api, sqlite_world, events):
    for user in ("reader", "operator"):
        response = api.login(user).post(LOOKUP, json={"user_id": SUBJECT})
        assert response.status_code == 403, user
    assert events() == []  # refused before the body was read: nothing looked up, nothing recorded


def test_a_role_granted_the_lookup_may_look_up(api, sqlite_world, events, monkeypatch):
    monkeypatch.setenv(option_env("dashboard_lookup_roles"), "op, admin")
    assert api.login("operator").post(LOOKUP, json={"user_id": SUBJECT}).status_code == 200
    assert api.login("reader").post(LOOKUP, json={"user_id": SUBJECT}).status_code == 403


def test_an_unknown_role_in_the_setting_is_refused_naming_the_option(api, sqlite_world, monkeypatch):
    monkeypatch.setenv(option_env("dashboard_lookup_roles"), "officer")
    response = api.login("officer").post(LOOKUP, json={"user_id": SUBJECT})
    assert response.status_code == 500 and "dashboard_lookup_roles" in response.json()["detail"]


def test_each_lookup_is_in_the_event_log_with_the_user_the_count_and_the_keyed_hash(api, world, events):
    client = api.login("officer")
    assert client.post(LOOKUP, json={"user_id": "alice"}).status_code == 200
    assert client.post(LOOKUP, json={"user_id": SUBJECT}).status_code == 200

    alice, nobody = events()
    assert (alice["event"], alice["owner"]) == (LOOKUP_EVENT, "officer")
    assert alice["dttm"] is not None
    assert (
        json.loads(alice["extra"])["requests_found"] == 2
        and json.loads(nobody["extra"])["requests_found"] == 0
    )
    assert json.loads(nobody["extra"])["subject_key"] == keyed(SUBJECT)
    assert all(SUBJECT not in str(value) for row in events() for value in row.values())


def test_the_officer_finds_who_looked_a_person_up_by_typing_the_id_again(
    api, sqlite_world, events, monkeypatch
):
    monkeypatch.setenv(option_env("dashboard_lookup_roles"), "op,admin")
    api.login("operator").post(LOOKUP, json={"user_id": SUBJECT})
    api.login("officer").post(LOOKUP, json={"user_id": "someone-else"})

    answer = api.login("officer").post(LOOKUPS, json={"user_id": SUBJECT})

    assert answer.status_code == 200 and SUBJECT not in answer.text
    assert [(item["user"], item["what"]) for item in answer.json()["lookups"]] == [("operator", "evidence")]
    listed = api.login("officer").get(LOOKUPS).json()["lookups"]
    assert {item["user"] for item in listed} == {"operator", "officer"}  # the search is a lookup too


def test_a_lookup_flood_is_refused_per_user_and_recorded(api, sqlite_world, events, monkeypatch):
    monkeypatch.setenv(option_env("dashboard_lookups_per_hour"), "2")
    monkeypatch.setenv(option_env("dashboard_lookup_roles"), "op,admin")
    officer = api.login("officer")
    statuses = [officer.post(LOOKUP, json={"user_id": f"{SUBJECT}-{n}"}).status_code for n in range(4)]

    assert statuses == [200, 200, 429, 429]
    assert [row["event"] for row in events()] == [LOOKUP_EVENT] * 2 + [REFUSED_EVENT] * 2
    assert api.login("operator").post(LOOKUP, json={"user_id": SUBJECT}).status_code == 200  # per user


def test_no_lookup_without_the_fingerprint_key_to_record_it(api, sqlite_world, events, monkeypatch):
    monkeypatch.delenv("AIRFLOW__PERSONALIZE_DELETION__FINGERPRINT_KEY")
    response = api.login("officer").post(LOOKUP, json={"user_id": "alice"})
    assert response.status_code == 503 and "req-" not in response.text
    assert events() == []


NO_UNICODE_VARIANT = {"unicode_variant_has_requests": False}


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (
            "alice ",
            {
                "outer_whitespace": True,
                "trimmed_has_requests": True,
                "case_variants_exist": False,
                **NO_UNICODE_VARIANT,
            },
        ),
        (
            "\talice",
            {
                "outer_whitespace": True,
                "trimmed_has_requests": True,
                "case_variants_exist": False,
                **NO_UNICODE_VARIANT,
            },
        ),
        (
            "Alice",
            {
                "outer_whitespace": False,
                "trimmed_has_requests": False,
                "case_variants_exist": True,
                **NO_UNICODE_VARIANT,
            },
        ),
        (
            " ALICE ",
            {
                "outer_whitespace": True,
                "trimmed_has_requests": False,
                "case_variants_exist": True,
                **NO_UNICODE_VARIANT,
            },
        ),
        (
            "zed",
            {
                "outer_whitespace": False,
                "trimmed_has_requests": False,
                "case_variants_exist": False,
                **NO_UNICODE_VARIANT,
            },
        ),
    ],
)
def test_a_lookup_that_finds_nothing_says_what_nearly_matched_and_nothing_else(api, world, typed, expected):
    answer = api.login("officer").post(LOOKUP, json={"user_id": typed})

    record = answer.json()
    assert record["request_count"] == 0 and record["near_misses"] == expected
    assert "alice" not in answer.text.lower() and "req-" not in answer.text  # no other id or request


def test_a_lookup_that_finds_requests_reports_no_near_misses(api, world):
    record = api.login("officer").post(LOOKUP, json={"user_id": "alice"}).json()
    assert record["request_count"] == 2 and record["near_misses"] is None


def test_an_id_that_differs_from_another_only_by_case_is_matched_exactly(api, sqlite_store):
    seeder = WarehouseSeeder(sqlite_store)
    seeder.request("Customer-1", datetime.now(timezone.utc))
    seeder.request("customer-1", datetime.now(timezone.utc))
    record = api.login("officer").post(LOOKUP, json={"user_id": "customer-1"}).json()
    assert record["request_count"] == 1 and record["matching"].startswith("exact")


@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        ("Jos\u00e9-77", "Jose\u0301-77"),  # stored composed (NFC), pasted decomposed (NFD)
        ("Jose\u0301-78", "Jos\u00e9-78"),  # and the other way round
        ("customer-79", "customer\u200b-79"),  # a zero-width space pasted in
    ],
    ids=["nfd-typed", "nfc-typed", "zero-width"],
)
def test_a_lookup_says_when_the_id_in_another_unicode_form_has_requests(api, store, stored, typed):
    WarehouseSeeder(store).request(stored, datetime.now(timezone.utc))
    answer = api.login("officer").post(LOOKUP, json={"user_id": typed})

    record = answer.json()
    assert record["request_count"] == 0 and record["near_misses"]["unicode_variant_has_requests"] is True
    assert stored not in answer.text and "req-" not in answer.text
