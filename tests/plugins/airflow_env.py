"""
Fixtures for tests that run DAGs with ``dag.test()``: a migrated Airflow metadata database.

The database lives in the private ``AIRFLOW_HOME`` that ``tests/conftest.py`` sets, so every test
session starts from a fresh one.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

#: Seconds ``dag.test()`` idles after a pass of its loop that scheduled no task (Airflow's: 1 s).
DAG_TEST_IDLE_SECONDS = 0.05


@contextlib.contextmanager
def short_dag_test_idling() -> Iterator[None]:
    """
    Cut ``dag.test()``'s idle pause to :data:`DAG_TEST_IDLE_SECONDS` while the context is open.

    ``dag.test()`` sleeps 1 s after each pass of its loop that scheduled no task; the example DAG's
    skipped follow-up rounds take one pass per level, so 6 to 9 s of each run went to these pauses.
    Only ``dag.test()``'s own call of ``time.sleep`` is shortened (told apart by its caller's code);
    every other sleep (botocore's back-off, the emulator's latency, the tests') is left as it is.
    """
    from airflow.sdk.definitions.dag import DAG

    dag_test_code = inspect.unwrap(DAG.test).__code__
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        real_sleep(DAG_TEST_IDLE_SECONDS if sys._getframe(1).f_code is dag_test_code else seconds)

    time.sleep = sleep
    try:
        yield
    finally:
        time.sleep = real_sleep


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[None]:
    """Migrate the session's Airflow metadata database once (about 10 s); dag.test() idles briefly."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        env=os.environ.copy(),
        capture_output=True,
    )
    with short_dag_test_idling():
        yield


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
