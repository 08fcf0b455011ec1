"""PersonalizeHook against the emulator over HTTP."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
from tests.core.conftest import ROLE_ARN


def create(hook: PersonalizeHook, name: str, group: str, location: str) -> str:
    return hook.create_data_deletion_job(name, group, location, ROLE_ARN)


def test_create_returns_the_arn_of_a_job_the_service_knows(emulator, dataset_group, deletion_file):
    hook = PersonalizeHook()
    arn = hook.create_data_deletion_job("erase-1", dataset_group, deletion_file, ROLE_ARN, tags={"a": "b"})
    job = hook.describe_data_deletion_job(arn)
    assert job["dataDeletionJobArn"] == arn
    assert job["jobName"] == "erase-1"
    assert job["dataSource"] == {"dataLocation": deletion_file}
    assert [j["jobName"] for j in emulator.jobs()] == ["erase-1"]


def test_list_follows_next_token_to_the_end(emulator, dataset_group, deletion_file):
    hook = PersonalizeHook()
    for index in range(105):
        create(hook, f"erase-{index}", dataset_group, deletion_file)
    calls_before = emulator.calls("ListDataDeletionJobs")
    names = [job["jobName"] for job in hook.list_data_deletion_jobs(dataset_group)]
    assert sorted(names) == sorted(f"erase-{index}" for index in range(105))
    assert emulator.calls("ListDataDeletionJobs") - calls_before == 2


def test_list_keeps_to_the_dataset_group_asked_for(emulator, deletion_file):
    hook = PersonalizeHook()
    shop = emulator.create_dataset_group("shop")
    news = emulator.create_dataset_group("news")
    create(hook, "erase-shop", shop, deletion_file)
    create(hook, "erase-news", news, deletion_file)
    assert [job["jobName"] for job in hook.list_data_deletion_jobs(news)] == ["erase-news"]
    assert len(list(hook.list_data_deletion_jobs())) == 2


def test_find_returns_the_job_of_that_name_or_none(emulator, dataset_group, deletion_file):
    hook = PersonalizeHook()
    arn = create(hook, "erase-1", dataset_group, deletion_file)
    assert hook.find_data_deletion_job(dataset_group, "erase-1")["dataDeletionJobArn"] == arn
    assert hook.find_data_deletion_job(dataset_group, "erase-2") is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"job_name": "bad name"}, "jobName"),
        ({"data_location": "https://example.com/users.csv"}, "dataSource.dataLocation"),
        ({"role_arn": "PersonalizeDeletion"}, "roleArn"),
        ({"tags": {"k": "v" * 257}}, "tags[0].tagValue"),
    ],
)
def test_bad_input_is_refused_before_any_call(emulator, dataset_group, deletion_file, kwargs, field):
    arguments = {
        "job_name": "erase-1",
        "dataset_group_arn": dataset_group,
        "data_location": deletion_file,
        "role_arn": ROLE_ARN,
        **kwargs,
    }
    with pytest.raises(PersonalizeValidationError) as error:
        PersonalizeHook().create_data_deletion_job(**arguments)
    assert error.value.field == field
    assert emulator.calls() == 0


def test_the_waiter_comes_from_this_package_and_waits_for_completed(emulator, dataset_group, deletion_file):
    emulator.set_timings(pending_seconds=0.3, in_progress_seconds=0.3)
    hook = PersonalizeHook()
    assert "data_deletion_job_complete" in hook.list_waiters()
    arn = create(hook, "erase-1", dataset_group, deletion_file)
    hook.get_waiter("data_deletion_job_complete").wait(
        dataDeletionJobArn=arn, WaiterConfig={"Delay": 0.2, "MaxAttempts": 20}
    )
    job = hook.describe_data_deletion_job(arn)
    assert job["status"] == "COMPLETED"
    assert job["numDeleted"] == 2


def test_throttling_is_retried_by_default(emulator, dataset_group, deletion_file):
    emulator.throttle(2, operation="DescribeDataDeletionJob")
    hook = PersonalizeHook()
    arn = create(hook, "erase-1", dataset_group, deletion_file)
    assert hook.describe_data_deletion_job(arn)["status"] == "COMPLETED"


def test_a_retry_setting_of_the_task_wins_over_the_default(emulator, dataset_group, deletion_file):
    hook = PersonalizeHook(config=None)
    arn = create(hook, "erase-1", dataset_group, deletion_file)
    emulator.throttle(1, operation="DescribeDataDeletionJob")
    strict = PersonalizeHook(config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    with pytest.raises(ClientError, match="Throttling"):
        strict.describe_data_deletion_job(arn)


def test_an_unknown_dataset_group_is_named_as_such(emulator, aws_conn):
    with pytest.raises(PersonalizeValidationError) as error:
        PersonalizeHook().check_dataset_group_exists(
            "arn:aws:personalize:us-east-1:123456789012:dataset-group/nope"
        )
    assert error.value.field == "datasetGroupArn"


def fill_pending_slots(hook: PersonalizeHook, emulator, group: str, location: str) -> None:
    for index in range(5):
        emulator.hold(f"queued-{index}", "PENDING")
        create(hook, f"queued-{index}", group, location)


@pytest.mark.parametrize(
    "config",
    [None, Config(retries={"mode": "standard", "max_attempts": 10}), Config(retries={"mode": "legacy"})],
)
def test_a_create_refused_at_the_pending_limit_is_handed_over_after_one_call(
    emulator, dataset_group, deletion_file, config
):
    hook = PersonalizeHook(config=config)
    fill_pending_slots(hook, emulator, dataset_group, deletion_file)
    with pytest.raises(ClientError, match="LimitExceededException"):
        create(hook, "erase-6", dataset_group, deletion_file)
    assert emulator.calls("CreateDataDeletionJob") == 6


def test_a_throttled_create_is_still_retried(emulator, dataset_group, deletion_file):
    emulator.throttle(1, operation="CreateDataDeletionJob")
    create(PersonalizeHook(), "erase-1", dataset_group, deletion_file)
    assert emulator.calls("CreateDataDeletionJob") == 2


def test_the_connections_retry_settings_are_kept(emulator, aws_conn):
    plain = boto3.client("personalize", endpoint_url=aws_conn, region_name="us-east-1")
    assert PersonalizeHook().conn.meta.config.retries == plain.meta.config.retries
