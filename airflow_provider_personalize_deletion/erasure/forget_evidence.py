"""
The evidence of find and forget in the warehouse: one row per object and attempt (table
:data:`FORGET_TABLE`), written as soon as the object is done, and the run's summary in its audit record.

A row holds the object's location, format and outcome, its version and ETag before and after, the
records removed, whether it was verified and why not; never a user id. Rows are kept per task try: a
retry that finds an object already rewritten adds a ``no_match`` row beside the ``forgotten`` one, so no
removal is lost from the record. The summary counts an object as unverified when its last row is, and
also when no row was written for it at all (the task never reached it) or its listing was refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore, sql_timestamp
from airflow_provider_personalize_deletion.forget.batch import result_record
from airflow_provider_personalize_deletion.transfers.sql_cursor import database_errors

if TYPE_CHECKING:
    from airflow_provider_personalize_deletion.forget.objects import ForgetObject
    from airflow_provider_personalize_deletion.forget.result import ObjectResult

#: The evidence table of find and forget.
FORGET_TABLE = "erasure_forget"
#: The audit record's member holding the run's summary.
AUDIT_MEMBER = "find_and_forget"
#: The columns after the row's identity and time, in the order of :func:`forget_table_ddl`.
_RESULT_COLUMNS = (
    "location",
    "format",
    "outcome",
    "verified",
    "version_before",
    "etag_before",
    "version_after",
    "etag_after",
    "records_before",
    "records_removed",
    "users_removed",
    "old_versions_deleted",
    "old_versions_kept",
    "reason",
)


def forget_table_ddl(table: str = FORGET_TABLE) -> str:
    """The statement that creates the evidence table if missing (portable SQL; the README prints it)."""
    return f"""CREATE TABLE IF NOT EXISTS {table} (
    dag_id VARCHAR(250) NOT NULL,
    run_id VARCHAR(250) NOT NULL,
    map_index INTEGER NOT NULL,
    try_number INTEGER NOT NULL,
    position INTEGER NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    location VARCHAR(1100) NOT NULL,
    format VARCHAR(32) NOT NULL,
    outcome VARCHAR(16) NOT NULL,
    verified BOOLEAN NOT NULL,
    version_before VARCHAR(1024),
    etag_before VARCHAR(128),
    version_after VARCHAR(1024),
    etag_after VARCHAR(128),
    records_before BIGINT NOT NULL,
    records_removed BIGINT NOT NULL,
    users_removed BIGINT NOT NULL,
    old_versions_deleted INTEGER NOT NULL,
    old_versions_kept TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (dag_id, run_id, map_index, try_number, position)
)"""


@database_errors("Creating the find-and-forget evidence table")
def create_forget_table(store: ErasureRequestStore, table: str = FORGET_TABLE) -> None:
    """:param store: the request store (its warehouse connection); create the table if missing."""
    store.hook.run(forget_table_ddl(table))


@database_errors("Looking up the find-and-forget evidence table")
def forget_table_exists(store: ErasureRequestStore, table: str = FORGET_TABLE) -> bool:
    """:param store: the request store; whether the evidence table exists (read without writing)."""
    return store.has_table(table)


@database_errors("Writing a find-and-forget evidence row")
def write_forget_row(
    store: ErasureRequestStore,
    attempt: tuple[str, str, int, int, int],
    recorded_at: datetime,
    item: ForgetObject,
    result: ObjectResult,
    table: str = FORGET_TABLE,
) -> None:
    """
    Keep one object's result (replacing a row of the same attempt and position, if any).

    :param store: the request store (its warehouse connection).
    :param attempt: ``(dag_id, run_id, map_index, try_number, position in the batch)``.
    :param recorded_at: when the object was done.
    :param item: the object.
    :param result: what became of it.
    :param table: the evidence table.
    """
    record = result_record(item, result)
    record["old_versions_kept"] = json.dumps(record["old_versions_kept"])
    values = (*attempt, sql_timestamp(recorded_at), *(record[column] for column in _RESULT_COLUMNS))
    p = store.hook.placeholder
    identity = "dag_id = {p} AND run_id = {p} AND map_index = {p} AND try_number = {p} AND position = {p}"
    connection = store.hook.get_conn()
    try:
        cursor = connection.cursor()
        cursor.execute(f"DELETE FROM {table} WHERE {identity.format(p=p)}", attempt)
        columns = ("dag_id", "run_id", "map_index", "try_number", "position", "recorded_at", *_RESULT_COLUMNS)
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([p] * len(columns))})", values
        )
        connection.commit()
    finally:
        connection.close()


@database_errors("Reading the find-and-forget evidence")
def forget_rows(
    store: ErasureRequestStore, dag_id: str, run_id: str, table: str = FORGET_TABLE
) -> list[dict[str, Any]]:
    """
    A run's rows, oldest attempt first.

    :param store: the request store.
    :param dag_id: the DAG's id.
    :param run_id: the DAG run's id.
    :param table: the evidence table.
    """
    p = store.hook.placeholder
    columns = ("map_index", "try_number", "position", *_RESULT_COLUMNS)
    rows = store.hook.get_records(
        f"SELECT {', '.join(columns)} FROM {table} WHERE dag_id = {p} AND run_id = {p} "
        "ORDER BY try_number, map_index, position",
        (dag_id, run_id),
    )
    return [
        {**dict(zip(columns, row, strict=True)), "verified": bool(row[columns.index("verified")])}
        for row in rows
    ]


def summarise(
    records: Iterable[Mapping[str, Any]],
    planned: Sequence[str],
    unlisted: int = 0,
    dry_run: bool = False,
) -> dict[str, Any]:
    """
    The run's summary from its per-object records (evidence rows or the tasks' results), oldest first.

    :param records: ``location``, ``outcome``, ``verified``, ``records_removed`` each.
    :param planned: the locations the planning step gave the tasks.
    :param unlisted: listings S3 refused (their objects could not be read).
    :param dry_run: the records are a dry run's (``would_forget`` counts files that would be rewritten).
    :return: ``files_rewritten``, ``unverified`` (``not_reached`` and ``unlisted`` included),
        ``records_removed``, ``objects``, the counts by outcome, and ``summary``: "removed from N files in
        S3 (M unverified)".
    """
    last: dict[str, Mapping[str, Any]] = {}
    rewritten: set[str] = set()
    removed = 0
    for record in records:
        last[record["location"]] = record
        if record["outcome"] in ("forgotten", "would_forget"):
            rewritten.add(record["location"])
            removed += int(record["records_removed"])
    not_reached = len(set(planned) - set(last))
    # A dry run's "would_forget" is not verified clean, nor unverified: nothing was meant to be written.
    unread = sum(1 for record in last.values() if record["outcome"] == "unverified")
    unverified = unread + not_reached + unlisted
    outcomes: dict[str, int] = {}
    for record in last.values():
        outcomes[record["outcome"]] = outcomes.get(record["outcome"], 0) + 1
    verb = "would be removed from" if dry_run else "removed from"
    return {
        "summary": f"{verb} {len(rewritten)} files in S3 ({unverified} unverified)",
        "files_rewritten": len(rewritten),
        "unverified": unverified,
        "not_reached": not_reached,
        "unlisted": unlisted,
        "records_removed": removed,
        "objects": len(last),
        "outcomes": dict(sorted(outcomes.items())),
        "dry_run": dry_run,
    }


@database_errors("Adding the find-and-forget summary to the audit record")
def add_to_audit(store: ErasureRequestStore, run_id: str, summary: Mapping[str, Any]) -> bool:
    """
    Put the run's find-and-forget summary into its audit record (member :data:`AUDIT_MEMBER`, replaced
    on a retry); the rest of the record is kept as written.

    :param store: the request store.
    :param run_id: the DAG run's id.
    :param summary: :func:`summarise`'s result.
    :return: whether the run has an audit record (a backlog run has none).
    """
    p = store.hook.placeholder
    connection = store.hook.get_conn()
    try:
        cursor = connection.cursor()
        cursor.execute(f"SELECT record FROM {store.audit_table} WHERE run_id = {p}", (run_id,))
        row = cursor.fetchone()
        if row is None:
            return False
        record = {**json.loads(row[0]), AUDIT_MEMBER: dict(summary)}
        cursor.execute(
            f"UPDATE {store.audit_table} SET record = {p} WHERE run_id = {p}",
            (json.dumps(record, sort_keys=True), run_id),
        )
        connection.commit()
    finally:
        connection.close()
    return True
