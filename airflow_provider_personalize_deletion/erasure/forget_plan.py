"""
The plan of a find-and-forget run, kept in the warehouse (table :data:`FORGET_PLAN_TABLE`) by the planning
task: its locations, its batches of objects and its summary (refused listings included). The batches
travel to the mapped tasks by XCom, which whoever may write an XCom can forge, so each mapped task checks
every object of its batch against the recorded plan before any call (:func:`.forget.batch.check_in_scope`),
and the record step counts the recorded objects, not an XCom's, so that none is hidden from the count of
unverified ones. A plan names S3 paths, formats and job ARNs, never a user id.
"""

from __future__ import annotations

import json
from datetime import datetime

from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore, sql_timestamp
from airflow_provider_personalize_deletion.forget.planning import ForgetBatches
from airflow_provider_personalize_deletion.transfers.sql_cursor import database_errors

#: The table of the runs' location plans.
FORGET_PLAN_TABLE = "erasure_forget_plan"


def forget_plan_table_ddl(table: str = FORGET_PLAN_TABLE) -> str:
    """The statement that creates the plan table if missing (portable SQL; the README prints it)."""
    return f"""CREATE TABLE IF NOT EXISTS {table} (
    dag_id VARCHAR(250) NOT NULL,
    run_id VARCHAR(250) NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    plan TEXT NOT NULL,
    PRIMARY KEY (dag_id, run_id)
)"""


@database_errors("Recording the find-and-forget plan")
def write_forget_plan(
    store: ErasureRequestStore,
    dag_id: str,
    run_id: str,
    recorded_at: datetime,
    plan: ForgetBatches,
    table: str = FORGET_PLAN_TABLE,
) -> None:
    """
    Keep a run's plan, replacing the one a previous try of the planning task recorded.

    :param store: the request store (its warehouse connection).
    :param dag_id: the DAG's id.
    :param run_id: the DAG run's id.
    :param recorded_at: when it was made.
    :param plan: the run's locations, batches and summary.
    :param table: the plan table.
    """
    p = store.hook.placeholder
    connection = store.hook.get_conn()
    try:
        cursor = connection.cursor()
        cursor.execute(f"DELETE FROM {table} WHERE dag_id = {p} AND run_id = {p}", (dag_id, run_id))
        cursor.execute(
            f"INSERT INTO {table} (dag_id, run_id, recorded_at, plan) VALUES ({p}, {p}, {p}, {p})",
            (dag_id, run_id, sql_timestamp(recorded_at), json.dumps(plan.as_record(), sort_keys=True)),
        )
        connection.commit()
    finally:
        connection.close()


@database_errors("Reading the find-and-forget plan")
def read_forget_plan(
    store: ErasureRequestStore, dag_id: str, run_id: str, table: str = FORGET_PLAN_TABLE
) -> ForgetBatches | None:
    """
    A run's plan, as its planning task recorded it; None when it recorded none.

    :param store: the request store.
    :param dag_id: the DAG's id.
    :param run_id: the DAG run's id.
    :param table: the plan table.
    """
    p = store.hook.placeholder
    rows = store.hook.get_records(
        f"SELECT plan FROM {table} WHERE dag_id = {p} AND run_id = {p}", (dag_id, run_id)
    )
    return None if not rows else ForgetBatches.from_record(json.loads(rows[0][0]))
