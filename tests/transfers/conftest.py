"""
The transfer's test rig: a warehouse holding ids (SQLite file or real PostgreSQL), a bucket on the
emulator, and helpers to run the operator and read back what it wrote.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk import BaseHook

from airflow_provider_personalize_deletion.transfers.sql_to_s3 import SqlToPersonalizeDeletionFileOperator

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BUCKET = "erasure-files"
PREFIX = "erasure/run-1"
SQLITE_CONN_ID = "warehouse_sqlite"
SELECT_IDS = "SELECT user_id FROM erasure_ids"


@dataclass(frozen=True)
class Warehouse:
    """A database with an ``erasure_ids(user_id)`` table, reachable through an Airflow connection."""

    conn_id: str
    placeholder: str

    def load(self, ids: Iterable[Any], column_type: str = "TEXT") -> None:
        """
        Create the table and insert the ids, in order.

        :param ids: values of ``user_id``; None for NULL.
        :param column_type: the SQL type of ``user_id``.
        """
        conn = BaseHook.get_connection(self.conn_id).get_hook().get_conn()
        try:
            cursor = conn.cursor()
            cursor.execute(f"CREATE TABLE erasure_ids (user_id {column_type})")
            cursor.executemany(
                f"INSERT INTO erasure_ids (user_id) VALUES ({self.placeholder})", [(i,) for i in ids]
            )
            conn.commit()
        finally:
            conn.close()


@pytest.fixture
def sqlite_warehouse(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    uri = json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "warehouse.db")})
    monkeypatch.setenv(f"AIRFLOW_CONN_{SQLITE_CONN_ID.upper()}", uri)
    return Warehouse(SQLITE_CONN_ID, "?")


@pytest.fixture(params=["sqlite", "postgres"])
def warehouse(request: pytest.FixtureRequest) -> Warehouse:
    """Each test using it runs once on SQLite and once on a real PostgreSQL server."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_warehouse")
    return Warehouse(request.getfixturevalue("postgres_conn_id"), "%s")


@pytest.fixture
def bucket(aws_conn: str, s3_client: S3Client) -> str:
    """An empty bucket on the emulator, with the default AWS connection pointing at it."""
    s3_client.create_bucket(Bucket=BUCKET)
    return BUCKET


RunTransfer = Callable[..., dict[str, Any]]


@pytest.fixture
def run_transfer(warehouse: Warehouse, bucket: str) -> RunTransfer:
    """Run the operator on the warehouse's ids; keyword arguments override the defaults."""
    return make_runner(warehouse, bucket)


def make_runner(warehouse: Warehouse, bucket: str) -> RunTransfer:
    def run(**overrides: Any) -> dict[str, Any]:
        arguments = {
            "task_id": "export_user_ids",
            "conn_id": warehouse.conn_id,
            "sql": SELECT_IDS,
            "s3_bucket": bucket,
            "s3_key_prefix": PREFIX,
        }
        return SqlToPersonalizeDeletionFileOperator(**{**arguments, **overrides}).execute(context={})

    return run


def object_keys(s3_client: S3Client, bucket: str = BUCKET) -> list[str]:
    """Every key in the bucket, sorted."""
    return sorted(item["Key"] for item in s3_client.list_objects_v2(Bucket=bucket).get("Contents", []))


def read_ids(s3_client: S3Client, key: str, bucket: str = BUCKET) -> list[str]:
    """
    Read one deletion file with the csv module; check its header and return its ids in order.

    :param key: the object's key.
    """
    body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    assert rows[0] == ["USER_ID"]
    assert all(len(row) == 1 for row in rows[1:])
    return [row[0] for row in rows[1:]]
