"""
Fixtures of the dashboard's tests.

- ``store`` (function, SQLite and PostgreSQL): the erasure tables, created by the store, with the
  dashboard's indexes; the API reads them through the API server's option
  ``[personalize_deletion] dashboard_warehouse_conn_id`` (its environment variable).
- ``sqlite_store``: the same on SQLite only.
- ``world``: :func:`~tests.dashboard.seed.small_world` written into them, relative to now.
- ``events``: the dashboard's events in Airflow's event log, emptied first; a function reading them.
- ``api`` (session): Airflow's own API app (``create_app("core")``, about 10 s), with the provider's
  plugin mounted as the API server mounts it, SimpleAuthManager and its users; ``api.login(user)``
  gives a client holding that user's ``_token`` cookie, as the UI's iframe sends it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_provider_personalize_deletion.dashboard.settings import OPTIONS, SECTION
from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore
from tests.dashboard.seed import SmallWorld, WarehouseSeeder, small_world
from tests.plugins.warehouse import warehouse_store

#: Users of the API app's SimpleAuthManager: a viewer and an operator may read every DAG's runs, the
#: officer (an admin, the default lookup role) may look people up too; a user without a role may read nothing.
USERS = {"reader": "viewer", "operator": "op", "officer": "admin", "nobody": ""}
PASSWORD = "dashboard-test-password"
PREFIX = "/personalize-erasure"


def option_env(option: str) -> str:
    """The environment variable of an option of the provider's section of the Airflow configuration."""
    return f"AIRFLOW__{SECTION}__{option}".upper()


#: Where the API app finds the dashboard's warehouse connection.
CONN_ID_ENV = option_env(OPTIONS["warehouse_conn_id"])


def _store(kind: str, request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ErasureRequestStore:
    store = warehouse_store(kind, request, tmp_path, monkeypatch, sqlite_conn_id="dashboard_warehouse")
    monkeypatch.setenv(CONN_ID_ENV, store.hook.get_conn_id())
    store.create_tables()
    return store


@pytest.fixture(autouse=True)
def lookups_within_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    The suite looks people up as one user far more often than the default hourly limit allows (every
    lookup counts, those that fail too): the limit is raised, and the tests of the limit set their own.
    """
    monkeypatch.setenv(option_env("dashboard_lookups_per_hour"), "10000")


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ErasureRequestStore:
    return _store(request.param, request, tmp_path, monkeypatch)


@pytest.fixture
def sqlite_store(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ErasureRequestStore:
    """The tables on SQLite only, which keeps any text in any column whatever its declared type."""
    return _store("sqlite", request, tmp_path, monkeypatch)


@pytest.fixture
def world(store: ErasureRequestStore) -> SmallWorld:
    return small_world(WarehouseSeeder(store), datetime.now(timezone.utc))


@pytest.fixture
def sqlite_world(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SmallWorld:
    """:func:`small_world` on SQLite only (for tests where the database makes no difference)."""
    store = _store("sqlite", request, tmp_path, monkeypatch)
    return small_world(WarehouseSeeder(store), datetime.now(timezone.utc))


@dataclass
class ApiServer:
    """Airflow's API app in a test client."""

    client: object

    def login(self, username: str):
        """A client with ``username``'s token in the UI's cookie, from ``POST /auth/token``."""
        from fastapi.testclient import TestClient

        response = self.client.post("/auth/token", json={"username": username, "password": PASSWORD})
        assert response.status_code == 201, response.text
        client = TestClient(self.client.app, cookies={"_token": response.json()["access_token"]})
        return client

    def anonymous(self):
        from fastapi.testclient import TestClient

        return TestClient(self.client.app)


@pytest.fixture(scope="session")
def api(airflow_db, tmp_path_factory) -> Iterator[ApiServer]:
    from fastapi.testclient import TestClient

    passwords = tmp_path_factory.mktemp("auth") / "passwords.json"
    passwords.write_text(json.dumps(dict.fromkeys(USERS, PASSWORD)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", ",".join(f"{u}:{r}" for u, r in USERS.items())
        )
        patch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords))
        from airflow.api_fastapi.app import create_app, purge_cached_app

        with TestClient(create_app("core")) as client:
            yield ApiServer(client)
        purge_cached_app()


@pytest.fixture
def events(airflow_db):
    """The dashboard's events in Airflow's event log, emptied first; a function reading them."""
    from airflow.models.log import Log
    from airflow.utils.session import create_session

    from airflow_provider_personalize_deletion.dashboard.lookup_log import LOOKUP_EVENT, REFUSED_EVENT

    with create_session() as session:
        session.query(Log).filter(Log.event.in_((LOOKUP_EVENT, REFUSED_EVENT))).delete()

    def read():
        with create_session() as session:
            rows = session.query(Log).filter(Log.event.in_((LOOKUP_EVENT, REFUSED_EVENT))).order_by(Log.id)
            return [
                {column.name: getattr(row, column.name) for column in Log.__table__.columns} for row in rows
            ]

    return read
