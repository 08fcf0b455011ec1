"""Driver errors of a real PostgreSQL warehouse never carry a user id into an error or the task log."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from airflow.sdk import BaseHook

from airflow_provider_personalize_deletion.erasure import runtime, steps
from airflow_provider_personalize_deletion.transfers.sql_cursor import WarehouseError

SECRET = "alice-4711"
ROLE = "arn:aws:iam::123456789012:role/PersonalizeDeletion"
GROUP = "arn:aws:personalize:us-east-1:123456789012:dataset-group/shop"
COLUMNS = (
    "request_id VARCHAR(64) PRIMARY KEY, requested_at TIMESTAMP NOT NULL, source VARCHAR(64) NOT NULL, "
    "status VARCHAR(16) NOT NULL, erased_at TIMESTAMP, erasure_record TEXT"
)


def _collect(conn_id: str, user_ids: list[str]) -> dict:
    values = {
        "personalize_erasure_warehouse_conn_id": conn_id,
        "personalize_erasure_dataset_group_arns": [GROUP],
        "personalize_erasure_role_arn": ROLE,
    }
    return steps.collect_erasure_requests(
        {"user_ids": user_ids},
        "manual__1",
        1,
        datetime.now(timezone.utc),
        runtime.request_store,
        values.get,
        conf={"user_ids": user_ids},
    )


def _assert_sanitised(raised: pytest.ExceptionInfo, caplog, capsys) -> None:
    error = raised.value
    assert isinstance(error, WarehouseError), type(error)
    assert error.__cause__ is None and error.__context__ is None
    assert "(22P02)" in str(error) or "(23502)" in str(error) or "(23514)" in str(error), str(error)
    output = capsys.readouterr()
    assert SECRET not in str(error) + caplog.text + output.out + output.err


@pytest.mark.parametrize(
    "ddl",
    [
        # a warehouse whose ids are numbers: "invalid input syntax for type integer: <the id>"
        f"CREATE TABLE erasure_requests ({COLUMNS}, user_id INTEGER, batch_key VARCHAR(32))",
        # a column of the warehouse's own (NOT NULL): "DETAIL: Failing row contains (... <the id> ...)"
        f"CREATE TABLE erasure_requests ({COLUMNS}, user_id VARCHAR(1024), batch_key VARCHAR(32), "
        "tenant VARCHAR(8) NOT NULL)",
    ],
    ids=["integer_user_id", "extra_not_null_column"],
)
def test_a_driver_error_on_insert_does_not_quote_the_ad_hoc_id(postgres_conn_id, ddl, caplog, capsys):
    BaseHook.get_connection(postgres_conn_id).get_hook().run(ddl)
    with pytest.raises(Exception) as raised:
        _collect(postgres_conn_id, [SECRET])
    _assert_sanitised(raised, caplog, capsys)


def test_a_check_constraint_on_the_claim_does_not_quote_the_id(postgres_conn_id, caplog, capsys):
    """A constraint the warehouse added (on batch_key) fails the claim's UPDATE with a DETAIL quoting
    the failing row, user id included."""
    hook = BaseHook.get_connection(postgres_conn_id).get_hook()
    hook.run(
        f"CREATE TABLE erasure_requests ({COLUMNS}, user_id VARCHAR(1024), "
        "batch_key VARCHAR(32) CHECK (batch_key IS NULL OR batch_key LIKE 'x%'))"
    )
    hook.run(
        "INSERT INTO erasure_requests (request_id, user_id, requested_at, source, status) "
        "VALUES ('r1', %s, now(), 'portal', 'pending')",
        parameters=(SECRET,),
    )
    capsys.readouterr()  # the test's own insert, logged by a hook with log_sql on
    caplog.clear()
    with pytest.raises(Exception) as raised:
        _collect(postgres_conn_id, [])
    _assert_sanitised(raised, caplog, capsys)


def test_a_check_constraint_on_the_marks_does_not_quote_the_id(postgres_conn_id, caplog, capsys):
    """mark_erased's UPDATE, refused by a constraint on erased_at, and reject_invalid's, on status."""
    from tests.erasure.test_store import NOW, mark

    store = runtime.request_store(
        runtime.resolve_settings(
            {},
            {
                "personalize_erasure_warehouse_conn_id": postgres_conn_id,
                "personalize_erasure_role_arn": ROLE,
                "personalize_erasure_dataset_group_arns": [GROUP],
            }.get,
        )
    )
    store.create_tables()
    store.hook.run("ALTER TABLE erasure_requests ADD CHECK (erased_at IS NULL OR user_id LIKE 'x%')")
    store.hook.run("ALTER TABLE erasure_requests ADD CHECK (status <> 'rejected' OR user_id LIKE 'x%')")
    store.add_requests([SECRET], "portal", NOW)
    key = "a" * 32
    store.claim_pending(key)
    with pytest.raises(Exception) as raised:
        mark(store, key, SECRET)
    _assert_sanitised(raised, caplog, capsys)
    with pytest.raises(Exception) as raised:
        store.reject_invalid(lambda user_id: "not_allowed")
    _assert_sanitised(raised, caplog, capsys)
