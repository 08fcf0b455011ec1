"""The erasure store on a new warehouse: a SQLite file in the test's folder, or a new PostgreSQL database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airflow.sdk import BaseHook

from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore


def warehouse_store(
    kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sqlite_conn_id: str = "personalize_erasure_warehouse",
) -> ErasureRequestStore:
    """
    Return a store on a new, empty warehouse, which the Variable naming the example DAG's warehouse points to.

    :param kind: ``sqlite`` or ``postgres`` (the ``postgres_conn_id`` fixture's database).
    :param request: the test's request, to reach the PostgreSQL fixture.
    :param tmp_path: the test's folder, for the SQLite file.
    :param monkeypatch: sets the connection and the Variable for the test only.
    :param sqlite_conn_id: the Airflow connection id of the SQLite warehouse.
    """
    if kind == "sqlite":
        uri = json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "warehouse.db")})
        monkeypatch.setenv(f"AIRFLOW_CONN_{sqlite_conn_id.upper()}", uri)
        conn_id = sqlite_conn_id
    else:
        conn_id = request.getfixturevalue("postgres_conn_id")
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_WAREHOUSE_CONN_ID", conn_id)
    return ErasureRequestStore(BaseHook.get_connection(conn_id).get_hook(hook_params={"log_sql": False}))
