"""The import's triggers on a real aiobotocore client against the emulator: the quiet wait that watches
data deletion jobs, and the wait for an import job to end."""

from __future__ import annotations

import asyncio

from airflow.models.trigger import Trigger
from airflow.sdk._shared.module_loading import import_string

from airflow_provider_personalize_deletion.triggers.dataset_import import (
    PersonalizeDatasetImportJobActiveTrigger,
)
from airflow_provider_personalize_deletion.triggers.personalize import PersonalizeDatasetGroupQuietTrigger
from tests.core.conftest import IMPORT_BUCKET, ROLE_ARN
from tests.triggers.test_quiet_trigger import first_event


def test_both_survive_airflows_serialization_round_trip():
    for original in (
        PersonalizeDatasetGroupQuietTrigger(dataset_group_arn="arn:g", watch="data_deletion_jobs"),
        PersonalizeDatasetImportJobActiveTrigger(dataset_import_job_arn="arn:j", region_name="eu-west-1"),
    ):
        row = Trigger.from_object(original)
        assert import_string(row.classpath)(**row.kwargs).serialize() == original.serialize()


async def test_the_quiet_wait_on_deletion_jobs_fires_once_the_held_job_ends_and_ignores_imports(
    emulator, stage, personalize, deletion_file
):
    emulator.hold("import-held", "CREATE IN_PROGRESS")
    stage.import_job(stage.dataset(), name="import-held")  # an import does not block another import
    emulator.hold("erasing", "IN_PROGRESS")
    personalize.create_data_deletion_job(
        jobName="erasing", datasetGroupArn=stage.group, dataSource={"dataLocation": deletion_file},
        roleArn=ROLE_ARN,
    )  # fmt: skip
    watch = PersonalizeDatasetGroupQuietTrigger(
        dataset_group_arn=stage.group, watch="data_deletion_jobs", waiter_delay=1, waiter_max_attempts=30
    )
    watching = asyncio.create_task(first_event(watch))
    async with asyncio.timeout(20):
        while emulator.calls("ListDataDeletionJobs") < 2 and not watching.done():
            await asyncio.sleep(0.05)
    assert not watching.done()

    emulator.release("erasing")
    event = await asyncio.wait_for(watching, 20)
    assert event == {"status": "success", "dataset_group_arn": stage.group, "in_progress": []}


async def test_the_import_trigger_fires_success_when_active_and_error_when_create_failed(
    emulator, stage, s3_client
):
    dataset = stage.dataset()
    good = stage.import_job(dataset)
    s3_client.put_object(Bucket=IMPORT_BUCKET, Key="bad.csv", Body=b"ITEM_ID\ni1\n")
    bad = stage.personalize.create_dataset_import_job(
        jobName="bad", datasetArn=dataset, dataSource={"dataLocation": f"s3://{IMPORT_BUCKET}/bad.csv"},
        roleArn=ROLE_ARN,
    )["datasetImportJobArn"]  # fmt: skip
    events = [
        await first_event(
            PersonalizeDatasetImportJobActiveTrigger(
                dataset_import_job_arn=arn, waiter_delay=1, waiter_max_attempts=5
            )
        )
        for arn in (good, bad)
    ]
    assert events[0] == {"status": "success", "dataset_import_job_arn": good}
    assert (events[1]["status"], events[1]["dataset_import_job_arn"]) == ("error", bad)
