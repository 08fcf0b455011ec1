"""
What the example DAG's runs did after their audit record: the result each run's ``delete_deletion_files``
task returned (how many of the run's deletion files it deleted, and why it kept them), read from
Airflow's metadata database (its XCom), for the evidence's "the file was deleted".

An XCom is gone once the run is cleared or the metadata database cleaned: the evidence then says the
deletion is unknown, never that it happened.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

#: The task that deletes a run's deletion files (the example DAG's).
DELETE_FILES_TASK = "delete_deletion_files"
#: Runs whose result one lookup reads, at most (a lookup shows at most as many requests).
MAX_RUNS_READ = 100


def deletion_file_results(session: Any, dag_id: str, run_ids: Collection[str]) -> dict[str, Any]:
    """
    The value each run's :data:`DELETE_FILES_TASK` returned, by run id (a run without one is left out).

    :param session: a metadata database session.
    :param dag_id: the erasure DAG.
    :param run_ids: the runs shown (at most :data:`MAX_RUNS_READ` read).
    """
    from airflow.models.xcom import XCOM_RETURN_KEY, XComModel
    from sqlalchemy import select

    chosen = sorted(run_ids)[:MAX_RUNS_READ]
    if not chosen:
        return {}
    rows = session.execute(
        select(XComModel.run_id, XComModel.value).where(
            XComModel.dag_id == dag_id,
            XComModel.task_id == DELETE_FILES_TASK,
            XComModel.key == XCOM_RETURN_KEY,
            XComModel.map_index == -1,
            XComModel.run_id.in_(chosen),
        )
    ).all()
    return {row.run_id: XComModel.deserialize_value(row) for row in rows}


__all__: Sequence[str] = ("DELETE_FILES_TASK", "deletion_file_results")
