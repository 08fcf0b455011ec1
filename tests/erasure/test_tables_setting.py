"""The setting ``create_tables``: a deployment that creates the tables itself, from the README."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_provider_personalize_deletion.erasure import runtime, steps
from airflow_provider_personalize_deletion.erasure.settings import DEFAULTS, resolve_settings
from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore
from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from tests.plugins.warehouse import warehouse_store

README = Path(__file__).resolve().parents[2] / "README.md"
DDL_MARKER = "<!-- erasure-tables-ddl:"


def readme_statements() -> list[str]:
    """The SQL statements of the README's "Creating the tables yourself" block."""
    text = README.read_text()
    block = text[text.index(DDL_MARKER) :]
    start = block.index("```sql\n") + len("```sql\n")
    sql = block[start : block.index("\n```", start)]
    return [statement.strip() for statement in sql.split(";") if statement.strip()]


def normalised(statement: str) -> str:
    return re.sub(r"\s+", " ", statement).replace("( ", "(").replace(" )", ")").strip()


def collect(conf: dict | None = None) -> dict:
    return steps.collect_erasure_requests(
        conf or {},
        "manual__1",
        1,
        datetime.now(timezone.utc),
        runtime.request_store,
        runtime.get_variable,
        conf=conf or {},
    )


@pytest.fixture
def groups_set(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_VAR_PERSONALIZE_ERASURE_DATASET_GROUP_ARNS",
        json.dumps(["arn:aws:personalize:us-east-1:123456789012:dataset-group/shop"]),
    )
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_ROLE_ARN", "arn:aws:iam::123456789012:role/Deletion")


def test_the_readme_statements_are_the_ones_the_dag_runs():
    store = ErasureRequestStore.__new__(ErasureRequestStore)
    store.requests_table, store.audit_table = DEFAULTS["requests_table"], DEFAULTS["audit_table"]
    store.suppression_table = DEFAULTS["suppression_table"]
    assert [normalised(s) for s in readme_statements()] == [normalised(s) for s in store.table_ddl()]


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_with_create_tables_off_a_run_refuses_missing_tables_and_creates_none(
    kind, groups_set, tmp_path, monkeypatch, request
):
    store = warehouse_store(kind, request, tmp_path, monkeypatch)
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_CREATE_TABLES", "false")
    with pytest.raises(PersonalizeValidationError) as raised:
        collect()
    message = str(raised.value)
    assert "create_tables" in message
    assert "erasure_requests" in message
    assert not store.tables_exist()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_with_create_tables_off_a_run_works_on_tables_made_from_the_readme(
    kind, groups_set, tmp_path, monkeypatch, request
):
    store = warehouse_store(kind, request, tmp_path, monkeypatch)
    store.hook.run(readme_statements())
    store.add_requests(["user-001", "user-002"], "portal", datetime.now(timezone.utc))
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_CREATE_TABLES", "false")
    issued: list = []
    monkeypatch.setattr(ErasureRequestStore, "create_tables", lambda self: issued.append(self))
    collected = collect()
    assert collected["requests"]["claimed"] == 2
    assert issued == []


def test_with_create_tables_on_a_run_creates_the_missing_tables(groups_set, tmp_path, monkeypatch, request):
    store = warehouse_store("sqlite", request, tmp_path, monkeypatch)
    assert collect()["requests"]["claimed"] == 0
    assert store.tables_exist()


def test_create_tables_must_be_a_json_boolean():
    values = {"personalize_erasure_create_tables": "no"}
    with pytest.raises(PersonalizeValidationError, match=r"create_tables.*true or false"):
        resolve_settings({}, values.get)


def test_a_dry_run_counts_the_requests_of_a_requests_table_made_before_the_audit_table(
    groups_set, tmp_path, monkeypatch, request
):
    store = warehouse_store("sqlite", request, tmp_path, monkeypatch)
    store.hook.run(readme_statements()[:1])
    store.add_requests(["user-001", "user-002"], "portal", datetime.now(timezone.utc))
    counts = collect({"dry_run": True})["requests"]
    assert counts["pending"] == 2
    assert counts["tables_missing"] is True
    assert store.missing_tables() == ["erasure_audit", "erasure_suppression"]


def test_a_dry_run_on_a_sqlite_warehouse_that_does_not_exist_creates_no_file(
    groups_set, tmp_path, monkeypatch, request
):
    warehouse_store("sqlite", request, tmp_path, monkeypatch)
    counts = collect({"dry_run": True})["requests"]
    assert counts["tables_missing"] is True
    assert counts["pending"] == 0
    assert list(tmp_path.iterdir()) == []


def test_a_mixed_case_table_name_is_found_where_postgresql_folded_it(
    groups_set, tmp_path, monkeypatch, request
):
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_REQUESTS_TABLE", "Erasure_Requests")
    store = warehouse_store("postgres", request, tmp_path, monkeypatch)
    store.requests_table = "Erasure_Requests"
    store.hook.run(store.table_ddl())
    store.add_requests(["user-001"], "portal", datetime.now(timezone.utc))
    assert store.missing_tables() == []
    assert collect({"dry_run": True})["requests"]["pending"] == 1
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_CREATE_TABLES", "false")
    assert collect()["requests"]["claimed"] == 1


def test_a_run_on_existing_tables_needs_no_create_privilege(groups_set, tmp_path, monkeypatch, request):
    """The README's grants, no CREATE on the schema (PostgreSQL 15's default): the default setting runs."""
    store = warehouse_store("postgres", request, tmp_path, monkeypatch)
    store.create_tables()
    store.add_requests(["user-001"], "portal", datetime.now(timezone.utc))
    server = request.getfixturevalue("postgres_server")
    dbname = store.hook.get_connection(store.hook.get_conn_id()).schema
    admin = server.connect(dbname)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("CREATE ROLE erasure_app LOGIN")
        cursor.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        cursor.execute("GRANT SELECT, INSERT, UPDATE ON erasure_requests TO erasure_app")
        cursor.execute("GRANT SELECT, INSERT, DELETE ON erasure_audit TO erasure_app")
    admin.close()
    uri = server.uri(dbname).replace(f"//{server.user}@", "//erasure_app@")
    monkeypatch.setenv("AIRFLOW_CONN_RESTRICTED_WAREHOUSE", uri)
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_WAREHOUSE_CONN_ID", "restricted_warehouse")
    try:
        assert collect()["requests"]["claimed"] == 1
    finally:
        admin = server.connect(dbname)
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute("DROP OWNED BY erasure_app")
            cursor.execute("DROP ROLE erasure_app")
        admin.close()
