"""The operator and the deferrable sensor in a real DAG run (dag.test() runs the trigger inline)."""

from __future__ import annotations

import pytest

from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
from tests.core.conftest import ROLE_ARN, release_after_calls

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


def test_the_deferrable_slot_wait_times_out_under_dag_test(
    run_dag, emulator, dataset_group, deletion_file, capsys
):
    hook = PersonalizeHook()
    for index in range(5):
        emulator.hold(f"queued-{index}", "PENDING")
        hook.create_data_deletion_job(f"queued-{index}", dataset_group, deletion_file, ROLE_ARN)
    conf = {"dataset_group_arn": dataset_group, "data_location": deletion_file}
    try:
        dag_run = run_dag("personalize_slot_wait", conf)
        assert dag_run.state == "failed"
        assert "still busy" in capsys.readouterr().out  # failed by the slot wait's bound, nothing else
        assert emulator.calls("CreateDataDeletionJob") - 5 <= 8
    finally:
        for index in range(5):
            emulator.release(f"queued-{index}")


def test_the_deferred_quiet_wait_creates_once_the_import_ended_and_nothing_overlapped(
    run_dag, emulator, stage, deletion_file, capsys
):
    emulator.hold("import-held", "CREATE IN_PROGRESS")
    imported = stage.import_job(stage.dataset(), name="import-held")
    # The worker sees it once, then the trigger polls it once more before it is released.
    release_after_calls(emulator, "ListDatasetImportJobs", 2, "import-held")

    dag_run = run_dag(
        "personalize_quiet_wait", {"dataset_group_arn": stage.group, "data_location": deletion_file}
    )

    assert dag_run.state == "success"
    (job,) = emulator.jobs()
    ended = stage.personalize.describe_dataset_import_job(datasetImportJobArn=imported)["datasetImportJob"]
    assert job["creationDateTime"] >= ended["lastUpdatedDateTime"].timestamp()
    assert emulator.calls("ListDatasetImportJobs") >= 3
    assert "is not quiet (poll 1, " in capsys.readouterr().out  # the trigger polled it
    wait = next(ti for ti in dag_run.get_task_instances() if ti.task_id == "wait_for_deletion")
    assert wait.xcom_pull(task_ids="wait_for_deletion")["overlapping_activity"] == []


def test_the_deferred_quiet_wait_times_out_under_dag_test(run_dag, emulator, stage, deletion_file, capsys):
    emulator.hold("training-held", "CREATE IN_PROGRESS")
    training = stage.version(stage.solution(), name="training-held", trained=False)
    try:
        dag_run = run_dag(
            "personalize_quiet_wait", {"dataset_group_arn": stage.group, "data_location": deletion_file}
        )
        assert dag_run.state == "failed"
        assert emulator.calls("CreateDataDeletionJob") == 0
        output = capsys.readouterr().out
        assert "DatasetGroupNotQuietError" in output
        assert "quiet_timeout=8" in output
        assert training in output
    finally:
        emulator.release("training-held")
