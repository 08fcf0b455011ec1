"""The sensor really defers: its wait runs in the triggerer process, while no worker holds the task."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import BUCKET, Stage
from tests.e2e.harness import wait_until

pytestmark = pytest.mark.e2e

TRIGGER_CLASS = (
    "airflow_provider_personalize_deletion.triggers.personalize.PersonalizeDataDeletionJobCompletedTrigger"
)


def test_sensor_waits_deferred_in_the_triggerer_and_resumes_when_the_job_completes(stage: Stage) -> None:
    user_ids = stage.user_ids(3)
    stage.request_erasure(user_ids)
    run_id = stage.airflow.trigger(stage.conf())
    names = stage.hold_jobs_as_created(2)

    deferred = stage.wait_until_deferred(run_id)

    assert [ti["state"] for ti in deferred] == ["deferred", "deferred"]
    assert all(ti["trigger"]["classpath"] == TRIGGER_CLASS for ti in deferred)
    assert not stage.airflow.task_processes(ti["id"] for ti in deferred), "a worker still runs the sensor"
    running_triggerers = [job_id for job_id, state in stage.airflow.triggerer_jobs() if state == "running"]
    assert len(running_triggerers) == 1
    assert {ti["trigger"]["triggerer_id"] for ti in deferred} == set(running_triggerers)
    for ti in deferred:
        # The triggerer writes the trigger's log next to the task's, named after its own job id.
        trigger_log = stage.airflow.task_log_dir(run_id, "wait_for_deletion", ti["map_index"]) / (
            f"attempt={ti['try_number']}.log.trigger.{ti['trigger']['triggerer_id']}.log"
        )
        assert f"(ID {ti['trigger']['id']}) starting" in wait_until(
            trigger_log.read_text, 30, what="trigger log"
        )
    assert [job["status"] for job in stage.emulator.jobs()] == ["IN_PROGRESS", "IN_PROGRESS"]

    # While the jobs run, their input is in S3, encrypted at rest with SSE-S3.
    keys = stage.s3_keys()
    assert keys
    for key in keys:
        assert stage.s3.head_object(Bucket=BUCKET, Key=key)["ServerSideEncryption"] == "AES256"

    for name in names:
        stage.emulator.release(name)
    assert stage.airflow.wait_for_run(run_id) == "success"
    assert stage.statuses(user_ids) == dict.fromkeys(user_ids, "erased")
    assert stage.s3_keys() == []
    stage.assert_nothing_leaked(user_ids)
