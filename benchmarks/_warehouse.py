"""The erasure store of a benchmark's warehouse: a SQLite file, or a PostgreSQL database by URI."""

from __future__ import annotations

import json
import os
import sys

from _common import REPO

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore


def store_of(source: str, location: str) -> ErasureRequestStore:
    """
    :param source: ``sqlite`` or ``postgres``.
    :param location: the SQLite file, or the PostgreSQL database's URI.
    """
    if source == "sqlite":
        from airflow.providers.sqlite.hooks.sqlite import SqliteHook

        os.environ["AIRFLOW_CONN_BENCH_WAREHOUSE"] = json.dumps({"conn_type": "sqlite", "host": location})
        return ErasureRequestStore(SqliteHook(sqlite_conn_id="bench_warehouse", log_sql=False))
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    os.environ["AIRFLOW_CONN_BENCH_WAREHOUSE"] = location
    return ErasureRequestStore(PostgresHook(postgres_conn_id="bench_warehouse", log_sql=False))
