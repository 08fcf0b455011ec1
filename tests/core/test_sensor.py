"""PersonalizeDataDeletionJobSensor: poking, deferring, and what it returns."""

from __future__ import annotations

import concurrent.futures
import json
import time

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, TaskDeferred

from airflow_provider_personalize_deletion.exceptions import (
    DataDeletionJobFailedError,
    DataDeletionJobTimeoutError,
    DataDeletionJobWaitError,
)
from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
from airflow_provider_personalize_deletion.operators.personalize import (
    PersonalizeCreateDataDeletionJobOperator,
)
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
    emulator.hold("erase-1", "IN_PROGRESS")
    arn = PersonalizeHook().create_data_deletion_job("erase-1", dataset_group, deletion_file, ROLE_ARN)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        poking = pool.submit(sensor(arn, deferrable=False).execute, {})
        deadline = time.monotonic() + 10
        while emulator.calls("DescribeDataDeletionJob") < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert emulator.calls("DescribeDataDeletionJob") >= 3
        assert not poking.done()  # three pokes saw the job running and the sensor went on
        emulator.release("erase-1")
        assert poking.result(timeout=10)["status"] == "COMPLETED"


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
    assert time.time() + 3600 - 10 < kwargs.pop("deadline") <= time.time() + 3600  # the timeout's end
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


def test_a_poke_interval_longer_than_the_timeout_still_ends_the_deferred_wait_at_the_timeout(job_arn):
    task = sensor(job_arn, deferrable=True)
    task.poke_interval, task.timeout = 60, 30
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({})
    trigger = deferred.value.trigger
    assert time.time() + 20 < trigger.deadline <= time.time() + 30  # not 60 s: its last look is at 30 s


@pytest.mark.parametrize("field", ["poke_interval", "timeout"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_poke_interval_or_timeout_that_is_not_finite_is_refused_naming_it(field, value):
    with pytest.raises(ValueError, match=f"'{field}': must be a finite number of seconds"):
        PersonalizeDataDeletionJobSensor(task_id="t", data_deletion_job_arn="arn", **{field: value})


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
    event = {
        "status": "timeout",
        "message": "Waiter error: max attempts reached",
        "data_deletion_job_arn": arn,
    }
    with pytest.raises(DataDeletionJobTimeoutError, match="still IN_PROGRESS"):
        sensor(arn).execute_complete({}, event)


def test_the_job_arn_is_templated():
    assert "data_deletion_job_arn" in sensor("arn").template_fields


async def trigger_error_message(arn: str) -> str:
    """The message the real trigger sends when DescribeDataDeletionJob fails in the triggerer."""
    trigger = PersonalizeDataDeletionJobCompletedTrigger(
        data_deletion_job_arn=arn, waiter_delay=1, waiter_max_attempts=3
    )
    async for event in trigger.run():
        assert event.payload["status"] == "error"
        return event.payload["message"]
    raise AssertionError("no event")


async def test_an_error_in_the_triggerer_is_reported_not_called_a_timeout(
    emulator, dataset_group, deletion_file
):
    emulator.hold("erase-1", "PENDING")
    arn = PersonalizeHook().create_data_deletion_job("erase-1", dataset_group, deletion_file, ROLE_ARN)
    # The triggerer could not describe the job (here: a job it cannot see); the worker can.
    message = await trigger_error_message(arn.replace("us-east-1", "eu-west-1"))
    assert "ResourceNotFoundException" in message
    event = {"status": "error", "message": message, "data_deletion_job_arn": arn}
    with pytest.raises(DataDeletionJobWaitError, match="ResourceNotFoundException"):
        sensor(arn).execute_complete({}, event)
    with pytest.raises(DataDeletionJobWaitError, match="ResourceNotFoundException"):
        PersonalizeCreateDataDeletionJobOperator(
            task_id="create_deletion_job",
            dataset_group_arn=dataset_group,
            data_location=deletion_file,
            role_arn=ROLE_ARN,
        ).execute_complete({}, event)


def test_a_failure_reason_is_redacted_in_the_error(emulator, dataset_group, deletion_file):
    emulator.fail_job("erase-1", "User 'customer-4711' in row 17 of s3://bucket/key.csv is not valid")
    arn = PersonalizeHook().create_data_deletion_job("erase-1", dataset_group, deletion_file, ROLE_ARN)
    with pytest.raises(DataDeletionJobFailedError) as error:
        sensor(arn, deferrable=False).execute({})
    assert "customer-4711" not in str(error.value)
    assert "customer-4711" not in error.value.reason
    assert "s3://bucket/key.csv" in str(error.value)


def test_the_returned_job_never_carries_a_failure_reason_unredacted(emulator, job_arn):
    job = PersonalizeHook().describe_data_deletion_job(job_arn)
    returned = sensor(job_arn)._completed({**job, "failureReason": "retried user 'customer-4711'"})
    assert "customer-4711" not in json.dumps(returned)
