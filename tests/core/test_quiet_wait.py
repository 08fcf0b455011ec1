"""The create operator waits for a quiet dataset group (nothing in progress) before its create call."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_personalize_deletion.exceptions import (
    DatasetGroupActivityError,
    DatasetGroupNotQuietError,
)
from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
from airflow_provider_personalize_deletion.operators.personalize import (
    QUIET_WAIT_STATE_KEY,
    TASK_STATE_KEY,
    PersonalizeCreateDataDeletionJobOperator,
)
from airflow_provider_personalize_deletion.triggers.personalize import PersonalizeDatasetGroupQuietTrigger
from tests.core.conftest import ROLE_ARN, MemoryTaskStateStore, release_after_calls, task_context


def operator(dataset_group: str, location: str, **kwargs) -> PersonalizeCreateDataDeletionJobOperator:
    arguments = {
        "dataset_group_arn": dataset_group,
        "data_location": location,
        "role_arn": ROLE_ARN,
        "quiet_poll_interval": 0.1,
    }
    return PersonalizeCreateDataDeletionJobOperator(task_id="create_deletion_job", **{**arguments, **kwargs})


def held_import(emulator, stage, name: str = "import-held") -> str:
    """An import job that stays CREATE IN_PROGRESS until ``emulator.release(name)``."""
    emulator.hold(name, "CREATE IN_PROGRESS")
    return stage.import_job(stage.dataset(), name=name)


def held_training(emulator, stage, name: str = "training-held") -> str:
    """A training (solution version) that stays CREATE IN_PROGRESS until ``emulator.release(name)``."""
    emulator.hold(name, "CREATE IN_PROGRESS")
    return stage.version(stage.solution(), name=name, trained=False)


def created_at(arn: str) -> datetime:
    return PersonalizeHook().describe_data_deletion_job(arn)["creationDateTime"]


def import_ended_at(personalize, arn: str) -> datetime:
    described = personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
    assert described["status"] == "ACTIVE"
    return described["lastUpdatedDateTime"]


def log_lines(capsys, words: str) -> list[str]:
    """The task log lines (structlog, on stdout) that contain ``words``."""
    return [line for line in capsys.readouterr().out.splitlines() if words in line]


def test_it_waits_while_an_import_job_runs_then_creates(emulator, stage, deletion_file, capsys):
    imported = held_import(emulator, stage)
    release_after_calls(emulator, "ListDatasetImportJobs", 2, "import-held")  # seen in progress twice

    arn = operator(stage.group, deletion_file).execute(task_context())

    assert created_at(arn) >= import_ended_at(stage.personalize, imported)
    assert emulator.calls("ListDatasetImportJobs") >= 3
    waiting = log_lines(capsys, "is not quiet, waiting")
    assert len(waiting) >= 2
    assert "1 dataset_import_job" in waiting[0]
    assert imported in waiting[0]


def test_fail_fails_the_try_naming_what_is_in_progress_and_creates_nothing(emulator, stage, deletion_file):
    imported = held_import(emulator, stage)
    training = held_training(emulator, stage)

    with pytest.raises(DatasetGroupNotQuietError, match="action_if_not_quiet='fail'") as error:
        operator(stage.group, deletion_file, action_if_not_quiet="fail").execute(task_context())

    assert "1 dataset_import_job, 1 solution_version" in str(error.value)
    assert imported in str(error.value)
    assert training in str(error.value)
    assert emulator.calls("CreateDataDeletionJob") == 0


def test_ignore_creates_at_once_without_listing_the_activity(emulator, stage, deletion_file):
    held_import(emulator, stage)
    lists = emulator.calls("ListDatasets")

    arn = operator(stage.group, deletion_file, action_if_not_quiet="ignore").execute(task_context())

    assert [job["dataDeletionJobArn"] for job in emulator.jobs()] == [arn]
    assert emulator.calls("ListDatasets") == lists


def test_it_gives_up_after_quiet_timeout_while_a_training_runs(emulator, stage, deletion_file):
    training = held_training(emulator, stage)
    store = MemoryTaskStateStore()
    started = time.monotonic()

    with pytest.raises(DatasetGroupNotQuietError, match=r"quiet_timeout=0\.5") as error:
        operator(stage.group, deletion_file, quiet_timeout=0.5).execute(task_context(store=store))

    assert 0.5 <= time.monotonic() - started < 10
    assert training in str(error.value)
    assert emulator.calls("CreateDataDeletionJob") == 0
    assert store.get(QUIET_WAIT_STATE_KEY)["try_number"] == 1


@pytest.mark.parametrize("recorded", [True, False], ids=["arn-recorded", "worker-died-before-recording"])
def test_a_retry_that_already_created_its_job_does_not_wait(emulator, stage, deletion_file, recorded):
    store = MemoryTaskStateStore()
    first = operator(stage.group, deletion_file).execute(task_context(store=store))
    if not recorded:
        del store.values[TASK_STATE_KEY]
    held_import(emulator, stage)  # something started once the job existed
    lists = emulator.calls("ListDatasets")

    retry = operator(stage.group, deletion_file, action_if_not_quiet="fail").execute(
        task_context(store=store)
    )

    assert retry == first
    assert emulator.calls("ListDatasets") == lists
    assert emulator.calls("CreateDataDeletionJob") == 1


def test_a_solution_with_automatic_training_is_logged_as_a_risk_and_not_waited_on(
    emulator, stage, deletion_file, capsys
):
    automatic = stage.solution(auto_training=True)

    arn = operator(stage.group, deletion_file, action_if_not_quiet="fail").execute(task_context())

    assert [job["dataDeletionJobArn"] for job in emulator.jobs()] == [arn]
    (warning,) = log_lines(capsys, "automatic training")
    assert "[warning" in warning
    assert automatic in warning


def test_a_deferrable_wait_runs_in_the_trigger_and_the_resumed_task_creates(emulator, stage, deletion_file):
    held_import(emulator, stage)
    store = MemoryTaskStateStore()
    task = operator(stage.group, deletion_file, deferrable=True, quiet_poll_interval=1, quiet_timeout=60)

    with pytest.raises(TaskDeferred) as deferred:
        task.execute(task_context(store=store))

    trigger = deferred.value.trigger
    assert isinstance(trigger, PersonalizeDatasetGroupQuietTrigger)
    assert deferred.value.method_name == "resume_after_quiet_wait"
    assert (trigger.dataset_group_arn, trigger.waiter_delay, trigger.attempts) == (stage.group, 1, 60)
    assert emulator.calls("CreateDataDeletionJob") == 0
    release_after_calls(
        emulator, "ListDatasetImportJobs", emulator.calls("ListDatasetImportJobs") + 1, "import-held"
    )
    event = asyncio.run(_first_event(trigger))
    assert event["status"] == "success"
    # dag.test() hands the resumed task the event in place of the defer kwargs.
    arn = task.resume_after_quiet_wait(task_context(store=store), event=event)
    assert [job["dataDeletionJobArn"] for job in emulator.jobs()] == [arn]


def test_a_resumed_task_still_busy_after_quiet_timeout_fails_without_the_defer_kwargs(
    emulator, stage, deletion_file
):
    held_training(emulator, stage)
    store = MemoryTaskStateStore()
    task = operator(stage.group, deletion_file, deferrable=True, quiet_poll_interval=1, quiet_timeout=0.5)
    with pytest.raises(TaskDeferred):
        task.execute(task_context(store=store))
    time.sleep(0.6)

    with pytest.raises(DatasetGroupNotQuietError, match="quiet_timeout"):
        task.resume_after_quiet_wait(task_context(store=store), event={"status": "timeout"})
    assert emulator.calls("CreateDataDeletionJob") == 0


def test_a_trigger_error_fails_the_resumed_task_with_the_redacted_message(emulator, stage, deletion_file):
    task = operator(stage.group, deletion_file, deferrable=True)
    event = {"status": "error", "dataset_group_arn": stage.group, "message": "AccessDeniedException: nope"}

    with pytest.raises(DatasetGroupActivityError, match="AccessDeniedException"):
        task.resume_after_quiet_wait(task_context(), event=event)
    assert emulator.calls("CreateDataDeletionJob") == 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"action_if_not_quiet": "skip"}, "action_if_not_quiet"),
        ({"quiet_timeout": 0}, "quiet_timeout"),
        ({"quiet_poll_interval": -1}, "quiet_poll_interval"),
    ],
)
def test_bad_quiet_settings_are_refused_when_the_dag_is_parsed(kwargs, name):
    with pytest.raises(ValueError, match=name):
        operator("arn", "s3://b/k", **kwargs)


async def _first_event(trigger) -> dict:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger fired no event")


def test_a_training_started_during_a_slot_wait_in_the_worker_is_waited_for(emulator, stage, deletion_file):
    hook = PersonalizeHook()
    for index in range(5):  # the dataset group's 5 PENDING jobs: the next create is refused
        emulator.hold(f"busy-{index}", "PENDING")
        hook.create_data_deletion_job(f"busy-{index}", stage.group, deletion_file, ROLE_ARN)
    creates_before = emulator.calls("CreateDataDeletionJob")

    def train_then_free_the_slots() -> None:
        deadline = time.monotonic() + 30
        while emulator.calls("CreateDataDeletionJob") <= creates_before and time.monotonic() < deadline:
            time.sleep(0.05)
        emulator.hold("training-late", "CREATE IN_PROGRESS")
        stage.version(stage.solution(), name="training-late", trained=False)
        for index in range(5):
            emulator.release(f"busy-{index}")
        release_after_calls(emulator, "ListSolutionVersions", 2, "training-late")

    thread = threading.Thread(target=train_then_free_the_slots, daemon=True)
    thread.start()
    arn = operator(
        stage.group, deletion_file, slot_wait_delay=1, slot_wait_max_delay=1, quiet_timeout=60
    ).execute(task_context())
    thread.join()
    job = hook.describe_data_deletion_job(arn)
    (training,) = [
        item for item in hook.list_dataset_group_activity(stage.group) if item.kind == "solution_version"
    ]
    assert training.status == "ACTIVE"
    assert job["creationDateTime"] >= training.last_updated  # created only once the training ended
