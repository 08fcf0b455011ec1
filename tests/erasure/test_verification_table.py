"""The verification table and ``create_tables``: no DDL when it is off, its statement in the README."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from airflow.sdk import BaseHook

from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore
from airflow_provider_personalize_deletion.erasure.verification import (
    VERIFICATION_TABLE,
    DatasetVerification,
    record_verification,
    require_verification_table,
    verification_table_ddl,
)
from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from tests.erasure.test_tables_setting import README, normalised
from tests.plugins.warehouse import warehouse_store

DDL_MARKER = "<!-- erasure-verification-ddl:"
NOW = datetime(2026, 12, 7, tzinfo=timezone.utc)
GROUP = "arn:aws:personalize:us-east-1:123456789012:dataset-group/shop"
RESULT = DatasetVerification(GROUP, f"{GROUP}/INTERACTIONS", "verified_absent", 0, 0, "arn:export", "")


def readme_statement() -> str:
    text = README.read_text()
    block = text[text.index(DDL_MARKER) :]
    start = block.index("```sql\n") + len("```sql\n")
    return block[start : block.index("\n```", start)].strip().rstrip(";")


def test_the_readme_statement_is_the_one_the_dag_runs():
    assert normalised(readme_statement()) == normalised(verification_table_ddl())


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_missing_table_with_create_tables_off_is_refused_naming_the_setting(
    kind, request, tmp_path, monkeypatch
):
    store = warehouse_store(kind, request, tmp_path, monkeypatch)
    store.create_tables()

    with pytest.raises(PersonalizeValidationError, match=r"create_tables.*erasure_verification"):
        require_verification_table(store)

    store.hook.run(verification_table_ddl())
    require_verification_table(store)  # exists now: no error


def test_with_create_tables_off_the_record_needs_no_create_privilege(request, tmp_path, monkeypatch):
    """The README's statement run by the deployment, the pipeline's role without CREATE (PostgreSQL 15):
    the record is written; with the table created on every run (the old behaviour) it is refused."""
    store = warehouse_store("postgres", request, tmp_path, monkeypatch)
    store.create_tables()
    store.hook.run(readme_statement())
    server = request.getfixturevalue("postgres_server")
    dbname = store.hook.get_connection(store.hook.get_conn_id()).schema
    admin = server.connect(dbname)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("CREATE ROLE verification_app LOGIN")
        cursor.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        cursor.execute(f"GRANT SELECT, INSERT, DELETE ON {VERIFICATION_TABLE} TO verification_app")
    admin.close()
    uri = server.uri(dbname).replace(f"//{server.user}@", "//verification_app@")
    monkeypatch.setenv("AIRFLOW_CONN_RESTRICTED_WAREHOUSE", uri)
    restricted = ErasureRequestStore(
        BaseHook.get_connection("restricted_warehouse").get_hook(hook_params={"log_sql": False})
    )
    try:
        require_verification_table(restricted)
        record_verification(restricted, "manual__1", NOW, [RESULT], create_table=False)
        assert store.hook.get_records(f"SELECT run_id, outcome FROM {VERIFICATION_TABLE}") == [
            ("manual__1", "verified_absent")
        ]
        with pytest.raises(Exception, match="Writing the verification record"):
            record_verification(restricted, "manual__2", NOW, [RESULT], create_table=True)
    finally:
        admin = server.connect(dbname)
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute("DROP OWNED BY verification_app")
            cursor.execute("DROP ROLE verification_app")
        admin.close()
