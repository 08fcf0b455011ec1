"""Request faults tests inject: throttling, latency; and the call count tests assert on."""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.config import Config


def test_calls_counts_personalize_requests_by_operation(emulator, personalize):
    personalize.list_data_deletion_jobs()
    personalize.list_data_deletion_jobs()
    personalize.list_dataset_groups()

    assert (emulator.calls(), emulator.calls("ListDataDeletionJobs")) == (3, 2)


def test_calls_does_not_count_control_or_s3_requests(emulator, s3_client):
    emulator.create_dataset_group("shop")
    s3_client.list_buckets()

    assert emulator.calls() == 0


def test_throttled_calls_answer_throttling_exception(emulator, personalize):
    emulator.throttle(1)

    with pytest.raises(personalize.exceptions.ClientError, match="ThrottlingException"):
        personalize.list_data_deletion_jobs()


def test_throttling_ends_after_the_given_number_of_calls(emulator, personalize):
    emulator.throttle(1)
    with pytest.raises(personalize.exceptions.ClientError):
        personalize.list_data_deletion_jobs()

    assert personalize.list_data_deletion_jobs()["dataDeletionJobs"] == []


def test_throttling_an_operation_leaves_the_others_alone(emulator, personalize):
    emulator.throttle(1, "CreateDataDeletionJob")

    assert personalize.list_data_deletion_jobs()["dataDeletionJobs"] == []


def test_botocore_retries_a_throttled_call_through(local_aws, emulator):
    retrying = boto3.client(
        "personalize",
        endpoint_url=local_aws.endpoint_url,
        region_name="us-east-1",
        config=Config(retries={"mode": "standard", "total_max_attempts": 3}),
    )
    emulator.throttle(2, "ListDataDeletionJobs")

    response = retrying.list_data_deletion_jobs()

    assert (response["ResponseMetadata"]["RetryAttempts"], emulator.calls("ListDataDeletionJobs")) == (2, 3)


def test_latency_delays_every_personalize_response(emulator, personalize):
    emulator.set_latency(0.3)

    started = time.monotonic()
    personalize.list_data_deletion_jobs()

    assert time.monotonic() - started >= 0.3


def test_latency_of_one_operation_delays_its_calls(emulator, personalize):
    emulator.set_latency(0.3, "ListDataDeletionJobs")

    started = time.monotonic()
    personalize.list_data_deletion_jobs()

    assert time.monotonic() - started >= 0.3


def test_latency_of_one_operation_leaves_the_others_alone(emulator, personalize):
    emulator.set_latency(5, "CreateDataDeletionJob")

    started = time.monotonic()
    personalize.list_data_deletion_jobs()

    assert time.monotonic() - started < 5


def test_latency_of_an_s3_operation_delays_it_and_counts_it(emulator, s3_client, bucket):
    s3_client.put_object(Bucket=bucket, Key="a.csv", Body=b"USER_ID\n")
    emulator.set_latency(0.5, "DeleteObjects")

    started = time.monotonic()
    s3_client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a.csv"}]})

    assert time.monotonic() - started >= 0.5
    assert (emulator.calls("DeleteObjects"), emulator.calls("PutObject"), emulator.calls()) == (1, 1, 0)
    assert s3_client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0  # carried out after the delay


def test_latency_of_an_s3_operation_leaves_the_other_s3_operations_alone(emulator, s3_client, bucket):
    emulator.set_latency(5, "DeleteObjects")
    emulator.set_latency(5)  # every Personalize call: not S3's

    started = time.monotonic()
    s3_client.put_object(Bucket=bucket, Key="a.csv", Body=b"USER_ID\n")
    s3_client.list_objects_v2(Bucket=bucket)

    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "expected"),
    [
        ("POST", "/b", {"delete": ""}, {}, "DeleteObjects"),
        ("POST", "/b/k", {"uploads": ""}, {}, "CreateMultipartUpload"),
        ("PUT", "/b/k", {"uploadId": "u", "partNumber": "1"}, {}, "UploadPart"),
        ("POST", "/b/k", {"uploadId": "u"}, {}, "CompleteMultipartUpload"),
        ("DELETE", "/b/k", {"uploadId": "u"}, {}, "AbortMultipartUpload"),
        ("PUT", "/b/k", {}, {}, "PutObject"),
        ("PUT", "/b/k", {}, {"x-amz-copy-source": "b/j"}, "CopyObject"),
        ("DELETE", "/b/k", {}, {}, "DeleteObject"),
        ("GET", "/b", {"list-type": "2"}, {}, "ListObjectsV2"),
        ("GET", "/b", {"uploads": ""}, {}, "ListMultipartUploads"),
        ("GET", "/b/k", {}, {}, "GetObject"),
        ("PUT", "/b", {}, {}, "S3:PUT"),
    ],
)
def test_s3_operation_names_a_request_as_the_s3_api_does(method, path, query, headers, expected):
    from airflow_provider_personalize_deletion.emulator.s3_operations import s3_operation

    assert s3_operation(method, path, query, headers) == expected
