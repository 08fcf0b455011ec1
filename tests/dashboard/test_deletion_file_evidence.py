"""
The evidence's "the deletion file was deleted" comes from the run's audit record, where
``record_erasure`` wrote what it listed in S3 itself, after ``delete_deletion_files`` ran: never from
that task's XCom, which whoever may write an XCom (any task of the DAG, the REST API) can forge.

The example DAG runs for real (``dag.test()``, the emulator and moto's S3 over HTTP); the evidence is
looked up through Airflow's own API app.
"""

from __future__ import annotations

from tests.dashboard.conftest import CONN_ID_ENV, PREFIX
from tests.erasure.conftest import world  # noqa: F401 (the example DAG's world, a fixture)
from tests.erasure.test_example_dag import DAG_ID, erasure_dag

LOOKUP = f"{PREFIX}/api/evidence"
WAREHOUSE_CONN_ID = "personalize_erasure_warehouse"


def deletion_file_of(api, user_id: str) -> dict:
    response = api.login("officer").post(LOOKUP, json={"user_id": user_id})
    assert response.status_code == 200, response.text
    (request,) = response.json()["requests"]
    return request["run"]["deletion_file"]


def forge_cleanup_result(run_id: str, value: dict) -> None:
    """Write the ``delete_deletion_files`` XCom of a run, as a task or a REST API caller could."""
    from airflow.models.xcom import XCOM_RETURN_KEY, XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        XComModel.set(
            key=XCOM_RETURN_KEY,
            value=value,
            dag_id=DAG_ID,
            task_id="delete_deletion_files",
            run_id=run_id,
            session=session,
        )


def test_a_forged_cleanup_xcom_never_makes_a_kept_file_deleted(api, world, monkeypatch):  # noqa: F811
    monkeypatch.setenv(CONN_ID_ENV, WAREHOUSE_CONN_ID)
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_CLEANUP_FILES", "false")
    world.request("user-001")
    dag_run = erasure_dag().test()
    assert dag_run.state == "success" and world.files_left() == 1

    forge_cleanup_result(
        dag_run.run_id, {"deleted": 5, "stale_deleted": 0, "uploads_aborted": 0, "kept": None}
    )

    deletion_file = deletion_file_of(api, "user-001")
    assert deletion_file["deleted"] is False
    assert deletion_file["files_left"] == 1 and "cleanup_files" in deletion_file["kept_because"]


def test_a_file_is_said_deleted_when_the_record_step_found_none_left_in_s3(api, world, monkeypatch):  # noqa: F811
    monkeypatch.setenv(CONN_ID_ENV, WAREHOUSE_CONN_ID)
    world.request("user-002")
    dag_run = erasure_dag().test()
    assert dag_run.state == "success" and world.files_left() == 0

    forge_cleanup_result(dag_run.run_id, {"deleted": 0, "kept": "forged: 1 job(s) still running"})

    deletion_file = deletion_file_of(api, "user-002")
    assert deletion_file["deleted"] is True and deletion_file["files_left"] == 0
    assert deletion_file["kept_because"] is None and deletion_file["checked_at"]
    ((_, record),) = world.audit()
    assert record["deletion_file_check"]["files_left"] == 0  # in the audit record, so in the ledger
