"""
Find and forget never presents a run as clean while a location Personalize read or wrote was not scanned:
the audit record, the record step's sentence and the dashboard's answers say how many locations were
left out and why, from the plan the warehouse holds (or a dry run found again), never from an XCom. On
the emulator's jobs (``jobs``), under dag.test(): the bound covers the batch bucket and the import
source's bucket, not the export's.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_personalize_deletion.erasure.forget_tasks import BACKLOG_DAG_ID, RECORD_TASK
from airflow_provider_personalize_deletion.forget.allowed_locations import ENV as ALLOWED_LOCATIONS_ENV
from tests.dashboard.conftest import CONN_ID_ENV, PREFIX, api  # noqa: F401 (api is a fixture)
from tests.erasure.test_find_and_forget_dag import (  # noqa: F401 (jobs is a fixture)
    BATCH,
    DAG_ID,
    EXPORTS,
    IMPORTS,
    jobs,
    snapshot,
    suppress,
)

pytestmark = pytest.mark.airflow_db

EXPORT = (EXPORTS, "out/export-1/part-00000.csv")
#: The sentence of a run that rewrote the batch input and output and left the export and the import source.
SENTENCE = "removed from 2 files in S3 (0 unverified; 2 locations not scanned)"
#: The locations not scanned, with their reasons (S3 paths of the jobs: no user id).
NOT_SCANNED = [
    {"location": f"s3://{EXPORTS}/out/", "reason": "location_not_allowed"},
    {"location": f"s3://{IMPORTS}/", "reason": "import_source"},
]


@pytest.fixture(autouse=True)
def bound(request, monkeypatch):
    """The emulator's jobs, then a bound narrower than theirs."""
    request.getfixturevalue("jobs")
    monkeypatch.setenv(ALLOWED_LOCATIONS_ENV, f"s3://{BATCH}/, s3://{IMPORTS}/")
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_FORGET_LOCATIONS", json.dumps({"locations": []}))


def failed_tasks(dag_run) -> set[str]:
    return {ti.task_id for ti in dag_run.get_task_instances() if ti.state == "failed"}


def test_a_jobs_location_outside_the_bound_is_in_the_audit_record_and_the_dashboards_answers(
    run_dag,
    world,
    s3_client,
    api,  # noqa: F811 (the imported fixture)
    monkeypatch,
):
    world.request("user-007")
    before = snapshot(s3_client)

    dag_run = run_dag(DAG_ID)

    # the export still names the user: the record step fails; the request stays erased (its job completed)
    assert failed_tasks(dag_run) == {RECORD_TASK}
    assert world.statuses() == {"user-007": "erased"}
    assert snapshot(s3_client)[EXPORT] == before[EXPORT]
    ((outcome, record),) = world.audit()
    assert outcome == "erased"
    forget = record["find_and_forget"]
    assert forget["summary"] == SENTENCE
    assert forget["not_scanned_locations"] == NOT_SCANNED
    assert (forget["not_scanned"], forget["not_scanned_holding_users"], forget["not_scanned_blocking"]) == (
        2,
        2,
        1,
    )
    assert forget["clean"] is False

    monkeypatch.setenv(CONN_ID_ENV, world.store.hook.get_conn_id())
    officer = api.login("officer")
    response = officer.get(f"{PREFIX}/api/run", params={"run_id": dag_run.run_id})
    assert response.status_code == 200, response.text
    view = response.json()["find_and_forget"]
    assert view["summary"] == SENTENCE and view["clean"] is False
    assert [
        (item["location"], item["reason"], item["holds_users"], item["blocking"])
        for item in view["not_scanned_locations"]
    ] == [
        (f"s3://{EXPORTS}/out/", "location_not_allowed", True, True),
        (f"s3://{IMPORTS}/", "import_source", True, False),
    ]
    assert "forget_allowed_locations" in view["not_scanned_locations"][0]["explanation"]
    evidence = officer.post(f"{PREFIX}/api/evidence", json={"user_id": "user-007", "format": "json"})
    (request,) = evidence.json()["requests"]
    assert request["run"]["find_and_forget"] == {
        "summary": SENTENCE,
        "files_rewritten": 2,
        "unverified": 0,
        "not_scanned": 2,
        "clean": False,
        "dry_run": False,
    }


def test_a_dry_run_says_what_it_would_leave_unscanned(run_dag, world, s3_client, caplog, capsys):
    suppress(world, "user-007")
    before = snapshot(s3_client)

    dag_run = run_dag(BACKLOG_DAG_ID, conf={"dry_run": True})

    assert failed_tasks(dag_run) == {RECORD_TASK}
    assert snapshot(s3_client) == before
    assert f"would be {SENTENCE}" in caplog.text
    assert "1 location(s) Personalize read or wrote were not scanned (location_not_allowed)" in (
        capsys.readouterr().out
    )
    assert "user-007" not in caplog.text


def test_a_forged_plan_xcom_cannot_remove_the_locations_not_scanned(run_dag, world, monkeypatch):
    """
    A writer of XComs empties the plan summary's ``not_scanned`` and its counts: the record step reads
    the plan the planning task kept in the warehouse, and still names both locations.
    """
    from airflow_provider_personalize_deletion.erasure import forget_runtime
    from airflow_provider_personalize_deletion.operators.find_and_forget import FORGET_PLAN_XCOM_KEY

    world.request("user-007")
    planned = forget_runtime.find_files

    def forged(context, backlog=False):
        batches = planned(context, backlog)
        ti = context["ti"]
        summary = ti.xcom_pull(task_ids=ti.task_id, key=FORGET_PLAN_XCOM_KEY)
        assert summary["not_scanned"]
        ti.xcom_push(
            key=FORGET_PLAN_XCOM_KEY, value={**summary, "not_scanned": [], "locations": {"scannable": 1}}
        )
        return batches

    monkeypatch.setattr(forget_runtime, "find_files", forged)

    dag_run = run_dag(DAG_ID)

    assert failed_tasks(dag_run) == {RECORD_TASK}
    ((_, record),) = world.audit()
    assert record["find_and_forget"]["summary"] == SENTENCE
    assert record["find_and_forget"]["not_scanned_locations"] == NOT_SCANNED
