"""
Fixtures: the local AWS emulator (S3 and the Personalize data deletion API on one endpoint).

- ``local_aws`` (session): a running :class:`LocalAws` whose jobs finish at once (zero timings).
- ``emulator`` (function): its :class:`EmulatorClient`, reset before the test (no groups, jobs, faults,
  buckets; zero timings).
- ``aws_conn`` (function): points ``AIRFLOW_CONN_AWS_DEFAULT`` and ``AWS_ENDPOINT_URL`` at the emulator;
  yields the endpoint URL.
- ``s3_client`` (function): a boto3 S3 client on the emulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest

from airflow_provider_personalize_deletion.emulator import EmulatorClient, JobTimings, LocalAws

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    with LocalAws(timings=JobTimings(pending_seconds=0, in_progress_seconds=0)) as aws:
        yield aws


@pytest.fixture
def emulator(local_aws: LocalAws) -> EmulatorClient:
    client = local_aws.client
    client.reset()
    client.set_timings(pending_seconds=0, in_progress_seconds=0)
    return client


@pytest.fixture
def aws_conn(local_aws: LocalAws, emulator: EmulatorClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", local_aws.airflow_conn_uri())
    monkeypatch.setenv("AWS_ENDPOINT_URL", local_aws.endpoint_url)
    yield local_aws.endpoint_url


@pytest.fixture
def s3_client(local_aws: LocalAws, emulator: EmulatorClient) -> S3Client:
    return boto3.client("s3", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region)
