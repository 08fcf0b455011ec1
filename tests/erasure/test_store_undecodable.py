"""
A pending request whose user id is not UTF-8 text: set aside as ``not_utf8`` by the collect step
instead of failing it (and every run after it), and never quoted.
"""

from __future__ import annotations

import json

import pytest
from airflow.sdk import BaseHook

from airflow_provider_personalize_deletion.deletion_file.user_ids import invalid_reason
from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore, batch_key
from tests.erasure.test_store import NOW
from tests.transfers.test_unreadable_values import UNDECODABLE_TRACES, assert_no_trace

INSERT_UNDECODABLE = (
    "INSERT INTO erasure_requests (request_id, user_id, requested_at, source, status) "
    "VALUES ('undecodable', {user_id}, '2026-11-28 00:00:00', 'portal', 'pending')"
)


def store_on(conn_id: str) -> ErasureRequestStore:
    store = ErasureRequestStore(BaseHook.get_connection(conn_id).get_hook(hook_params={"log_sql": False}))
    store.create_tables()
    return store


@pytest.fixture
def sqlite_store(tmp_path, monkeypatch) -> ErasureRequestStore:
    uri = json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "warehouse.db")})
    monkeypatch.setenv("AIRFLOW_CONN_STORE_WAREHOUSE", uri)
    return store_on("store_warehouse")


def test_a_user_id_that_is_not_utf8_is_rejected_as_not_utf8_and_never_quoted(sqlite_store, caplog, capsys):
    sqlite_store.add_requests(["u1"], "portal", NOW)
    sqlite_store.hook.run(INSERT_UNDECODABLE.format(user_id="CAST(X'FF61' AS TEXT)"))

    with caplog.at_level("DEBUG"):
        rejected = sqlite_store.reject_invalid(invalid_reason)

    assert rejected == {"not_utf8": 1}
    (record,) = sqlite_store.hook.get_first(
        "SELECT erasure_record FROM erasure_requests WHERE request_id = 'undecodable' AND status = 'rejected'"
    )
    assert json.loads(record) == {"rejected": "not_utf8"}
    assert sqlite_store.claim_pending(batch_key("run-1")) == 1  # the valid request goes on
    assert_no_trace(caplog.text + "".join(capsys.readouterr()), UNDECODABLE_TRACES)


def test_a_utf8_postgresql_database_cannot_hold_such_a_user_id(postgres_conn_id):
    store = store_on(postgres_conn_id)

    with pytest.raises(Exception, match='invalid byte sequence for encoding "UTF8"') as refused:
        store.hook.run(INSERT_UNDECODABLE.format(user_id="convert_from('\\xff61'::bytea, 'UTF8')"))

    assert refused.value.sqlstate == "22021"  # character_not_in_repertoire
    (encoding,) = store.hook.get_first("SHOW server_encoding")
    assert encoding == "UTF8"
