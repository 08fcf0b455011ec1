"""Helpers of the emulator's own tests: a Personalize client without retries, and a job factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config

from airflow_provider_personalize_deletion.emulator import EmulatorClient, LocalAws

if TYPE_CHECKING:
    from mypy_boto3_personalize import PersonalizeClient
    from mypy_boto3_s3 import S3Client

ROLE_ARN = "arn:aws:iam::123456789012:role/PersonalizeDeletion"
BUCKET = "erasure-input"
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})

CreateJob = Callable[..., str]


@pytest.fixture
def personalize(local_aws: LocalAws, emulator: EmulatorClient) -> PersonalizeClient:
    """A boto3 Personalize client on the emulator that surfaces every error at once (no retries)."""
    return boto3.client(
        "personalize", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region, config=NO_RETRIES
    )


@pytest.fixture
def bucket(s3_client: S3Client) -> str:
    """An empty bucket for deletion input files."""
    s3_client.create_bucket(Bucket=BUCKET)
    return BUCKET


@pytest.fixture
def put_csv(s3_client: S3Client, bucket: str) -> Callable[..., str]:
    """Write a deletion input file (a header line, then one user id a line); return its ``s3://`` URI."""

    def put(key: str, user_ids: list[str], header: str = "USER_ID", **put_args: Any) -> str:
        body = "\n".join([header, *user_ids]) + "\n"
        s3_client.put_object(Bucket=bucket, Key=key, Body=body.encode(), **put_args)
        return f"s3://{bucket}/{key}"

    return put


@pytest.fixture
def create_job(personalize: PersonalizeClient) -> CreateJob:
    """Create a data deletion job; return its ARN."""

    def create(job_name: str, dataset_group_arn: str, data_location: str) -> str:
        return personalize.create_data_deletion_job(
            jobName=job_name,
            datasetGroupArn=dataset_group_arn,
            dataSource={"dataLocation": data_location},
            roleArn=ROLE_ARN,
        )["dataDeletionJobArn"]

    return create


@pytest.fixture
def describe_job(personalize: PersonalizeClient) -> Callable[[str], dict[str, Any]]:
    """Describe a data deletion job by ARN."""

    def describe(job_arn: str) -> dict[str, Any]:
        return personalize.describe_data_deletion_job(dataDeletionJobArn=job_arn)["dataDeletionJob"]

    return describe
