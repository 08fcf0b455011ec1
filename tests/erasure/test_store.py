"""ErasureRequestStore on SQLite and on a real PostgreSQL server: claims, marks, audit."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_personalize_deletion.deletion_file.builder import DeletionFileBuilder
from airflow_provider_personalize_deletion.deletion_file.csv_file import MIN_FILE_BYTES
from airflow_provider_personalize_deletion.erasure.deadlines import DAYS, Deadline
from airflow_provider_personalize_deletion.erasure.store import (
    ClaimChangedError,
    ErasureRequestStore,
    batch_key,
)
from tests.plugins.warehouse import warehouse_store

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
KEY = b"test-fingerprint-key"


def exported(*user_ids: str) -> tuple[int, str]:
    """The count and fingerprint an export of these ids has."""
    with DeletionFileBuilder(MIN_FILE_BYTES, fingerprint_key=KEY) as builder:
        builder.add(sorted(user_ids))
        builder.count_and_fingerprint()
        return builder.unique_count, builder.fingerprint


def mark(store: ErasureRequestStore, key: str, *read: str, record=None) -> int:
    """Mark the claim erased as the record step does, the export having read ``read``: how many are erased."""
    marked = store.mark_erased(
        key, NOW, record or {"jobs": []}, fingerprint_key=KEY, expected=exported(*read)
    )
    return marked.erased


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path, monkeypatch) -> ErasureRequestStore:
    """Each test runs once on SQLite and once on PostgreSQL."""
    store = warehouse_store(request.param, request, tmp_path, monkeypatch, sqlite_conn_id="store_warehouse")
    store.create_tables()
    return store


def test_the_same_request_is_added_once(store):
    assert store.add_requests(["u1", "u2", "u1"], "portal", NOW) == 2
    assert store.add_requests(["u2", "u3"], "portal", NOW) == 1
    assert store.count_pending() == 3


def test_a_claim_takes_the_pending_requests_and_not_those_that_come_later(store):
    store.add_requests(["u1", "u2"], "portal", NOW)
    key = batch_key("run-1")
    assert store.claim_pending(key) == 2
    store.add_requests(["u3"], "portal", NOW)
    assert mark(store, key, "u1", "u2") == 2
    assert store.count_pending() == 1
    rows = dict(store.hook.get_records("SELECT user_id, status FROM erasure_requests"))
    assert rows == {"u1": "erased", "u2": "erased", "u3": "pending"}


def test_the_export_query_lists_the_claimed_users_in_order(store):
    store.add_requests(["b", "a", "c"], "portal", NOW)
    key = batch_key("run-1")
    store.claim_pending(key)
    assert [row[0] for row in store.hook.get_records(store.export_sql(key))] == ["a", "b", "c"]


def test_a_later_run_reclaims_what_a_failed_run_left_pending(store):
    store.add_requests(["u1"], "portal", NOW)
    store.claim_pending(batch_key("run-1"))
    assert store.claim_pending(batch_key("run-2")) == 1
    assert store.count_claimed(batch_key("run-1")) == 0


def test_overdue_counts_only_pending_requests_older_than_the_deadline(store):
    store.add_requests(["old"], "portal", NOW - timedelta(days=31))
    store.add_requests(["new"], "portal", NOW - timedelta(days=29))
    assert store.count_overdue(Deadline(DAYS, 30), NOW) == 1


def test_the_erasure_record_is_kept_on_each_request(store):
    store.add_requests(["u1"], "portal", NOW)
    key = batch_key("run-1")
    store.claim_pending(key)
    record = {"jobs": [{"job_arn": "arn:job", "num_deleted": 1}]}
    mark(store, key, "u1", record=record)
    (stored,) = store.hook.get_first("SELECT erasure_record FROM erasure_requests")
    assert json.loads(stored) == record


def test_the_audit_keeps_one_record_per_run_with_the_earlier_tries_inside(store):
    store.write_audit("run-1", NOW, "failed", {"try": 1, "jobs": ["arn:failed"]})
    store.write_audit("run-1", NOW, "failed", {"try": 2})
    store.write_audit("run-1", NOW, "erased", {"try": 3})
    store.write_audit("run-2", NOW, "erased", {"try": 1})
    rows = store.hook.get_records("SELECT outcome, record FROM erasure_audit WHERE run_id = 'run-1'")
    assert [(outcome, json.loads(record)) for outcome, record in rows] == [
        ("erased", {"try": 3, "earlier_records": [{"try": 1, "jobs": ["arn:failed"]}, {"try": 2}]})
    ]


def test_a_table_name_that_is_not_an_identifier_is_refused():
    with pytest.raises(ValueError, match="requests_table"):
        ErasureRequestStore(hook=None, requests_table="x; DROP TABLE y")  # type: ignore[arg-type]


def test_requests_personalize_cannot_hold_are_set_aside_with_their_reason(store):
    from airflow_provider_personalize_deletion.deletion_file.user_ids import invalid_reason

    store.add_requests(["ok", "", "x" * 257, "two\nlines"], "portal", NOW)
    store.hook.run(
        "INSERT INTO erasure_requests (request_id, user_id, requested_at, source, status) "
        "VALUES ('null-id', NULL, '2026-11-28 00:00:00', 'portal', 'pending')"
    )
    assert store.reject_invalid(invalid_reason) == {"empty": 1, "too_long": 1, "line_break": 1, "null": 1}
    assert store.count_pending() == 1
    assert store.claim_pending(batch_key("run-1")) == 1


def test_marking_again_after_a_retry_still_counts_the_whole_claim(store):
    store.add_requests(["u1", "u2"], "portal", NOW)
    key = batch_key("run-1")
    store.claim_pending(key)
    assert mark(store, key, "u1", "u2") == 2
    assert mark(store, key, "u1", "u2") == 2


def test_a_claim_whose_users_are_not_the_exports_is_not_marked(store):
    store.add_requests(["u1", "u2"], "portal", NOW)
    key = batch_key("run-1")
    store.claim_pending(key)
    with pytest.raises(ClaimChangedError, match="nothing was marked") as raised:
        mark(store, key, "u1", "u3")
    assert "u3" not in str(raised.value)
    assert store.count_claimed(key) == 2


def test_an_id_changed_while_the_claim_is_marked_rolls_the_marks_back(store, request):
    """The warehouse changes a claimed user id at the very moment the requests are marked (a trigger):
    the marks are read back in their own transaction, so the change is seen and nothing is marked."""
    if "postgres" in request.node.callspec.id:
        store.hook.run(
            "CREATE FUNCTION correct_id() RETURNS trigger AS $$ BEGIN "
            "UPDATE erasure_requests SET user_id = 'u9' WHERE user_id = 'u2'; RETURN NULL; END $$ "
            "LANGUAGE plpgsql"
        )
        store.hook.run(
            "CREATE TRIGGER correct_id AFTER UPDATE OF status ON erasure_requests "
            "FOR EACH STATEMENT WHEN (pg_trigger_depth() = 0) EXECUTE FUNCTION correct_id()"
        )
    else:
        store.hook.run(
            "CREATE TRIGGER correct_id AFTER UPDATE OF status ON erasure_requests "
            "WHEN NEW.user_id = 'u2' BEGIN UPDATE erasure_requests SET user_id = 'u9' "
            "WHERE request_id = NEW.request_id; END"
        )
    store.add_requests(["u1", "u2"], "portal", NOW)
    key = batch_key("run-1")
    store.claim_pending(key)
    with pytest.raises(ClaimChangedError):
        mark(store, key, "u1", "u2")
    rows = dict(store.hook.get_records("SELECT user_id, status FROM erasure_requests"))
    assert rows == {"u1": "pending", "u2": "pending"}


def test_a_table_name_with_a_trailing_line_break_is_refused():
    with pytest.raises(ValueError, match="requests_table"):
        ErasureRequestStore(hook=None, requests_table="erasure_requests\n")  # type: ignore[arg-type]


def test_a_request_id_is_derived_from_nothing_a_guess_could_be_tested_against(store):
    import hashlib

    store.add_requests(["alice@example.com"], "ad-hoc:0123456789ab", NOW)
    store.add_requests(["alice@example.com"], "ad-hoc:ba9876543210", NOW)
    ids = [row[0] for row in store.hook.get_records(f"SELECT request_id FROM {store.requests_table}")]
    assert len(ids) == 2 and len(set(ids)) == 2
    guesses = {
        hashlib.new(name, text.encode()).hexdigest()
        for name in ("sha256", "sha1", "md5")
        for text in (
            "alice@example.com",
            "ad-hoc:0123456789ab\x1falice@example.com",
            "ad-hoc:ba9876543210\x1falice@example.com",
        )
    }
    assert not any(guess.startswith(request_id) for guess in guesses for request_id in ids)
