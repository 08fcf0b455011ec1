"""The indexes the dashboard reads by: created with the tables, and never in the way of a run."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import inspect

from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore

INDEXES = {
    "erasure_requests": {
        "erasure_requests_status_requested",
        "erasure_requests_erased_requested",
        "erasure_requests_user_id",
        "erasure_requests_user_id_lower",
    },
    "erasure_audit": {"erasure_audit_recorded_run"},
}


def test_creating_the_tables_creates_the_dashboards_indexes(store):
    for table, names in INDEXES.items():
        assert names <= index_names(store, table)
    store.create_tables()  # again: nothing to do, no error


def index_names(store, table: str) -> set[str]:
    """The indexes of a table; on SQLite from its catalogue (SQLAlchemy leaves out expression indexes)."""
    if store.hook.dialect_name == "sqlite":
        rows = store.hook.get_records(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", [table]
        )
        return {name for (name,) in rows}
    return {index["name"] for index in inspect(store.hook.get_sqlalchemy_engine()).get_indexes(table)}


def test_a_long_table_name_gets_index_names_postgresql_keeps_apart(store):
    long = ErasureRequestStore(store.hook, "r" * 60, "a" * 60)
    names = list(long.index_statements())
    assert all(len(name) <= 63 for name in names) and len(set(names)) == 5


def test_a_user_who_does_not_own_the_tables_still_runs_and_is_told_which_index_to_create(
    postgres_server, postgres_conn_id, monkeypatch, caplog
):
    from airflow.providers.postgres.hooks.postgres import PostgresHook
    from airflow.sdk import BaseHook

    owner = ErasureRequestStore(PostgresHook(postgres_conn_id=postgres_conn_id, log_sql=False))
    owner._run_ddl(owner.table_ddl())  # as a DBA would: the tables, not the indexes
    dbname = BaseHook.get_connection(postgres_conn_id).schema
    role = f"erasure_dag_{uuid.uuid4().hex[:8]}"
    owner.hook.run(
        [
            f"CREATE ROLE {role} LOGIN",
            f"GRANT CREATE, USAGE ON SCHEMA public TO {role}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON erasure_requests, erasure_audit TO {role}",
        ]
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_NOT_OWNER", f"postgres://{role}@{postgres_server.host}:{postgres_server.port}/{dbname}"
    )
    store = ErasureRequestStore(PostgresHook(postgres_conn_id="not_owner", log_sql=False))
    try:
        with caplog.at_level(logging.WARNING):
            assert len(store.create_tables()) == 5
        assert store.add_requests(["u1"], "portal", datetime.now(timezone.utc)) == 1
        warned = "\n".join(record.getMessage() for record in caplog.records)
        owner.create_indexes()
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert store.create_tables() == []  # the indexes exist: no DDL, no warning
        assert not caplog.records
    finally:
        owner.hook.run([f"DROP OWNED BY {role}", f"DROP ROLE {role}"])

    assert warned.count("Could not create the index") == 5
    assert (
        "CREATE INDEX IF NOT EXISTS erasure_requests_user_id ON erasure_requests USING hash (user_id)"
        in warned
    )


class _Hook:
    placeholder = "?"

    def __init__(self, dialect_name: str) -> None:
        self.dialect_name = dialect_name


@pytest.mark.parametrize(
    "dialect, statement",
    [
        ("sqlite", "CREATE INDEX IF NOT EXISTS main.t_status_requested ON t (status, requested_at)"),
        ("postgresql", "CREATE INDEX IF NOT EXISTS t_status_requested ON main.t (status, requested_at)"),
    ],
)
def test_a_schema_qualified_table_names_its_schema_where_the_database_wants_it(dialect, statement):
    statements = ErasureRequestStore(_Hook(dialect), "main.t", "main.a").index_statements()  # type: ignore[arg-type]
    assert statements["t_status_requested"] == statement
