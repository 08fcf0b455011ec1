"""PersonalizeDatasetGroupQuietTrigger: Airflow's serialization round trip, and run() on the shared client of
a real aiobotocore client, against the emulator over HTTP."""

from __future__ import annotations

import asyncio
import json

from airflow.models.trigger import Trigger
from airflow.sdk._shared.module_loading import import_string

from airflow_provider_personalize_deletion.triggers.client_pool import running_loop_pool
from airflow_provider_personalize_deletion.triggers.personalize import (
    PersonalizeDataDeletionJobCompletedTrigger,
    PersonalizeDatasetGroupQuietTrigger,
)

GROUP = "arn:aws:personalize:us-east-1:123456789012:dataset-group/shop"


def trigger(group: str, attempts: int = 30, **kwargs) -> PersonalizeDatasetGroupQuietTrigger:
    return PersonalizeDatasetGroupQuietTrigger(
        dataset_group_arn=group, waiter_delay=1, waiter_max_attempts=attempts, **kwargs
    )


async def first_event(trigger: PersonalizeDatasetGroupQuietTrigger) -> dict:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger ended without an event")


def test_serialization_round_trip_through_airflows_trigger_model_keeps_every_argument():
    original = trigger(
        GROUP,
        attempts=12,
        aws_conn_id="personalize_prod",
        region_name="eu-west-1",
        verify="/etc/ssl/ca.pem",
        botocore_config={"retries": {"mode": "standard", "max_attempts": 3}},
    )
    row = Trigger.from_object(original)
    rebuilt = import_string(row.classpath)(**row.kwargs)
    assert rebuilt.serialize() == original.serialize()
    assert row.kwargs["dataset_group_arn"] == GROUP
    assert (rebuilt.waiter_delay, rebuilt.attempts) == (1, 12)
    assert rebuilt.hook().region_name == "eu-west-1"


async def test_it_fires_success_once_the_held_import_ends(clients, emulator, stage):
    emulator.hold("import-held", "CREATE IN_PROGRESS")
    stage.import_job(stage.dataset(), name="import-held")
    watching = asyncio.create_task(first_event(trigger(stage.group)))
    async with asyncio.timeout(20):
        while emulator.calls("ListDatasetImportJobs") < 2 and not watching.done():  # seen in progress twice
            await asyncio.sleep(0.05)
    assert not watching.done()

    emulator.release("import-held")
    event = await asyncio.wait_for(watching, 20)

    assert event == {"status": "success", "dataset_group_arn": stage.group, "in_progress": []}
    assert (clients.opened, clients.closed) == (1, 1)
    assert len(running_loop_pool()) == 0


async def test_it_fires_a_timeout_with_what_is_still_in_progress(emulator, stage):
    emulator.hold("training-held", "CREATE IN_PROGRESS")
    training = stage.version(stage.solution(), name="training-held", trained=False)

    event = await first_event(trigger(stage.group, attempts=2))

    assert event["status"] == "timeout"
    assert [(item["kind"], item["arn"], item["status"]) for item in event["in_progress"]] == [
        ("solution_version", training, "CREATE IN_PROGRESS")
    ]
    assert emulator.calls("ListSolutionVersions") == 2


async def test_an_aws_error_fires_an_error_event(clients, stage, monkeypatch):
    down = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": "http://127.0.0.1:9"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DOWN", json.dumps(down))
    no_retries = {"retries": {"mode": "standard", "total_max_attempts": 1}}

    event = await first_event(trigger(stage.group, aws_conn_id="aws_down", botocore_config=no_retries))

    assert event["status"] == "error"
    assert "Could not connect" in event["message"]
    assert clients.open_now == 0


async def test_a_throttled_listing_never_fails_the_wait_and_slows_the_pool_down(clients, emulator, stage):
    emulator.throttle(3, "ListDatasets")
    no_retries = {"retries": {"mode": "standard", "total_max_attempts": 1}}

    event = await first_event(trigger(stage.group, botocore_config=no_retries))

    assert event == {"status": "success", "dataset_group_arn": stage.group, "in_progress": []}
    limiter = running_loop_pool().limiters["aws_default", "us-east-1"]
    assert limiter.throttled_answers == 3
    assert limiter.rate() < limiter.ceiling


async def test_quiet_and_deletion_job_triggers_share_one_client(clients, emulator, stage, create_jobs):
    (arn,) = create_jobs(1)
    job = PersonalizeDataDeletionJobCompletedTrigger(data_deletion_job_arn=arn, waiter_delay=1)

    events = await asyncio.gather(first_event(trigger(stage.group)), first_event(job))

    assert [event["status"] for event in events] == ["success", "success"]
    assert (clients.opened, clients.closed) == (1, 1)
