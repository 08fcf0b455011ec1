"""
Values the database cannot hand over as text, and errors of the database while rows are read: the
transfer counts the first as ``not_utf8`` and re-raises the second without the driver's message;
neither puts a row's value in an exception or a log.
"""

from __future__ import annotations

import pytest
from airflow.sdk import BaseHook

from airflow_provider_personalize_deletion.transfers.sql_cursor import WarehouseReadError
from airflow_provider_personalize_deletion.transfers.sql_to_s3 import InvalidUserIdsError
from tests.transfers.conftest import Warehouse, make_runner, object_keys
from tests.transfers.test_sql_to_s3 import all_ids

#: How the bytes FF 61 (not UTF-8) show in a driver's message, a repr, or a lossy decoding.
UNDECODABLE_TRACES = ("Could not decode", "\ufffd", "\udcff", "\\xff", "\\udcff", "ÿ")


def insert_undecodable_text(warehouse: Warehouse) -> None:
    """Add the TEXT value of bytes FF 61, as SQLite stores whatever bytes it is given as text."""
    BaseHook.get_connection(warehouse.conn_id).get_hook().run(
        "INSERT INTO erasure_ids (user_id) VALUES (CAST(X'FF61' AS TEXT))"
    )


def assert_no_trace(text: str, traces: tuple[str, ...]) -> None:
    assert [trace for trace in traces if trace in text] == []


def test_text_that_is_not_utf8_fails_as_one_not_utf8_value_never_quoted(
    sqlite_warehouse, bucket, s3_client, caplog, capsys
):
    sqlite_warehouse.load(["valid-1"])
    insert_undecodable_text(sqlite_warehouse)

    with caplog.at_level("DEBUG"), pytest.raises(InvalidUserIdsError) as failure:
        make_runner(sqlite_warehouse, bucket)()

    assert failure.value.invalid["not_utf8"] == 1
    logs = caplog.text + "".join(capsys.readouterr())
    assert_no_trace(str(failure.value) + logs, UNDECODABLE_TRACES)
    assert object_keys(s3_client) == []


def test_text_that_is_not_utf8_is_skipped_and_the_valid_ids_are_written(sqlite_warehouse, bucket, s3_client):
    sqlite_warehouse.load(["valid-1", "valid-2"])
    insert_undecodable_text(sqlite_warehouse)

    summary = make_runner(sqlite_warehouse, bucket)(invalid_ids="skip")

    assert all_ids(s3_client, summary) == ["valid-1", "valid-2"]
    assert summary["skipped"]["not_utf8"] == 1


def test_a_database_error_on_a_row_is_raised_without_the_drivers_message(
    postgres_conn_id, bucket, s3_client, caplog, capsys
):
    warehouse = Warehouse(postgres_conn_id, "%s")
    warehouse.load(["42", "secret-user-7"])
    # PostgreSQL's message names the row's value: invalid input syntax for type integer: "secret-user-7"
    cast_to_integer = "SELECT CAST(user_id AS INTEGER) FROM erasure_ids"

    with caplog.at_level("DEBUG"), pytest.raises(WarehouseReadError) as failure:
        make_runner(warehouse, bucket)(sql=cast_to_integer)

    message = str(failure.value)
    assert "InvalidTextRepresentation" in message and "22P02" in message  # the type and SQLSTATE
    assert failure.value.__cause__ is None and failure.value.__context__ is None
    logs = caplog.text + "".join(capsys.readouterr())
    assert_no_trace(message + logs, ("secret-user-7", "invalid input syntax"))
    assert object_keys(s3_client) == []
