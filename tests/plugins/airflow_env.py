"""
Fixtures for tests that run DAGs with ``dag.test()``: a migrated Airflow metadata database.

The database lives in the private ``AIRFLOW_HOME`` that ``tests/conftest.py`` sets, so every test
session starts from a fresh one.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Migrate the session's Airflow metadata database once (about 10 s)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        env=os.environ.copy(),
        capture_output=True,
    )


@pytest.fixture
def run_dag(airflow_db, aws_conn):
    """
    Run a DAG of the test DAGs folder with ``dag.test()`` and return the finished DAG run.

    The AWS connection points at the emulator (``aws_conn``); extra connections and run conf pass
    through.
    """
    from airflow.dag_processing.dagbag import DagBag

    def run(dag_id: str, conf: dict | None = None):
        dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag(dag_id)
        assert dag is not None, f"DAG {dag_id!r} not found in the test DAGs folder"
        return dag.test(run_conf=conf)

    return run
