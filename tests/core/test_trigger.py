"""The trigger: Airflow's serialization round trip and run() on a real aiobotocore client."""

from __future__ import annotations

from airflow.models.trigger import Trigger
from airflow.sdk._shared.module_loading import import_string

from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
from airflow_provider_personalize_deletion.triggers.personalize import (
    PersonalizeDataDeletionJobCompletedTrigger,
)
from tests.core.conftest import ROLE_ARN, release_after_calls

ARN = "arn:aws:personalize:us-east-1:123456789012:data-deletion-job/erase-1"


def test_serialization_round_trip_through_airflows_trigger_model_keeps_every_argument():
    trigger = PersonalizeDataDeletionJobCompletedTrigger(
        data_deletion_job_arn=ARN,
        waiter_delay=5,
        waiter_max_attempts=9,
        aws_conn_id="personalize_prod",
        region_name="eu-west-1",
        verify="/etc/ssl/ca.pem",
        botocore_config={"retries": {"mode": "standard", "max_attempts": 3}},
    )
    row = Trigger.from_object(trigger)
    rebuilt = import_string(row.classpath)(**row.kwargs)
    assert rebuilt.serialize() == trigger.serialize()
    assert rebuilt.hook().region_name == "eu-west-1"


async def run_to_event(trigger):
    async for event in trigger.run():
        return event.payload


def job_and_trigger(dataset_group: str, deletion_file: str, attempts: int):
    """Create job ``erase-1`` and a trigger polling it every second."""
    arn = PersonalizeHook().create_data_deletion_job("erase-1", dataset_group, deletion_file, ROLE_ARN)
    trigger = PersonalizeDataDeletionJobCompletedTrigger(
        data_deletion_job_arn=arn, waiter_delay=1, waiter_max_attempts=attempts
    )
    return arn, trigger


async def test_run_fires_success_when_the_job_completes(emulator, dataset_group, deletion_file):
    emulator.hold("erase-1", "IN_PROGRESS")
    arn, trigger = job_and_trigger(dataset_group, deletion_file, attempts=10)
    release_after_calls(emulator, "DescribeDataDeletionJob", 1, "erase-1")  # seen IN_PROGRESS once
    assert await run_to_event(trigger) == {"status": "success", "data_deletion_job_arn": arn}
    assert emulator.calls("DescribeDataDeletionJob") >= 2


async def test_run_fires_an_error_when_the_job_fails(emulator, dataset_group, deletion_file):
    emulator.fail_job("erase-1", "Input file is empty")
    arn, trigger = job_and_trigger(dataset_group, deletion_file, attempts=5)
    event = await run_to_event(trigger)
    assert event["status"] == "error"
    assert event["data_deletion_job_arn"] == arn


async def test_run_fires_a_timeout_when_the_attempts_run_out(emulator, dataset_group, deletion_file):
    emulator.hold("erase-1", "PENDING")
    _, trigger = job_and_trigger(dataset_group, deletion_file, attempts=2)
    event = await run_to_event(trigger)
    assert event["status"] == "timeout"
    assert "max attempts" in event["message"].lower()
