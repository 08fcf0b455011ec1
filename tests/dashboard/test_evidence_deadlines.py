"""
A person's evidence counts deadlines by the one rule of the overview (:mod:`.deadlines`): each request's
due date, its extension (who, when, why), a refused or unfulfillable request's reason code and who
decided; and a person whose id the retention replaced by its keyed hash is found by the typed id, never
by the text of the hash.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

from airflow_provider_personalize_deletion.dashboard.evidence import evidence_csv, evidence_record
from airflow_provider_personalize_deletion.dashboard.queries import DashboardQueries
from airflow_provider_personalize_deletion.erasure.decisions import decide_request
from airflow_provider_personalize_deletion.erasure.retention import pseudonymise_erased
from airflow_provider_personalize_deletion.erasure.settings import WarehouseSettings
from airflow_provider_personalize_deletion.erasure.suppression import user_digest
from airflow_provider_personalize_deletion.utils.fingerprint_key import fingerprint_key
from tests.dashboard.conftest import PREFIX
from tests.dashboard.test_deadlines import OFFICER, erase, request_id

SETTINGS = WarehouseSettings("warehouse", "erasure_requests", "erasure_audit", 30)
#: Received on 31 January 2026: due 28 February, 31 March with a month's extension.
RECEIVED = datetime(2026, 1, 31, 8, 0, tzinfo=timezone.utc)
ERASED_AT = datetime(2026, 3, 15, 9, 0, tzinfo=timezone.utc)
NOW = datetime(2026, 4, 20, 12, 0, tzinfo=timezone.utc)
LOOKUP = f"{PREFIX}/api/evidence"


def record_of(store, user_id: str) -> dict:
    queries = DashboardQueries(store.hook, store.requests_table, store.audit_table)
    return evidence_record(
        queries.requests_of(user_id),
        settings=SETTINGS,
        dag_id="dag",
        generated_at=NOW,
        generated_by="officer",
    )


def test_an_extended_request_is_due_at_the_end_of_its_extension_and_says_who_extended_it(store):
    erase(store, "extended", RECEIVED, ERASED_AT, months=1)
    erase(store, "not-extended", RECEIVED, ERASED_AT)

    record = record_of(store, "extended")
    (extended,) = record["requests"]
    (late,) = record_of(store, "not-extended")["requests"]

    assert record["deadline"] == {"rule": "calendar_month", "days": 30, "times_zone": "UTC"}
    assert extended["due_at"].startswith("2026-03-31T23:59:59") and extended["within_deadline"] is True
    assert extended["extension"] == {
        "months": 1,
        "reason": "complex",
        "extended_by": OFFICER,
        "extended_at": RECEIVED.isoformat(),
    }
    assert late["due_at"].startswith("2026-02-28T23:59:59") and late["within_deadline"] is False
    assert late["extension"] is None
    (row,) = csv.DictReader(io.StringIO(evidence_csv(record)))
    assert (row["extension_months"], row["extended_by"], row["within_deadline"]) == ("1", OFFICER, "true")


def test_a_pending_request_is_within_its_deadline_until_the_end_of_its_due_day(store):
    store.add_requests(["waiting"], "portal", RECEIVED)
    queries = DashboardQueries(store.hook, store.requests_table, store.audit_table)

    def within(now: datetime) -> bool:
        found = queries.requests_of("waiting")
        record = evidence_record(found, settings=SETTINGS, dag_id="dag", generated_at=now, generated_by="o")
        return record["requests"][0]["within_deadline"]

    # 28 days after receipt, and due that day: a flat 30 days would say on time two days longer
    assert within(datetime(2026, 2, 28, 23, 0, tzinfo=timezone.utc)) is True
    assert within(datetime(2026, 3, 1, 0, 30, tzinfo=timezone.utc)) is False


def test_a_refused_and_an_unfulfillable_request_show_their_reason_code_and_who_decided(store):
    store.add_requests(["refused-user", "unknown-user"], "portal", RECEIVED)
    decide_request(
        store, request_id(store, "refused-user"), "art17_3_e_legal_claims", OFFICER, RECEIVED, may_alter=False
    )
    decide_request(
        store, request_id(store, "unknown-user"), "cannot_identify", OFFICER, RECEIVED, may_alter=False
    )

    refused = record_of(store, "refused-user")
    unfulfillable = record_of(store, "unknown-user")

    (request,) = refused["requests"]
    assert (request["status"], request["within_deadline"]) == ("refused", None)
    assert request["decision"] == {
        "reason_code": "art17_3_e_legal_claims",
        "legal_basis": "GDPR art. 17(3)(e)",
        "decided_by": OFFICER,
        "decided_at": RECEIVED.isoformat(),
    }
    assert refused["status_now"]["status"] == "refused"
    assert unfulfillable["status_now"]["status"] == "unfulfillable"
    (row,) = csv.DictReader(io.StringIO(evidence_csv(unfulfillable)))
    assert (row["status"], row["reason_code"], row["decided_by"]) == (
        "unfulfillable",
        "cannot_identify",
        OFFICER,
    )


def test_a_retention_hashed_person_is_found_by_the_typed_id_and_the_hash_text_finds_nothing(
    api, sqlite_store
):
    erase(sqlite_store, "old-user", RECEIVED, ERASED_AT)
    sqlite_store.hook.run("UPDATE erasure_requests SET source = 'portal'")  # the helper's names the user
    pseudonymise_erased(sqlite_store, fingerprint_key(), datetime.now(timezone.utc))
    hashed = user_digest(fingerprint_key(), "old-user").hex()
    client = api.login("officer")

    found = client.post(LOOKUP, json={"user_id": "old-user"})
    with_spaces = client.post(LOOKUP, json={"user_id": " old-user "}).json()
    hash_with_spaces = client.post(LOOKUP, json={"user_id": f" {hashed} "}).json()
    hash_upper = client.post(LOOKUP, json={"user_id": hashed.upper()}).json()

    assert found.status_code == 200 and found.json()["request_count"] == 1
    assert "old-user" not in found.text and hashed not in found.text
    assert with_spaces["near_misses"]["trimmed_has_requests"] is True  # by the keyed hash of the trimmed id
    # the text of the hash is no id: it neither matches nor nearly matches
    assert hash_with_spaces["request_count"] == 0 and hash_upper["request_count"] == 0
    assert hash_with_spaces["near_misses"]["trimmed_has_requests"] is False
    assert hash_upper["near_misses"]["case_variants_exist"] is False
