"""The operator and the deferrable sensor in a real DAG run (dag.test() runs the trigger inline)."""

from __future__ import annotations

import threading

import pytest

from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
from tests.core.conftest import ROLE_ARN

pytestmark = pytest.mark.airflow_db


def test_a_dag_creates_the_job_waits_in_deferral_and_returns_the_outcome(
    run_dag, emulator, dataset_group, deletion_file
):
    emulator.set_timings(pending_seconds=0.5, in_progress_seconds=0.5)
    dag_run = run_dag(
        "personalize_core", conf={"dataset_group_arn": dataset_group, "data_location": deletion_file}
    )
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {"create_deletion_job": "success", "wait_for_deletion": "success"}
    (job,) = emulator.jobs()
    assert job["status"] == "COMPLETED"
    assert emulator.users(dataset_group) == {"u3"}
    wait = next(ti for ti in dag_run.get_task_instances() if ti.task_id == "wait_for_deletion")
    assert wait.xcom_pull(task_ids="wait_for_deletion")["numDeleted"] == 2


def test_a_failed_job_fails_the_run(run_dag, emulator, dataset_group, deletion_file):
    emulator.fail_job(None, "Input file is not valid")
    dag_run = run_dag(
        "personalize_core", conf={"dataset_group_arn": dataset_group, "data_location": deletion_file}
    )
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states["wait_for_deletion"] == "failed"
    assert dag_run.state == "failed"


def test_the_deferrable_slot_wait_times_out_under_dag_test(run_dag, emulator, dataset_group, deletion_file):
    hook = PersonalizeHook()
    for index in range(5):
        emulator.hold(f"queued-{index}", "PENDING")
        hook.create_data_deletion_job(f"queued-{index}", dataset_group, deletion_file, ROLE_ARN)
    conf = {"dataset_group_arn": dataset_group, "data_location": deletion_file}
    finished: list = []
    runner = threading.Thread(
        target=lambda: finished.append(run_dag("personalize_slot_wait", conf)), daemon=True
    )
    runner.start()
    runner.join(timeout=120)
    try:
        assert finished, "the slot wait did not end within 120 s (slot_wait_timeout=4)"
        assert finished[0].state == "failed"
        assert emulator.calls("CreateDataDeletionJob") - 5 <= 8
    finally:
        for index in range(5):
            emulator.release(f"queued-{index}")
