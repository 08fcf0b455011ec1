"""PersonalizeDataDeletionJobSensor: poking, deferring, and what it returns."""

from __future__ import annotations

import json

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, TaskDeferred

from airflow_provider_personalize_deletion.exceptions import (
    DataDeletionJobFailedError,
    DataDeletionJobTimeoutError,
)
from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
from airflow_provider_personalize_deletion.sensors.personalize import PersonalizeDataDeletionJobSensor
from airflow_provider_personalize_deletion.triggers.personalize import (
    PersonalizeDataDeletionJobCompletedTrigger,
)
from tests.core.conftest import ROLE_ARN


@pytest.fixture
def job_arn(dataset_group, deletion_file) -> str:
    return PersonalizeHook().create_data_deletion_job("erase-1", dataset_group, deletion_file, ROLE_ARN)


def sensor(arn: str, **kwargs) -> PersonalizeDataDeletionJobSensor:
    return PersonalizeDataDeletionJobSensor(
        task_id="wait_for_deletion", data_deletion_job_arn=arn, poke_interval=0.1, timeout=10, **kwargs
    )


def test_poking_returns_the_completed_job_as_plain_json(emulator, job_arn):
    result = sensor(job_arn, deferrable=False).execute({})
    assert json.loads(json.dumps(result)) == result
    assert result["status"] == "COMPLETED"
    assert result["numDeleted"] == 2
    assert result["dataDeletionJobArn"] == job_arn
    assert result["creationDateTime"].startswith("20")


def test_poking_waits_while_the_job_runs(emulator, dataset_group, deletion_file):
    emulator.set_timings(pending_seconds=0.4, in_progress_seconds=0.4)
    arn = PersonalizeHook().create_data_deletion_job("erase-1", dataset_group, deletion_file, ROLE_ARN)
    assert sensor(arn, deferrable=False).execute({})["status"] == "COMPLETED"
    assert emulator.calls("DescribeDataDeletionJob") >= 3


def test_a_failed_job_fails_the_task_without_retries_and_with_the_reason(
    emulator, dataset_group, deletion_file
):
    emulator.fail_job("erase-1", "Access denied to the input file")
    arn = PersonalizeHook().create_data_deletion_job("erase-1", dataset_group, deletion_file, ROLE_ARN)
    with pytest.raises(DataDeletionJobFailedError, match="Access denied to the input file") as error:
        sensor(arn, deferrable=False).execute({})
    assert isinstance(error.value, AirflowFailException)


def test_deferring_hands_the_triggerer_every_aws_argument(emulator, job_arn):
    task = sensor(
        job_arn,
        deferrable=True,
        region_name="eu-west-1",
        verify=False,
        botocore_config={"read_timeout": 7},
        aws_conn_id="personalize_prod",
    )
    task.poke_interval, task.timeout = 30, 3600
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, PersonalizeDataDeletionJobCompletedTrigger)
    _, kwargs = trigger.serialize()
    assert kwargs == {
        "data_deletion_job_arn": job_arn,
        "waiter_delay": 30,
        "waiter_max_attempts": 120,
        "aws_conn_id": "personalize_prod",
        "region_name": "eu-west-1",
        "verify": False,
        "botocore_config": {"read_timeout": 7},
    }
    assert deferred.value.method_name == "execute_complete"


def test_the_default_wait_covers_more_than_a_day_of_polls():
    task = PersonalizeDataDeletionJobSensor(task_id="t", data_deletion_job_arn="arn", deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({})
    trigger = deferred.value.trigger
    assert trigger.waiter_delay * trigger.attempts >= 25 * 3600


def test_resuming_after_the_trigger_returns_the_completed_job(emulator, job_arn):
    event = {"status": "success", "data_deletion_job_arn": job_arn}
    assert sensor(job_arn).execute_complete({}, event)["status"] == "COMPLETED"


def test_resuming_on_a_job_still_running_reports_a_timeout(emulator, dataset_group, deletion_file):
    emulator.hold("erase-1", "IN_PROGRESS")
    arn = PersonalizeHook().create_data_deletion_job("erase-1", dataset_group, deletion_file, ROLE_ARN)
    event = {"status": "error", "message": "max attempts", "data_deletion_job_arn": arn}
    with pytest.raises(DataDeletionJobTimeoutError, match="still IN_PROGRESS"):
        sensor(arn).execute_complete({}, event)


def test_the_job_arn_is_templated():
    assert "data_deletion_job_arn" in sensor("arn").template_fields
