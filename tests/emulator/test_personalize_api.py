"""The Personalize operations' rules: validation, resource errors, limits, listing and pagination."""

from __future__ import annotations

import threading

import boto3
import pytest
from botocore.config import Config

from tests.emulator.conftest import NO_RETRIES, ROLE_ARN

GROUP_ARN_PREFIX = "arn:aws:personalize:us-east-1:123456789012:dataset-group/"


def test_create_data_deletion_job_returns_an_arn_named_after_the_job(emulator, create_job):
    group = emulator.create_dataset_group("shop")

    assert create_job("erase-1", group, "s3://any/x.csv") == (
        "arn:aws:personalize:us-east-1:123456789012:data-deletion-job/erase-1"
    )


def test_a_job_name_breaking_the_model_pattern_is_invalid_input_naming_the_field(
    emulator, create_job, personalize
):
    group = emulator.create_dataset_group("shop")

    with pytest.raises(personalize.exceptions.InvalidInputException, match="jobName"):
        create_job("-starts-with-a-dash", group, "s3://any/x.csv")


def test_a_job_name_longer_than_the_model_maximum_is_invalid_input(emulator, create_job, personalize):
    group = emulator.create_dataset_group("shop")

    with pytest.raises(personalize.exceptions.InvalidInputException, match="at most 63"):
        create_job("j" * 64, group, "s3://any/x.csv")


def test_a_missing_required_member_is_invalid_input_naming_it(local_aws, emulator):
    unvalidated = boto3.client(
        "personalize",
        endpoint_url=local_aws.endpoint_url,
        region_name="us-east-1",
        config=NO_RETRIES.merge(Config(parameter_validation=False)),
    )
    group = emulator.create_dataset_group("shop")

    with pytest.raises(unvalidated.exceptions.InvalidInputException, match="roleArn"):
        unvalidated.create_data_deletion_job(
            jobName="erase-1", datasetGroupArn=group, dataSource={"dataLocation": "s3://any/x.csv"}
        )


def test_an_invalid_request_creates_no_job(emulator, create_job, personalize):
    group = emulator.create_dataset_group("shop")

    with pytest.raises(personalize.exceptions.InvalidInputException):
        create_job("erase-1", group, "ftp://any/x.csv")

    assert emulator.jobs() == []


def test_an_unknown_dataset_group_is_resource_not_found(emulator, create_job, personalize):
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        create_job("erase-1", GROUP_ARN_PREFIX + "nowhere", "s3://any/x.csv")


def test_a_job_name_used_before_is_resource_already_exists(emulator, create_job, personalize):
    group = emulator.create_dataset_group("shop")
    create_job("erase-1", group, "s3://any/x.csv")

    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        create_job("erase-1", group, "s3://any/y.csv")


def test_a_sixth_pending_job_in_a_dataset_group_is_limit_exceeded(emulator, create_job, personalize):
    emulator.set_timings(pending_seconds=600, in_progress_seconds=0)
    group = emulator.create_dataset_group("shop")
    for number in range(5):
        create_job(f"erase-{number}", group, "s3://any/x.csv")

    with pytest.raises(personalize.exceptions.LimitExceededException):
        create_job("erase-5", group, "s3://any/x.csv")


def test_the_pending_limit_counts_each_dataset_group_apart(emulator, create_job):
    emulator.set_timings(pending_seconds=600, in_progress_seconds=0)
    shop, news = emulator.create_dataset_group("shop"), emulator.create_dataset_group("news")
    for number in range(5):
        create_job(f"erase-{number}", shop, "s3://any/x.csv")

    assert create_job("erase-news", news, "s3://any/x.csv").endswith("/erase-news")


def test_describe_of_an_unknown_job_is_resource_not_found(emulator, personalize):
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_data_deletion_job(
            dataDeletionJobArn="arn:aws:personalize:us-east-1:123456789012:data-deletion-job/nope"
        )


def test_list_data_deletion_jobs_returns_the_newest_first(emulator, create_job, personalize):
    group = emulator.create_dataset_group("shop")
    for name in ("first", "second", "third"):
        create_job(name, group, "s3://any/x.csv")

    jobs = personalize.list_data_deletion_jobs()["dataDeletionJobs"]

    assert [job["jobName"] for job in jobs] == ["third", "second", "first"]


def test_list_data_deletion_jobs_filters_by_dataset_group(emulator, create_job, personalize):
    shop, news = emulator.create_dataset_group("shop"), emulator.create_dataset_group("news")
    create_job("erase-shop", shop, "s3://any/x.csv")
    create_job("erase-news", news, "s3://any/x.csv")

    jobs = personalize.list_data_deletion_jobs(datasetGroupArn=news)["dataDeletionJobs"]

    assert [job["jobName"] for job in jobs] == ["erase-news"]


def test_list_data_deletion_jobs_pages_with_next_token(emulator, create_job, personalize):
    group = emulator.create_dataset_group("shop")
    for number in range(5):
        create_job(f"erase-{number}", group, "s3://any/x.csv")

    names, kwargs = [], {"maxResults": 2}
    while True:
        page = personalize.list_data_deletion_jobs(**kwargs)
        names.append([job["jobName"] for job in page["dataDeletionJobs"]])
        if "nextToken" not in page:
            break
        kwargs["nextToken"] = page["nextToken"]

    assert names == [["erase-4", "erase-3"], ["erase-2", "erase-1"], ["erase-0"]]


def test_a_page_stays_correct_when_a_job_is_created_between_calls(emulator, create_job, personalize):
    group = emulator.create_dataset_group("shop")
    for number in range(3):
        create_job(f"erase-{number}", group, "s3://any/x.csv")
    first = personalize.list_data_deletion_jobs(maxResults=2)

    create_job("erase-new", group, "s3://any/x.csv")
    second = personalize.list_data_deletion_jobs(maxResults=2, nextToken=first["nextToken"])

    assert [job["jobName"] for job in second["dataDeletionJobs"]] == ["erase-0"]


def test_max_results_above_100_is_invalid_input(emulator, personalize):
    with pytest.raises(personalize.exceptions.InvalidInputException, match="maxResults"):
        personalize.list_data_deletion_jobs(maxResults=101)


def test_a_garbage_next_token_is_invalid_next_token(emulator, personalize):
    with pytest.raises(personalize.exceptions.InvalidNextTokenException):
        personalize.list_data_deletion_jobs(nextToken="not-a-token")


def test_a_next_token_of_another_list_is_invalid_next_token(emulator, personalize):
    for name in ("shop", "news"):
        personalize.create_dataset_group(name=name)
    token = personalize.list_dataset_groups(maxResults=1)["nextToken"]

    with pytest.raises(personalize.exceptions.InvalidNextTokenException):
        personalize.list_data_deletion_jobs(nextToken=token)


def test_create_dataset_group_makes_an_active_group(emulator, personalize):
    arn = personalize.create_dataset_group(name="shop", roleArn=ROLE_ARN)["datasetGroupArn"]

    group = personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]

    assert (arn, group["name"], group["status"], group["roleArn"]) == (
        GROUP_ARN_PREFIX + "shop",
        "shop",
        "ACTIVE",
        ROLE_ARN,
    )


def test_a_dataset_group_name_used_before_is_resource_already_exists(emulator, personalize):
    personalize.create_dataset_group(name="shop")

    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        personalize.create_dataset_group(name="shop")


def test_list_dataset_groups_returns_the_newest_first(emulator, personalize):
    for name in ("shop", "news"):
        personalize.create_dataset_group(name=name)

    groups = personalize.list_dataset_groups()["datasetGroups"]

    assert [group["name"] for group in groups] == ["news", "shop"]


def test_personalize_actions_the_emulator_does_not_implement_go_to_moto(emulator, personalize):
    assert personalize.list_schemas()["schemas"] == []


def test_concurrent_creates_of_one_job_name_make_exactly_one_job(emulator, create_job, personalize):
    group = emulator.create_dataset_group("shop")
    outcomes: list[str] = []

    def create() -> None:
        try:
            create_job("erase-1", group, "s3://any/x.csv")
            outcomes.append("created")
        except personalize.exceptions.ResourceAlreadyExistsException:
            outcomes.append("exists")

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert (sorted(outcomes), len(emulator.jobs())) == (["created"] + ["exists"] * 7, 1)
