"""Re-keying the suppression list after a key rotation or loss, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from airflow_provider_personalize_deletion.erasure import rekey, suppression_command
from airflow_provider_personalize_deletion.erasure.rekey import rekey_suppression_list
from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore
from airflow_provider_personalize_deletion.erasure.suppression import SuppressionList, key_id
from airflow_provider_personalize_deletion.exceptions import SuppressionKeyError
from tests.erasure.test_store import KEY as OLD_KEY
from tests.erasure.test_store import NOW
from tests.erasure.test_suppression import erase
from tests.plugins.warehouse import warehouse_store

NEW_KEY = b"the-rotated-fingerprint-key"
USERS = [f"u{number}" for number in range(1, 8)]


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path, monkeypatch) -> ErasureRequestStore:
    """A list of seven users erased under the old key."""
    store = warehouse_store(request.param, request, tmp_path, monkeypatch)
    store.create_tables()
    store.add_requests(USERS, "portal", NOW)
    erase(store, "run-1", USERS, key=OLD_KEY)
    return store


def entries(store: ErasureRequestStore) -> list[tuple]:
    return sorted(
        store.hook.get_records("SELECT user_key, key_id, suppressed_at, request_id FROM erasure_suppression")
    )


def test_after_a_rotation_readers_fail_until_the_re_key_then_match_under_the_new_key(store):
    suppression = SuppressionList(store.hook)
    with pytest.raises(SuppressionKeyError, match=f"7 under key id {key_id(OLD_KEY)}"):
        suppression.contains(NEW_KEY, ["u1"])
    before = {request_id: when for _, _, when, request_id in entries(store)}
    report = rekey_suppression_list(store, NEW_KEY, old_keys=[OLD_KEY], batch_size=3)
    assert (report.requests, report.added, report.replaced, report.kept) == (7, 7, 7, {})
    assert suppression.check_key(NEW_KEY) == [NEW_KEY]
    assert suppression.contains(NEW_KEY, [*USERS, "u8"]) == [True] * 7 + [False]
    rows = entries(store)
    assert {row[1] for row in rows} == {key_id(NEW_KEY)}
    assert {request_id: when for _, _, when, request_id in rows} == before  # first suppressed: kept


def test_a_re_key_interrupted_half_way_can_be_run_again(store, monkeypatch):
    inserted = rekey.insert_entries
    calls: list[int] = []

    def crash_on_the_second_batch(*args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return inserted(*args)

    monkeypatch.setattr(rekey, "insert_entries", crash_on_the_second_batch)
    with pytest.raises(RuntimeError):
        rekey_suppression_list(store, NEW_KEY, old_keys=[OLD_KEY], batch_size=3)
    assert SuppressionList(store.hook).key_counts() == {key_id(NEW_KEY): 3, key_id(OLD_KEY): 4}
    monkeypatch.setattr(rekey, "insert_entries", inserted)
    report = rekey_suppression_list(store, NEW_KEY, old_keys=[OLD_KEY], batch_size=3)
    assert (report.added, report.replaced, report.kept) == (4, 4, {})
    assert SuppressionList(store.hook).contains(NEW_KEY, USERS) == [True] * 7


def test_entries_whose_requests_were_purged_stay_under_the_old_key_which_readers_then_need(store):
    store.hook.run("DELETE FROM erasure_requests WHERE user_id IN ('u6', 'u7')")
    report = rekey_suppression_list(store, NEW_KEY, old_keys=[OLD_KEY])
    assert report.kept == {key_id(OLD_KEY): 2}
    suppression = SuppressionList(store.hook)
    with pytest.raises(SuppressionKeyError, match="2 under key id"):
        suppression.contains(NEW_KEY, ["u6"])
    assert suppression.contains(NEW_KEY, USERS, previous_keys=[OLD_KEY]) == [True] * 7
    assert len(list(suppression.digests(NEW_KEY, previous_keys=[OLD_KEY]))) == 7


def test_a_lost_key_is_refused_unless_its_key_id_is_named_to_drop(store):
    store.hook.run("DELETE FROM erasure_requests WHERE user_id = 'u7'")
    with pytest.raises(SuppressionKeyError, match="Re-keying refused, nothing changed"):
        rekey_suppression_list(store, NEW_KEY)
    assert SuppressionList(store.hook).key_counts() == {key_id(OLD_KEY): 7}
    report = rekey_suppression_list(store, NEW_KEY, drop_key_ids=[key_id(OLD_KEY)])
    assert (report.added, report.dropped, report.kept) == (6, {key_id(OLD_KEY): 7}, {})
    assert SuppressionList(store.hook).contains(NEW_KEY, USERS) == [True] * 6 + [False]


def test_the_new_keys_id_cannot_be_dropped(store):
    with pytest.raises(ValueError, match="drop_key_ids"):
        rekey_suppression_list(store, NEW_KEY, drop_key_ids=[key_id(NEW_KEY)])


def test_a_re_key_adds_the_entries_of_requests_erased_before_the_list_existed(store):
    store.hook.run("DELETE FROM erasure_suppression")
    report = rekey_suppression_list(store, OLD_KEY)
    assert (report.added, report.replaced) == (7, 0)
    assert SuppressionList(store.hook).contains(OLD_KEY, USERS) == [True] * 7


def test_the_command_line_checks_and_re_keys_with_keys_from_the_environment(store, monkeypatch, capsys):
    monkeypatch.setenv("NEW_SUPPRESSION_KEY", NEW_KEY.decode())
    monkeypatch.setenv("OLD_SUPPRESSION_KEY", OLD_KEY.decode())
    assert suppression_command.main(["--new-key-env", "NEW_SUPPRESSION_KEY", "check"]) == 2
    assert f"7 under key id {key_id(OLD_KEY)}" in capsys.readouterr().err
    argv = ["--new-key-env", "NEW_SUPPRESSION_KEY", "rekey", "--old-key-env", "OLD_SUPPRESSION_KEY"]
    assert suppression_command.main(argv) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["added"] == 7  # after any log line
    assert suppression_command.main(["--new-key-env", "NEW_SUPPRESSION_KEY", "check"]) == 0
    output = capsys.readouterr()
    assert NEW_KEY.decode() not in output.out + output.err


@pytest.mark.parametrize("batch_size", [0, -1])
def test_a_batch_size_below_one_is_refused_before_anything_is_dropped(store, batch_size):
    """With no request re-keyed, ``drop_key_ids`` would delete every entry of the lost key."""
    with pytest.raises(ValueError, match="'batch_size': must be at least 1"):
        rekey_suppression_list(store, NEW_KEY, drop_key_ids=[key_id(OLD_KEY)], batch_size=batch_size)
    assert SuppressionList(store.hook).key_counts() == {key_id(OLD_KEY): 7}
