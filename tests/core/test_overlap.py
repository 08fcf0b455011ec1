"""What ran during a data deletion job's life: ``overlapping_activity`` in the sensor's result and in the
create operator's XCom (with ``wait_for_completion``)."""

from __future__ import annotations

import json
import time

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
from airflow_provider_personalize_deletion.operators.personalize import (
    OVERLAP_XCOM_KEY,
    PersonalizeCreateDataDeletionJobOperator,
)
from airflow_provider_personalize_deletion.sensors.personalize import PersonalizeDataDeletionJobSensor
from tests.core.conftest import ROLE_ARN, task_context


def sensor(arn: str, **kwargs) -> PersonalizeDataDeletionJobSensor:
    return PersonalizeDataDeletionJobSensor(
        task_id="wait_for_deletion", data_deletion_job_arn=arn, poke_interval=0.1, timeout=10, **kwargs
    )


@pytest.fixture
def job_with_a_training_started_meanwhile(emulator, stage, deletion_file) -> tuple[str, str]:
    """A job that COMPLETED after a training started and ended while it ran: (job ARN, training ARN)."""
    solution = stage.solution()
    emulator.hold("erase-1", "IN_PROGRESS")
    arn = PersonalizeHook().create_data_deletion_job("erase-1", stage.group, deletion_file, ROLE_ARN)
    training = stage.version(solution)  # started and ACTIVE while the job runs
    emulator.release("erase-1")
    return arn, training


def test_a_training_started_during_the_job_is_in_overlapping_activity(
    emulator, job_with_a_training_started_meanwhile, capsys
):
    arn, training = job_with_a_training_started_meanwhile

    result = sensor(arn).execute({})

    assert result["status"] == "COMPLETED"
    (overlap,) = result["overlapping_activity"]
    assert (overlap["kind"], overlap["arn"], overlap["status"]) == ("solution_version", training, "ACTIVE")
    assert overlap["created"] >= result["creationDateTime"]
    assert json.loads(json.dumps(result)) == result
    assert emulator.model_users(training) == {"u1", "u2", "u3"}  # why it matters: the model kept them
    (warning,) = [line for line in capsys.readouterr().out.splitlines() if "overlapped" in line]
    assert "[warning" in warning
    assert "1 solution_version" in warning
    assert training in warning


def test_the_deferred_sensor_reports_the_overlap_too(job_with_a_training_started_meanwhile):
    arn, training = job_with_a_training_started_meanwhile
    task = sensor(arn, deferrable=True)
    with pytest.raises(TaskDeferred):
        task.execute({})

    result = task.execute_complete({}, {"status": "success", "data_deletion_job_arn": arn})

    assert [item["arn"] for item in result["overlapping_activity"]] == [training]


def test_a_job_nothing_overlapped_has_an_empty_list(emulator, stage, deletion_file):
    solution = stage.solution(auto_training=True)
    before = stage.version(solution)  # trained and ACTIVE before the job
    time.sleep(0.05)
    arn = PersonalizeHook().create_data_deletion_job("erase-1", stage.group, deletion_file, ROLE_ARN)

    result = sensor(arn).execute({})

    assert result["overlapping_activity"] == []
    listed = {activity.arn for activity in PersonalizeHook().list_dataset_group_activity(stage.group)}
    assert listed == {solution, before}  # there is activity; none of it during the job


def test_check_overlap_off_makes_no_list_call_and_says_not_checked(emulator, stage, deletion_file):
    arn = PersonalizeHook().create_data_deletion_job("erase-1", stage.group, deletion_file, ROLE_ARN)

    result = sensor(arn, check_overlap=False).execute({})

    assert result["status"] == "COMPLETED"
    assert result["overlapping_activity"] is None
    assert emulator.calls("ListDatasets") == 0


def test_the_operator_waiting_for_completion_pushes_the_overlap(emulator, stage, deletion_file):
    # action_if_not_quiet="ignore": the job runs alongside a training in progress.
    emulator.hold("training-held", "CREATE IN_PROGRESS")
    training = stage.version(stage.solution(), name="training-held", trained=False)
    xcom: dict = {}
    task = PersonalizeCreateDataDeletionJobOperator(
        task_id="create_deletion_job",
        dataset_group_arn=stage.group,
        data_location=deletion_file,
        role_arn=ROLE_ARN,
        action_if_not_quiet="ignore",
        wait_for_completion=True,
        waiter_delay=1,
    )

    task.execute(task_context(xcom=xcom))

    assert [(item["kind"], item["arn"], item["status"]) for item in xcom[OVERLAP_XCOM_KEY]] == [
        ("solution_version", training, "CREATE IN_PROGRESS")
    ]
    emulator.release("training-held")


def test_the_deferred_operator_pushes_the_overlap_when_it_resumes(
    emulator, stage, deletion_file, job_with_a_training_started_meanwhile
):
    arn, training = job_with_a_training_started_meanwhile
    xcom: dict = {}
    task = PersonalizeCreateDataDeletionJobOperator(
        task_id="create_deletion_job",
        dataset_group_arn=stage.group,
        data_location=deletion_file,
        role_arn=ROLE_ARN,
        wait_for_completion=True,
        deferrable=True,
    )

    assert (
        task.execute_complete(task_context(xcom=xcom), {"status": "success", "data_deletion_job_arn": arn})
        == arn
    )
    assert [item["arn"] for item in xcom[OVERLAP_XCOM_KEY]] == [training]
