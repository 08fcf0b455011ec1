"""
Who can redirect the dashboard: a task of any DAG may write any Variable, so the dashboard's warehouse
comes from the API server's configuration (``[personalize_deletion] dashboard_*``), which no task can
write. The Variables here are written by a real task (``dag.test()`` of ``tests/dags/write_variables.py``),
into the metadata database the API app reads.
"""

from __future__ import annotations

import os

import pytest

from airflow_provider_personalize_deletion.dashboard.settings import FROM_VARIABLES, OPTIONS
from tests.dashboard.conftest import CONN_ID_ENV, PREFIX, option_env

LOOKUP = f"{PREFIX}/api/evidence"
#: The Variables a DAG author's task writes to point the dashboard elsewhere.
REDIRECT = {
    "personalize_erasure_warehouse_conn_id": "elsewhere",
    "personalize_erasure_requests_table": "elsewhere_requests",
    "personalize_erasure_audit_table": "elsewhere_audit",
    "personalize_erasure_overdue_days": "1",
}


@pytest.fixture(scope="module")
def task_wrote_variables(api):
    """:data:`REDIRECT` written by a task into the metadata database, deleted afterwards."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models import Variable

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag("write_variables")
    assert dag.test(run_conf=REDIRECT).state == "success"
    yield
    for key in REDIRECT:
        Variable.delete(key)


@pytest.fixture
def variables_written_by_a_task(task_wrote_variables, sqlite_world, monkeypatch):
    """The Variables of :data:`REDIRECT` as a task wrote them (the fixtures' environment ones removed)."""
    from airflow.models import Variable

    for key in REDIRECT:
        monkeypatch.delenv(f"AIRFLOW_VAR_{key.upper()}", raising=False)
    assert {key: Variable.get(key) for key in REDIRECT} == REDIRECT


def warehouse_of_a_lookup(api) -> dict:
    """Where a lookup read, and against which deadline, as its evidence record says."""
    response = api.login("officer").post(LOOKUP, json={"user_id": "alice"})
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["requests"], "the lookup found alice's requests in the test's warehouse"
    return {**record["warehouse"], "deadline_days": record["deadline_days"]}


def configured_warehouse(deadline_days: int) -> dict:
    """The test's warehouse, which the API app's configuration names, with the default tables."""
    return {
        "connection_id": os.environ[CONN_ID_ENV],
        "requests_table": "erasure_requests",
        "audit_table": "erasure_audit",
        "deadline_days": deadline_days,
    }


def test_by_default_a_variable_a_task_wrote_does_not_redirect_the_dashboard(
    api, sqlite_world, variables_written_by_a_task
):
    assert warehouse_of_a_lookup(api) == configured_warehouse(deadline_days=30)


def test_with_variables_on_the_configured_settings_still_win(
    api, sqlite_world, variables_written_by_a_task, monkeypatch
):
    monkeypatch.setenv(option_env(FROM_VARIABLES), "True")
    monkeypatch.setenv(option_env(OPTIONS["requests_table"]), "erasure_requests")
    monkeypatch.setenv(option_env(OPTIONS["audit_table"]), "erasure_audit")
    monkeypatch.setenv(option_env(OPTIONS["overdue_days"]), "20")
    assert warehouse_of_a_lookup(api) == configured_warehouse(deadline_days=20)


def test_with_variables_on_a_variable_a_task_wrote_fills_an_unset_option(
    api, sqlite_world, variables_written_by_a_task, monkeypatch
):
    monkeypatch.setenv(option_env(FROM_VARIABLES), "True")
    monkeypatch.delenv(CONN_ID_ENV)
    response = api.login("reader").get(f"{PREFIX}/api/summary")
    # The dashboard now reads the connection the task named: it is missing here, and said so.
    assert response.status_code == 503
    assert response.json()["detail"].startswith("The warehouse connection is missing")
    assert "elsewhere" in response.json()["detail"]


def test_a_bad_option_is_refused_naming_it_never_its_value(api, sqlite_world, monkeypatch):
    monkeypatch.setenv(option_env(OPTIONS["audit_table"]), "audit; DROP TABLE erasure_requests")
    response = api.login("reader").get(f"{PREFIX}/api/summary")
    assert response.status_code == 500
    assert "[personalize_deletion] dashboard_audit_table" in response.json()["detail"]
    assert "DROP" not in response.text
