"""Dataset export jobs: the hook's calls, the waiter, the trigger and the exactly-once create operator."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
from airflow.models.trigger import Trigger
from airflow.providers.common.compat.sdk import TaskDeferred
from airflow.sdk._shared.module_loading import import_string

from airflow_provider_personalize_deletion.exceptions import (
    DatasetExportJobFailedError,
    PersonalizeValidationError,
)
from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
from airflow_provider_personalize_deletion.operators.dataset_export import (
    EXPORT_JOB_XCOM_KEY,
    PersonalizeCreateDatasetExportJobOperator,
)
from airflow_provider_personalize_deletion.triggers.dataset_export import (
    PersonalizeDatasetExportJobActiveTrigger,
)
from airflow_provider_personalize_deletion.utils.job_names import deterministic_job_name
from tests.core.conftest import ROLE_ARN, MemoryTaskStateStore, Stage, release_after_calls, task_context

OUT = "exports"
PATH = f"s3://{OUT}/verification/"


@pytest.fixture
def stage(personalize, dataset_group, s3_client) -> Stage:
    s3_client.create_bucket(Bucket=OUT)
    return Stage(personalize, dataset_group)


def operator(dataset: str, **kwargs) -> PersonalizeCreateDatasetExportJobOperator:
    return PersonalizeCreateDatasetExportJobOperator(
        task_id="export_dataset",
        dataset_arn=dataset,
        s3_path=PATH,
        role_arn=ROLE_ARN,
        waiter_delay=1,
        **kwargs,
    )


# Hook


def test_list_datasets_follows_every_page(emulator, stage, dataset_group):
    made = {stage.dataset("Interactions"), stage.dataset("Users"), stage.dataset("Items")}
    emulator.set_max_page_size(1)
    listed = PersonalizeHook().list_datasets(dataset_group)
    assert {item["datasetArn"] for item in listed} == made
    assert emulator.calls("ListDatasets") == 3


def test_an_export_job_is_created_with_ingestion_mode_all_and_described(emulator, stage):
    dataset = stage.dataset()
    hook = PersonalizeHook()
    arn = hook.create_dataset_export_job("export-1", dataset, ROLE_ARN, PATH)
    job = hook.describe_dataset_export_job(arn)
    assert (job["ingestionMode"], job["status"]) == ("ALL", "ACTIVE")
    assert [item["datasetExportJobArn"] for item in hook.list_dataset_export_jobs(dataset)] == [arn]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"s3_path": "s3://exports/no-slash"}, "jobOutput.s3DataDestination.path"),
        ({"ingestion_mode": "EVERYTHING"}, "ingestionMode"),
        ({"job_name": "-bad name"}, "jobName"),
    ],
)
def test_bad_export_input_is_refused_before_any_call(emulator, stage, change, field):
    arguments = {
        "job_name": "export-1",
        "dataset_arn": stage.dataset(),
        "role_arn": ROLE_ARN,
        "s3_path": PATH,
    }
    calls = emulator.calls()
    with pytest.raises(PersonalizeValidationError, match=field.replace(".", r"\.")):
        PersonalizeHook().create_dataset_export_job(**{**arguments, **change})
    assert emulator.calls() == calls


# Trigger


def test_trigger_serialization_round_trip_keeps_every_argument():
    trigger = PersonalizeDatasetExportJobActiveTrigger(
        dataset_export_job_arn="arn:aws:personalize:us-east-1:123456789012:dataset-export-job/x",
        waiter_delay=5,
        waiter_max_attempts=9,
        aws_conn_id="personalize_prod",
        region_name="eu-west-1",
        botocore_config={"retries": {"mode": "standard"}},
    )
    row = Trigger.from_object(trigger)
    assert import_string(row.classpath)(**row.kwargs).serialize() == trigger.serialize()


async def run_to_event(trigger):
    async for event in trigger.run():
        return event.payload


async def test_trigger_fires_success_once_the_export_is_active(emulator, stage):
    emulator.hold("export-1", "CREATE IN_PROGRESS")
    arn = PersonalizeHook().create_dataset_export_job("export-1", stage.dataset(), ROLE_ARN, PATH)
    release_after_calls(emulator, "DescribeDatasetExportJob", 1, "export-1")  # seen IN_PROGRESS once
    trigger = PersonalizeDatasetExportJobActiveTrigger(dataset_export_job_arn=arn, waiter_delay=1)
    assert await run_to_event(trigger) == {"status": "success", "dataset_export_job_arn": arn}
    assert emulator.calls("DescribeDatasetExportJob") >= 2


async def test_trigger_fires_an_error_when_the_export_fails(emulator, stage):
    emulator.fail_job("export-1", "Access denied")
    arn = PersonalizeHook().create_dataset_export_job("export-1", stage.dataset(), ROLE_ARN, PATH)
    trigger = PersonalizeDatasetExportJobActiveTrigger(dataset_export_job_arn=arn, waiter_delay=1)
    assert (await run_to_event(trigger))["status"] == "error"


def test_the_trigger_module_imports_no_aws_library():
    script = (
        "import sys, json; import airflow.jobs.triggerer_job_runner\n"
        "before = {m for m in ('boto3', 'botocore.session') if m in sys.modules}\n"
        "import airflow_provider_personalize_deletion.triggers.dataset_export\n"
        "print(json.dumps(sorted({'boto3', 'botocore.session'} & set(sys.modules) - before)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


# Operator


def test_the_operator_creates_one_job_across_retries_and_waits_for_it(emulator, stage):
    dataset = stage.dataset()
    pushed: dict = {}
    first = operator(dataset).execute(task_context(xcom=pushed))
    again = operator(dataset).execute(task_context())
    assert first == again == pushed[EXPORT_JOB_XCOM_KEY]
    assert emulator.calls("CreateDatasetExportJob") == 1
    assert PersonalizeHook().describe_dataset_export_job(first)["ingestionMode"] == "ALL"


class WorkerKilled(BaseException):
    """The worker died (SIGKILL, OOM): nothing after this point of the try ran."""


def killed_after_creating(run_id: str = "manual__1", store=None) -> dict:
    """A try's context whose worker dies at its first XCom push, after the create call went through."""
    context = task_context(run_id, store=store)

    def die(key, value):
        raise WorkerKilled

    context["ti"].xcom_push = die
    return context


def series_name(dataset: str, run_id: str = "manual__1") -> str:
    return deterministic_job_name(
        "gdpr_erasure", "create_deletion_job", run_id, -1, dataset, PATH, prefix="export"
    )


@pytest.mark.parametrize("store", [None, MemoryTaskStateStore()], ids=["no state store", "state store"])
def test_a_retry_whose_first_try_died_just_after_creating_adopts_that_job(emulator, stage, store):
    dataset = stage.dataset()
    emulator.hold(series_name(dataset), "CREATE IN_PROGRESS")  # still running when the retry looks
    with pytest.raises(WorkerKilled):
        operator(dataset, deferrable=True).execute(killed_after_creating(store=store))
    (created,) = [job["datasetExportJobArn"] for job in PersonalizeHook().list_dataset_export_jobs(dataset)]
    pushed: dict = {}
    with pytest.raises(TaskDeferred) as deferred:
        operator(dataset, deferrable=True).execute(task_context(store=store, xcom=pushed))
    assert deferred.value.trigger.serialize()[1]["dataset_export_job_arn"] == created
    assert pushed[EXPORT_JOB_XCOM_KEY] == created
    emulator.release(series_name(dataset))
    assert operator(dataset).execute(task_context(store=store)) == created
    assert emulator.calls("CreateDatasetExportJob") == 1


def test_a_retry_never_adopts_another_runs_job_nor_an_earlier_failed_one(emulator, stage):
    dataset = stage.dataset()
    other_run = operator(dataset).execute(task_context("manual__0"))
    emulator.fail_job(series_name(dataset), "Access denied")
    with pytest.raises(DatasetExportJobFailedError) as failed:
        operator(dataset).execute(task_context())
    with pytest.raises(WorkerKilled):
        operator(dataset).execute(killed_after_creating())  # created -g1, then died
    retried = operator(dataset).execute(task_context())
    assert retried.endswith("-g1")
    assert retried not in {other_run, failed.value.job_arn}
    assert emulator.calls("CreateDatasetExportJob") == 3


def test_another_run_creates_its_own_job(emulator, stage):
    dataset = stage.dataset()
    assert operator(dataset).execute(task_context("run-1")) != operator(dataset).execute(
        task_context("run-2")
    )


def test_a_failed_export_fails_the_task_redacted_and_a_retry_creates_the_next_generation(emulator, stage):
    dataset = stage.dataset()
    name = deterministic_job_name(
        "gdpr_erasure", "create_deletion_job", "manual__1", -1, dataset, PATH, prefix="export"
    )
    emulator.fail_job(name, "Cannot write s3://exports/verification/ for user alice-1234")
    pushed: dict = {}
    with pytest.raises(DatasetExportJobFailedError) as failed:
        operator(dataset).execute(task_context(xcom=pushed))
    assert "alice-1234" not in str(failed.value)
    assert pushed[EXPORT_JOB_XCOM_KEY] == failed.value.job_arn  # pushed before waiting
    retried = operator(dataset).execute(task_context())
    assert retried.endswith("-g1")
    assert PersonalizeHook().describe_dataset_export_job(retried)["status"] == "ACTIVE"


def fill_the_export_slots(emulator, personalize, dataset: str) -> None:
    """Five exports held CREATE PENDING, named ``busy-<n>``: the service's limit reached."""
    for number in range(5):
        emulator.hold(f"busy-{number}", "CREATE PENDING")
        personalize.create_dataset_export_job(
            jobName=f"busy-{number}", datasetArn=dataset, roleArn=ROLE_ARN,
            jobOutput={"s3DataDestination": {"path": f"s3://{OUT}/other/"}},
        )  # fmt: skip


def test_at_the_service_limit_the_operator_queues_and_never_exceeds_it(emulator, stage, personalize):
    dataset = stage.dataset()
    fill_the_export_slots(emulator, personalize, dataset)

    def free_one_slot() -> None:
        # Only after the operator was refused (5 creates filled the slots): on a loaded machine a
        # fixed pause could end before the operator's first try, which then never queues.
        deadline = time.monotonic() + 60
        while emulator.calls("CreateDatasetExportJob") < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        emulator.release("busy-0")

    threading.Thread(target=free_one_slot, daemon=True).start()
    arn = operator(
        dataset, slot_wait_delay=0.5, botocore_config={"retries": {"total_max_attempts": 1}}
    ).execute(task_context())
    assert PersonalizeHook().describe_dataset_export_job(arn)["status"] == "ACTIVE"
    assert emulator.calls("CreateDatasetExportJob") > 6  # refused at least once, then created


def test_a_deletion_job_started_during_the_slot_wait_is_waited_for_before_creating(
    emulator, stage, personalize, dataset_group, s3_client
):
    dataset = stage.dataset()
    fill_the_export_slots(emulator, personalize, dataset)
    s3_client.put_object(Bucket=OUT, Key="erase.csv", Body=b"USER_ID\nu1\n")
    created_while_running: list[int] = []

    def a_deletion_starts_then_a_slot_frees() -> None:
        time.sleep(1.0)  # the operator was refused and waits for a slot
        emulator.hold("erase", "IN_PROGRESS")
        personalize.create_data_deletion_job(
            jobName="erase", datasetGroupArn=dataset_group, roleArn=ROLE_ARN,
            dataSource={"dataLocation": f"s3://{OUT}/erase.csv"},
        )  # fmt: skip
        listings = emulator.calls("ListDataDeletionJobs")
        emulator.release("busy-0")
        deadline = time.monotonic() + 30
        while emulator.calls("ListDataDeletionJobs") < listings + 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the operator looked, and looks again: it waits
        jobs = PersonalizeHook().list_dataset_export_jobs(dataset)
        created_while_running.append(len([job for job in jobs if not job["jobName"].startswith("busy-")]))
        emulator.release("erase")

    meanwhile = threading.Thread(target=a_deletion_starts_then_a_slot_frees, daemon=True)
    meanwhile.start()
    arn = operator(
        dataset, slot_wait_delay=0.5, quiet_poll_interval=0.5,
        botocore_config={"retries": {"total_max_attempts": 1}},
    ).execute(task_context())  # fmt: skip
    meanwhile.join(timeout=40)
    assert created_while_running == [0]
    assert PersonalizeHook().describe_dataset_export_job(arn)["status"] == "ACTIVE"
