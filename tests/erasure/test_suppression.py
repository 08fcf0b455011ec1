"""The suppression list on SQLite and PostgreSQL: written with the erased marks, read only with its key."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from airflow_provider_personalize_deletion.erasure.store import (
    ClaimChangedError,
    ErasureRequestStore,
    batch_key,
)
from airflow_provider_personalize_deletion.erasure.suppression import SuppressionList, key_id
from airflow_provider_personalize_deletion.exceptions import SuppressionKeyError
from airflow_provider_personalize_deletion.transfers.sql_cursor import WarehouseError
from tests.erasure.test_store import KEY, NOW, exported
from tests.plugins.warehouse import warehouse_store

OTHER_KEY = b"another-fingerprint-key"
USERS = ["u1", "u2", "u3", "u4", "u5"]


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path, monkeypatch) -> ErasureRequestStore:
    store = warehouse_store(request.param, request, tmp_path, monkeypatch, sqlite_conn_id="store_warehouse")
    store.create_tables()
    return store


def erase(store: ErasureRequestStore, run: str, users: list[str], batch_size: int = 10_000, key: bytes = KEY):
    """Claim the pending requests of ``users`` and mark them erased, as the record step does."""
    claim = batch_key(run)
    store.claim_pending(claim)
    return store.mark_erased(
        claim, NOW, {"jobs": []}, fingerprint_key=key, expected=exported(*users), batch_size=batch_size
    )


def entries(store: ErasureRequestStore) -> list[tuple]:
    return sorted(store.hook.get_records("SELECT user_key, key_id, request_id FROM erasure_suppression"))


def statuses(store: ErasureRequestStore) -> set[str]:
    return {row[0] for row in store.hook.get_records("SELECT status FROM erasure_requests")}


def digest(user_id: str, key: bytes = KEY) -> str:
    return hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()


def test_an_erased_request_leaves_its_users_keyed_digest_and_the_keys_id_and_never_the_id(store):
    store.add_requests(["u1", "ü2"], "portal", NOW)
    assert erase(store, "run-1", ["u1", "ü2"]).suppressed == 2
    requests = dict(store.hook.get_records("SELECT user_id, request_id FROM erasure_requests"))
    assert entries(store) == sorted((digest(user), key_id(KEY), requests[user]) for user in ("u1", "ü2"))
    assert key_id(KEY) not in KEY.hex() and len(key_id(KEY)) == 16
    for row in store.hook.get_records("SELECT * FROM erasure_suppression"):
        assert not {"u1", "ü2", hashlib.sha256(b"u1").hexdigest()} & {str(value) for value in row}


def test_every_request_marked_erased_has_its_users_entry(store):
    store.add_requests(["u1", "u2", "u3"], "portal", NOW)
    store.add_requests(["u2"], "support", NOW)  # the same user twice in one claim
    assert tuple(erase(store, "run-1", ["u1", "u2", "u3"], batch_size=2)) == (4, 3)
    store.add_requests(["u3", "u4"], "later", NOW)  # u3 erased again: it stays one entry
    assert tuple(erase(store, "run-2", ["u3", "u4"])) == (2, 1)
    erased = store.hook.get_records("SELECT user_id FROM erasure_requests WHERE status = 'erased'")
    suppression = SuppressionList(store.hook)
    assert suppression.contains(KEY, [row[0] for row in erased]) == [True] * len(erased)
    assert suppression.contains(KEY, ["u5", "U1", "u1 "]) == [False, False, False]
    assert len(entries(store)) == 4


def test_a_user_erased_again_keeps_the_request_that_first_suppressed_it(store):
    store.add_requests(["u1"], "portal", NOW)
    erase(store, "run-1", ["u1"])
    (first,) = store.hook.get_records("SELECT request_id FROM erasure_requests")
    store.add_requests(["u1"], "reappeared-test", NOW)
    erase(store, "run-2", ["u1"])
    assert entries(store) == [(digest("u1"), key_id(KEY), first[0])]


def test_a_failure_after_the_first_entries_are_written_leaves_neither_marks_nor_entries(store):
    """A real fault: the warehouse refuses the second batch's entries, after the first batch's."""
    if store.hook.dialect_name == "postgresql":
        store.hook.run(
            [
                "CREATE FUNCTION refuse_third() RETURNS trigger AS $$ BEGIN "
                "IF (SELECT COUNT(*) FROM erasure_suppression) >= 2 THEN RAISE EXCEPTION 'full'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER refuse_third BEFORE INSERT ON erasure_suppression "
                "FOR EACH ROW EXECUTE FUNCTION refuse_third()",
            ]
        )
    else:
        store.hook.run(
            "CREATE TRIGGER refuse_third BEFORE INSERT ON erasure_suppression "
            "WHEN (SELECT COUNT(*) FROM erasure_suppression) >= 2 BEGIN SELECT RAISE(ABORT, 'full'); END"
        )
    store.add_requests(USERS, "portal", NOW)
    with pytest.raises(WarehouseError, match="Marking the claimed requests erased"):
        erase(store, "run-1", USERS, batch_size=2)
    assert statuses(store) == {"pending"}
    assert entries(store) == []


def test_a_claim_that_changed_rolls_back_the_entries_with_the_marks(store):
    store.add_requests(USERS, "portal", NOW)
    with pytest.raises(ClaimChangedError):
        erase(store, "run-1", USERS[:4], batch_size=2)  # the export read four of the five
    assert statuses(store) == {"pending"}
    assert entries(store) == []


def test_a_failure_at_commit_on_postgresql_leaves_neither_marks_nor_entries(request, tmp_path, monkeypatch):
    """A deferred constraint fails the COMMIT itself, after every mark and entry was written."""
    store = warehouse_store("postgres", request, tmp_path, monkeypatch)
    store.create_tables()
    store.hook.run(
        [
            "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'no'; END $$ "
            "LANGUAGE plpgsql",
            "CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON erasure_suppression "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse()",
        ]
    )
    store.add_requests(USERS, "portal", NOW)
    with pytest.raises(WarehouseError):
        erase(store, "run-1", USERS)
    assert statuses(store) == {"pending"}
    assert entries(store) == []


def test_the_digests_stream_every_entry_as_32_raw_bytes(store):
    store.add_requests(USERS, "portal", NOW)
    erase(store, "run-1", USERS)
    streamed = SuppressionList(store.hook).digests(KEY, batch_size=2)
    assert sorted(streamed) == sorted(bytes.fromhex(digest(user)) for user in USERS)


def test_every_read_fails_loudly_once_the_key_changed(store):
    store.add_requests(USERS, "portal", NOW)
    erase(store, "run-1", USERS)
    suppression = SuppressionList(store.hook)
    for read in (
        lambda: suppression.check_key(OTHER_KEY),
        lambda: next(suppression.digests(OTHER_KEY)),
        lambda: suppression.contains(OTHER_KEY, ["u1"]),
    ):
        with pytest.raises(SuppressionKeyError) as raised:
            read()
        message = str(raised.value)
        assert f"5 under key id {key_id(KEY)}" in message
        assert f"has key id {key_id(OTHER_KEY)}" in message
        assert "changed or was lost" in message and "re-key" in message
        assert "u1" not in message


def test_an_entry_of_another_key_written_while_the_digests_stream_fails_the_stream(store, monkeypatch):
    store.add_requests(USERS, "portal", NOW)
    erase(store, "run-1", USERS)
    suppression = SuppressionList(store.hook)
    checked = SuppressionList.check_key
    arrived: list[bool] = []

    def check_then_a_foreign_entry_arrives(self, *args):
        keys = checked(self, *args)
        if not arrived:
            arrived.append(True)
            self.hook.run(
                "INSERT INTO erasure_suppression "
                "VALUES ('ff', 'feedfeedfeedfeed', '2026-11-28 12:00:00', 'r')"
            )
        return keys

    monkeypatch.setattr(SuppressionList, "check_key", check_then_a_foreign_entry_arrives)
    with pytest.raises(SuppressionKeyError, match="1 under key id feedfeedfeedfeed"):
        list(suppression.digests(KEY))


def test_a_short_key_is_refused_before_any_read():
    with pytest.raises(ValueError, match="at least 16 bytes"):
        SuppressionList(hook=None).check_key(b"short")  # type: ignore[arg-type]


def test_a_suppression_table_name_that_is_not_an_identifier_is_refused():
    with pytest.raises(ValueError, match="suppression_table"):
        ErasureRequestStore(hook=None, suppression_table="s; DROP TABLE t")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="table"):
        SuppressionList(hook=None, table="s\n")  # type: ignore[arg-type]
