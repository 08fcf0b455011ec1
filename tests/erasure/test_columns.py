"""
A requests table made by 0.2 (no ``details`` column): an erasure run adds the column where it may create
tables and goes on where it may not; the verification refuses before any export, naming the statement.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest

from airflow_provider_personalize_deletion.erasure import runtime
from airflow_provider_personalize_deletion.erasure.columns import (
    DETAILS_COLUMN,
    MissingColumnError,
    missing_columns,
)
from airflow_provider_personalize_deletion.erasure.reappearance import add_reappeared_requests
from airflow_provider_personalize_deletion.erasure.settings import resolve_settings
from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore
from airflow_provider_personalize_deletion.erasure.verification import verification_table_ddl
from airflow_provider_personalize_deletion.erasure.verification_steps import check_suppression_list
from tests.erasure.test_reappearance import FOUND
from tests.erasure.test_tables_setting import collect, groups_set  # noqa: F401 (a fixture)
from tests.plugins.warehouse import warehouse_store

STATEMENT = "ALTER TABLE erasure_requests ADD COLUMN details TEXT"
#: The requests table as 0.2 created it.
TABLE_OF_0_2 = (
    "CREATE TABLE erasure_requests (request_id VARCHAR(64) PRIMARY KEY, user_id VARCHAR(1024), "
    "requested_at TIMESTAMP NOT NULL, source VARCHAR(64) NOT NULL, status VARCHAR(16) NOT NULL, "
    "batch_key VARCHAR(32), erased_at TIMESTAMP, erasure_record TEXT)"
)
NOW = datetime(2026, 12, 5, 8, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgres"])
def old_store(request, tmp_path, monkeypatch, groups_set) -> ErasureRequestStore:  # noqa: F811
    """The tables of this release, but the requests table of 0.2, holding one pending request."""
    store = warehouse_store(request.param, request, tmp_path, monkeypatch)
    store.create_tables()
    store.hook.run("DROP TABLE erasure_requests")
    store.hook.run(TABLE_OF_0_2)
    store.add_requests(["user-001"], "portal", NOW)
    return store


def has_details(store: ErasureRequestStore) -> bool:
    return not missing_columns(store.hook, store.requests_table)


def test_an_erasure_run_adds_the_column_to_a_table_of_0_2_and_the_intake_then_works(old_store):
    assert not has_details(old_store)

    assert collect()["requests"]["claimed"] == 1

    assert has_details(old_store)
    assert add_reappeared_requests(old_store, ["user-002"], FOUND, NOW) == {"read": 1, "added": 1}


def test_with_create_tables_off_an_erasure_run_goes_on_and_logs_the_statement(old_store, monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_CREATE_TABLES", "false")

    with caplog.at_level(logging.WARNING):
        assert collect()["requests"]["claimed"] == 1

    assert not has_details(old_store)
    assert STATEMENT in caplog.text and "create_tables is false" in caplog.text


def test_with_create_tables_off_the_verification_refuses_before_any_export_naming_the_statement(
    old_store, monkeypatch
):
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_CREATE_TABLES", "false")
    settings = resolve_settings({}, runtime.get_variable)

    with pytest.raises(MissingColumnError) as raised:
        check_suppression_list(settings)

    message = str(raised.value)
    assert "erasure_requests" in message and repr(DETAILS_COLUMN) in message and STATEMENT in message
    assert not has_details(old_store)


def test_the_verification_adds_the_column_where_it_may_create_tables(old_store):
    settings = resolve_settings({}, runtime.get_variable)

    assert check_suppression_list(settings)["suppressed_users"] == 0

    assert has_details(old_store)


def test_the_intake_refuses_a_table_of_0_2_before_writing_anything(old_store):
    with pytest.raises(MissingColumnError, match=STATEMENT):
        add_reappeared_requests(old_store, ["user-002"], FOUND, NOW)
    assert old_store.count_pending() == 1


def test_a_table_of_0_3_keeps_working_where_it_may_not_be_changed(old_store, monkeypatch):
    """The columns of 0.4 are missing: the run, the verification and the intake go on without them."""
    old_store.hook.run(STATEMENT)  # now the table of 0.3
    old_store.hook.run(verification_table_ddl())
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_CREATE_TABLES", "false")
    settings = resolve_settings({}, runtime.get_variable)

    assert collect()["requests"]["claimed"] == 1
    assert check_suppression_list(settings)["suppressed_users"] == 0
    assert add_reappeared_requests(old_store, ["user-002"], FOUND, NOW) == {"read": 1, "added": 1}
    assert [added.column for added in missing_columns(old_store.hook, "erasure_requests")] == [
        "extension_months",
        "extension_reason",
        "extended_by",
        "extended_at",
        "reason_code",
        "user_key_id",
    ]
