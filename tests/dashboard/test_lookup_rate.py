"""
The per-user rate limit of lookups holds under concurrency: the check and the record are one step,
serialised per user in Airflow's metadata database (SQLite: its write lock; PostgreSQL: an advisory
lock of the user), so that lookups made at once never pass the limit together.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fastapi import HTTPException

from airflow_provider_personalize_deletion.dashboard.lookup_log import (
    EVIDENCE,
    LOOKUP_EVENT,
    REFUSED_EVENT,
    Subject,
)
from airflow_provider_personalize_deletion.dashboard.queries import DashboardQueries
from tests.dashboard.conftest import option_env
from tests.dashboard.test_lookup_log import LOOKUP, SUBJECT

#: Lookups made at once, and the limit they share.
AT_ONCE, LIMIT = 8, 3


def at_once(call, count: int = AT_ONCE) -> list:
    """``call(n)`` in ``count`` threads released together; their results."""
    barrier = threading.Barrier(count)

    def run(number: int):
        barrier.wait()
        return call(number)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_lookups_made_at_once_by_one_user_never_pass_the_limit_together(
    api,
    sqlite_world,
    events,
    monkeypatch,
):
    """The warehouse slow to answer (a fault, widening the window between check and record)."""
    monkeypatch.setenv(option_env("dashboard_lookups_per_hour"), str(LIMIT))
    answer = DashboardQueries.requests_of

    def slow_requests_of(self, user_id):
        time.sleep(0.3)
        return answer(self, user_id)

    monkeypatch.setattr(DashboardQueries, "requests_of", slow_requests_of)
    clients = [api.login("officer") for _ in range(AT_ONCE)]

    statuses = at_once(lambda n: clients[n].post(LOOKUP, json={"user_id": f"{SUBJECT}-{n}"}).status_code)

    assert sorted(statuses) == [200] * LIMIT + [429] * (AT_ONCE - LIMIT)
    recorded = [row["event"] for row in events()]
    assert recorded.count(LOOKUP_EVENT) == LIMIT and recorded.count(REFUSED_EVENT) == AT_ONCE - LIMIT


class _User:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_name(self) -> str:
        return self.name


@pytest.fixture(params=["sqlite", "postgres"])
def metadata_engine(request, tmp_path: Path):
    """A metadata database's ``log`` table, on SQLite (a file, as Airflow's) or PostgreSQL."""
    from airflow.models.log import Log
    from sqlalchemy import create_engine

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'metadata.db'}"
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    else:
        from airflow.sdk import BaseHook

        conn_id = request.getfixturevalue("postgres_conn_id")
        uri = BaseHook.get_connection(conn_id).get_uri().replace("postgres://", "postgresql+psycopg2://", 1)
        engine = create_engine(uri, pool_size=AT_ONCE)
    Log.__table__.create(engine)
    yield engine
    engine.dispose()


def test_reserving_lookups_at_once_passes_exactly_the_limit(metadata_engine):
    """Each database slow after the insert (a fault, widening the window between insert and count)."""
    from airflow.models.log import Log
    from sqlalchemy import event, func, select
    from sqlalchemy.orm import Session

    from airflow_provider_personalize_deletion.dashboard.lookup_log import reserve_lookup

    subject = Subject("0" * 64, "k" * 16)
    officer = _User("officer")

    def reserve(number: int) -> int:
        with Session(metadata_engine) as session:
            event.listen(session, "after_flush", lambda *_: time.sleep(0.2))
            try:
                reserve_lookup(session, officer, subject, EVIDENCE, datetime.now(timezone.utc), LIMIT)
            except HTTPException as refused:
                return refused.status_code
        return 200

    statuses = at_once(reserve)

    assert sorted(statuses) == [200] * LIMIT + [429] * (AT_ONCE - LIMIT)
    with Session(metadata_engine) as session:
        counted = dict(session.execute(select(Log.event, func.count()).group_by(Log.event)).all())
    assert counted == {LOOKUP_EVENT: LIMIT, REFUSED_EVENT: AT_ONCE - LIMIT}
