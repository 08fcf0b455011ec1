"""PersonalizeCreateDatasetImportJobOperator: exactly once, no import while a deletion job runs, waiting."""

from __future__ import annotations

import time

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_personalize_deletion.exceptions import (
    DatasetGroupNotQuietError,
    DatasetImportJobFailedError,
    PersonalizeValidationError,
)
from airflow_provider_personalize_deletion.operators.dataset_import import (
    IMPORT_JOB_STATE_KEY,
    PersonalizeCreateDatasetImportJobOperator,
)
from airflow_provider_personalize_deletion.operators.personalize import SUPERSEDED_XCOM_KEY
from airflow_provider_personalize_deletion.triggers.dataset_import import (
    PersonalizeDatasetImportJobActiveTrigger,
)
from airflow_provider_personalize_deletion.triggers.personalize import PersonalizeDatasetGroupQuietTrigger
from tests.core.conftest import (
    IMPORT_BUCKET,
    ROLE_ARN,
    SCHEMA_ARN,
    MemoryTaskStateStore,
    release_after_calls,
    task_context,
)

HEADER = b"USER_ID,ITEM_ID,TIMESTAMP\n"


@pytest.fixture
def dataset(personalize, dataset_group) -> str:
    return personalize.create_dataset(
        name="shop-interactions",
        schemaArn=SCHEMA_ARN,
        datasetGroupArn=dataset_group,
        datasetType="Interactions",
    )["datasetArn"]


@pytest.fixture
def source(aws_conn, s3_client) -> str:
    s3_client.create_bucket(Bucket=IMPORT_BUCKET)
    s3_client.put_object(Bucket=IMPORT_BUCKET, Key="daily/part-1.csv", Body=HEADER + b"ann,i1,1\nbob,i2,2\n")
    return f"s3://{IMPORT_BUCKET}/daily/part-1.csv"


def operator(dataset: str, location: str, **kwargs) -> PersonalizeCreateDatasetImportJobOperator:
    arguments = {"dataset_arn": dataset, "data_location": location, "role_arn": ROLE_ARN}
    return PersonalizeCreateDatasetImportJobOperator(task_id="create_import_job", **{**arguments, **kwargs})


def imported_users(emulator, dataset: str) -> set[str]:
    return {record["USER_ID"] for record in emulator.records(dataset)}


def test_imports_the_source_into_the_dataset_and_returns_the_jobs_arn(emulator, dataset, source):
    arn = operator(dataset, source, wait_for_completion=True).execute(task_context())
    assert arn.startswith("arn:aws:personalize:") and "/import-gdpr-erasure-" in arn
    assert imported_users(emulator, dataset) == {"ann", "bob"}


def test_a_retry_after_the_worker_died_before_recording_carries_on_with_the_same_job(
    emulator, dataset, source
):
    store = MemoryTaskStateStore()
    first = operator(dataset, source).execute(task_context(store=store))
    del store.values[IMPORT_JOB_STATE_KEY]  # killed between the create call and recording its ARN
    retry = operator(dataset, source).execute(task_context(store=store))
    again = operator(dataset, source).execute(task_context(store=store))
    assert first == retry == again
    assert emulator.calls("CreateDatasetImportJob") == 1


def test_another_source_or_run_gets_its_own_job(emulator, dataset, source, s3_client):
    s3_client.put_object(Bucket=IMPORT_BUCKET, Key="daily/part-2.csv", Body=HEADER + b"cy,i3,3\n")
    arns = {
        operator(dataset, source).execute(task_context()),
        operator(dataset, f"s3://{IMPORT_BUCKET}/daily/part-2.csv").execute(task_context()),
        operator(dataset, source).execute(task_context(run_id="manual__2")),
    }
    assert len(arns) == 3


def test_a_failed_import_fails_the_task_and_its_retry_creates_the_next_generation(
    emulator, dataset, s3_client, aws_conn
):
    s3_client.create_bucket(Bucket=IMPORT_BUCKET)
    s3_client.put_object(Bucket=IMPORT_BUCKET, Key="bad.csv", Body=b"ITEM_ID,TIMESTAMP\ni1,1\n")
    location = f"s3://{IMPORT_BUCKET}/bad.csv"
    with pytest.raises(DatasetImportJobFailedError, match="USER_ID") as failed:
        operator(dataset, location, wait_for_completion=True).execute(task_context())
    pushed: dict = {}
    with pytest.raises(DatasetImportJobFailedError) as again:
        operator(dataset, location, wait_for_completion=True).execute(task_context(xcom=pushed))
    assert again.value.job_arn.endswith("-g1")
    assert pushed[SUPERSEDED_XCOM_KEY] == [failed.value.job_arn]


def test_bad_input_is_refused_before_any_call(emulator, dataset):
    before = emulator.calls()
    with pytest.raises(PersonalizeValidationError) as refused:
        operator(dataset, "https://example.com/data.csv").execute(task_context())
    assert refused.value.field == "dataSource.dataLocation"
    with pytest.raises(PersonalizeValidationError) as refused:
        operator(dataset, "s3://data/x.csv", import_mode="PARTIAL").execute(task_context())
    assert refused.value.field == "importMode"
    assert emulator.calls() == before


def test_an_unknown_dataset_is_refused_naming_the_parameter(emulator, dataset, source):
    with pytest.raises(PersonalizeValidationError) as refused:
        operator(dataset + "-gone", source).execute(task_context())
    assert refused.value.field == "datasetArn"
    assert emulator.calls("CreateDatasetImportJob") == 0


def test_no_import_starts_while_a_data_deletion_job_runs_on_the_group(
    emulator, personalize, dataset, source, dataset_group, deletion_file
):
    emulator.hold("erasing", "IN_PROGRESS")
    personalize.create_data_deletion_job(
        jobName="erasing", datasetGroupArn=dataset_group, dataSource={"dataLocation": deletion_file},
        roleArn=ROLE_ARN,
    )  # fmt: skip
    with pytest.raises(DatasetGroupNotQuietError, match="1 data_deletion_job") as refused:
        operator(dataset, source, action_if_not_quiet="fail").execute(task_context())
    assert "no import job was created" in str(refused.value)
    assert emulator.calls("CreateDatasetImportJob") == 0

    release_after_calls(emulator, "ListDataDeletionJobs", 3, "erasing")
    operator(dataset, source, quiet_poll_interval=0.2, wait_for_completion=True).execute(task_context())
    deletion = personalize.list_data_deletion_jobs(datasetGroupArn=dataset_group)["dataDeletionJobs"][0]
    (imported,) = personalize.list_dataset_import_jobs(datasetArn=dataset)["datasetImportJobs"]
    assert deletion["status"] == "COMPLETED"
    assert imported["creationDateTime"] >= deletion["lastUpdatedDateTime"]


def test_deferrable_waits_for_deletion_jobs_and_for_the_import_in_the_triggerer(
    emulator, personalize, dataset, source, dataset_group, deletion_file
):
    emulator.hold("erasing", "PENDING")
    personalize.create_data_deletion_job(
        jobName="erasing", datasetGroupArn=dataset_group, dataSource={"dataLocation": deletion_file},
        roleArn=ROLE_ARN,
    )  # fmt: skip
    task = operator(dataset, source, deferrable=True, wait_for_completion=True)
    with pytest.raises(TaskDeferred) as quiet:
        task.execute(task_context())
    assert isinstance(quiet.value.trigger, PersonalizeDatasetGroupQuietTrigger)
    assert quiet.value.trigger.serialize()[1]["watch"] == "data_deletion_jobs"
    emulator.release("erasing")
    with pytest.raises(TaskDeferred) as active:
        task.resume_after_quiet_wait(task_context(), {"status": "success"})
    trigger = active.value.trigger
    assert isinstance(trigger, PersonalizeDatasetImportJobActiveTrigger)
    classpath, kwargs = trigger.serialize()
    assert kwargs.pop("deadline") > time.time() + 60 * 1500 - 60  # the whole wait's end, fixed now
    assert (classpath, kwargs) == (
        "airflow_provider_personalize_deletion.triggers.dataset_import.PersonalizeDatasetImportJobActiveTrigger",
        {
            "dataset_import_job_arn": trigger.waiter_args["datasetImportJobArn"],
            "waiter_delay": 60,
            "waiter_max_attempts": 1500,
            "aws_conn_id": "aws_default",
        },
    )
    event = {"status": "success", "dataset_import_job_arn": trigger.waiter_args["datasetImportJobArn"]}
    assert task.execute_complete(task_context(), event) == event["dataset_import_job_arn"]
    assert imported_users(emulator, dataset) == {"ann", "bob"}
