"""
The evidence of find and forget in the warehouse: one row per object and attempt (table
:data:`FORGET_TABLE`), written as soon as the object is done, and the run's summary in its audit record.

A row holds the object's location, format and outcome, its version and ETag before and after, the
records removed, whether it was verified and why not; never a user id. Rows are kept per task try: a
retry that finds an object already rewritten adds a ``no_match`` row beside the ``forgotten`` one, so no
removal is lost from the record. Before a rewrite the try writes an intent (outcome ``rewriting``, the
ETag read and the counts to remove), replaced by its result: a try killed between the rewrite and its
result leaves the intent, and a later try that finds the object changed from that ETag and naming no user
to forget completes it as the earlier try's removal (:func:`complete_earlier_intents`). The summary counts
an object as unverified when its last row is not verified clean, when an intent of it was left open (no
later try read the ETag it read, nor completed it), when no row was written for it at all (the task never
reached it), or when its listing was refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_personalize_deletion.erasure.forget_plan import FORGET_PLAN_TABLE, forget_plan_table_ddl
from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore, sql_timestamp
from airflow_provider_personalize_deletion.forget.batch import result_record
from airflow_provider_personalize_deletion.forget.locations import BLOCKING_REASONS, NO_USER_REASONS
from airflow_provider_personalize_deletion.forget.result import VERIFIED_OUTCOMES, Outcome
from airflow_provider_personalize_deletion.transfers.sql_cursor import database_errors

if TYPE_CHECKING:
    from airflow_provider_personalize_deletion.forget.objects import ForgetObject
    from airflow_provider_personalize_deletion.forget.result import ObjectResult

#: The evidence table of find and forget.
FORGET_TABLE = "erasure_forget"
#: The tables of find and forget: the evidence and the runs' plans.
FORGET_TABLES = (FORGET_TABLE, FORGET_PLAN_TABLE)
#: The outcomes a summary does not count as unverified (a dry run's ``would_forget`` wrote nothing).
_SETTLED = frozenset(outcome.value for outcome in (*VERIFIED_OUTCOMES, Outcome.WOULD_FORGET))
#: Why an intent was completed by a later try.
EARLIER_TRY_REASON = (
    "rewritten by an earlier try that stopped before recording it; re-read by a later try: no match"
)
#: The unverified objects a summary names, at most (with their reasons; the table holds them all).
MAX_UNVERIFIED_LISTED = 20
#: The locations a summary names that the plan did not scan, at most (the plan in the warehouse holds all).
MAX_NOT_SCANNED_LISTED = 20
#: Why a planned object with no row is unverified.
NOT_REACHED_REASON = "not reached: no try of its task recorded it"
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


@database_errors("Creating the find-and-forget tables")
def create_forget_table(store: ErasureRequestStore, table: str = FORGET_TABLE) -> None:
    """
    Create the evidence table and the plan table if missing.

    :param store: the request store (its warehouse connection).
    :param table: the evidence table.
    """
    store.hook.run([forget_table_ddl(table), forget_plan_table_ddl()])


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


@database_errors("Completing an earlier try's find-and-forget intent")
def complete_earlier_intents(
    store: ErasureRequestStore,
    attempt: tuple[str, str, int, int, int],
    result: ObjectResult,
    table: str = FORGET_TABLE,
) -> int:
    """
    Record the removal of an earlier try that rewrote an object and stopped before writing its row.

    Only when this try re-read the object and found no user to forget (``no_match``, verified) under
    another ETag than the one the intent read, holding the records the intent read minus those it meant
    to remove: then the earlier try's intent becomes ``forgotten``, with the ETag and version this try
    read as its result. Otherwise the intent stays, unverified (:func:`summarise`): an object that lost
    other records is never taken for the earlier try's verified rewrite.

    :param store: the request store.
    :param attempt: this try's ``(dag_id, run_id, map_index, try_number, position)``.
    :param result: this try's result for the object.
    :param table: the evidence table.
    :return: how many intents were completed.
    """
    if result.outcome is not Outcome.NO_MATCH or result.etag_before is None:
        return 0
    dag_id, run_id, _, try_number, _ = attempt
    p = store.hook.placeholder
    connection = store.hook.get_conn()
    try:
        cursor = connection.cursor()
        cursor.execute(
            f"UPDATE {table} SET outcome = {p}, verified = {p}, etag_after = {p}, version_after = {p}, "
            f"reason = {p} WHERE dag_id = {p} AND run_id = {p} AND location = {p} AND outcome = {p} "
            f"AND try_number < {p} AND etag_before <> {p} AND records_before - records_removed = {p}",
            (
                Outcome.FORGOTTEN.value,
                True,
                result.etag_before,
                result.version_before,
                EARLIER_TRY_REASON,
                dag_id,
                run_id,
                result.location,
                Outcome.REWRITING.value,
                try_number,
                result.etag_before,
                result.records_before,
            ),
        )
        completed = max(cursor.rowcount, 0)
        connection.commit()
    finally:
        connection.close()
    return completed


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
    unlisted: Sequence[Mapping[str, Any]] = (),
    dry_run: bool = False,
    not_scanned: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """
    The run's summary from its per-object records (evidence rows or the tasks' results), oldest first.

    :param records: ``location``, ``outcome``, ``verified``, ``records_removed``, ``reason`` each.
    :param planned: the locations the planning step gave the tasks.
    :param unlisted: the listings S3 refused (``prefix``, ``error``: their objects could not be read).
    :param dry_run: the records are a dry run's (``would_forget`` counts files that would be rewritten).
    :param not_scanned: the locations the plan did not scan (``uri``, ``reason``: a key of
        :data:`.forget.locations.REASONS`), from the plan the run recorded or found again, never an XCom.
    :return: ``files_rewritten``, ``unverified`` (``not_reached`` and ``unlisted`` included),
        ``unverified_objects`` (the first :data:`MAX_UNVERIFIED_LISTED`: ``location`` and ``reason``),
        ``records_removed``, ``objects``, the counts by outcome; ``not_scanned`` (locations),
        ``not_scanned_by_reason``, ``not_scanned_locations`` (the first :data:`MAX_NOT_SCANNED_LISTED`:
        ``location`` and ``reason``), ``not_scanned_holding_users`` (all but :data:`NO_USER_REASONS`),
        ``not_scanned_blocking`` (:data:`BLOCKING_REASONS`: the run fails); ``clean``: no object
        unverified and no location holding users left unscanned; and ``summary``: "removed from N files
        in S3 (M unverified; K locations not scanned)".
    """
    last: dict[str, Mapping[str, Any]] = {}
    open_intents: dict[str, list[Mapping[str, Any]]] = {}
    rewritten: set[str] = set()
    removed = 0
    for record in records:
        location = record["location"]
        last[location] = record
        # An intent is moot once a later try read the ETag it read: its try never wrote the object.
        open_intents[location] = [
            intent
            for intent in open_intents.get(location, ())
            if intent.get("etag_before") != record.get("etag_before")
        ]
        if record["outcome"] == Outcome.REWRITING.value:
            open_intents[location].append(record)
        if record["outcome"] in ("forgotten", "would_forget"):
            rewritten.add(location)
            removed += int(record["records_removed"])
    not_reached = sorted(set(planned) - set(last))
    # A dry run's "would_forget" is not verified clean, nor unverified: nothing was meant to be written.
    # An intent no try completed (the object changed, not as it meant) is unverified whatever came after.
    unread = [
        record if record["outcome"] not in _SETTLED else open_intents[location][0]
        for location, record in last.items()
        if record["outcome"] not in _SETTLED or open_intents[location]
    ]
    unverified = len(unread) + len(not_reached) + len(unlisted)
    listed = [
        *({"location": record["location"], "reason": record.get("reason") or ""} for record in unread),
        *({"location": location, "reason": NOT_REACHED_REASON} for location in not_reached),
        *(
            {
                "location": str(item.get("prefix")),
                "reason": f"its listing was refused (S3 error {item.get('error')})",
            }
            for item in unlisted
        ),
    ]
    outcomes: dict[str, int] = {}
    for record in last.values():
        outcomes[record["outcome"]] = outcomes.get(record["outcome"], 0) + 1
    verb = "would be removed from" if dry_run else "removed from"
    by_reason: dict[str, int] = {}
    for item in not_scanned:
        by_reason[str(item.get("reason"))] = by_reason.get(str(item.get("reason")), 0) + 1
    holding_users = sum(n for reason, n in by_reason.items() if reason not in NO_USER_REASONS)
    where = f"{len(not_scanned)} location{'' if len(not_scanned) == 1 else 's'} not scanned"
    return {
        "summary": f"{verb} {len(rewritten)} files in S3 ({unverified} unverified; {where})",
        "files_rewritten": len(rewritten),
        "unverified": unverified,
        "unverified_objects": listed[:MAX_UNVERIFIED_LISTED],
        "not_reached": len(not_reached),
        "unlisted": len(unlisted),
        "records_removed": removed,
        "objects": len(last),
        "outcomes": dict(sorted(outcomes.items())),
        "dry_run": dry_run,
        "not_scanned": len(not_scanned),
        "not_scanned_by_reason": dict(sorted(by_reason.items())),
        "not_scanned_locations": [
            {"location": str(item.get("uri")), "reason": str(item.get("reason"))}
            for item in not_scanned[:MAX_NOT_SCANNED_LISTED]
        ],
        "not_scanned_holding_users": holding_users,
        "not_scanned_blocking": sum(n for reason, n in by_reason.items() if reason in BLOCKING_REASONS),
        "clean": unverified == 0 and holding_users == 0,
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
