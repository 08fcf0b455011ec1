"""The emulator as a server: S3 on the same endpoint, Airflow connection, start, stop, console script."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest

from airflow_provider_personalize_deletion.emulator import EmulatorClient, JobTimings, LocalAws


def test_s3_objects_round_trip_through_the_endpoint(s3_client, bucket):
    s3_client.put_object(Bucket=bucket, Key="folder/a.csv", Body=b"USER_ID\n")

    listed = [obj["Key"] for obj in s3_client.list_objects_v2(Bucket=bucket)["Contents"]]
    body = s3_client.get_object(Bucket=bucket, Key="folder/a.csv")["Body"].read()

    assert (listed, body) == (["folder/a.csv"], b"USER_ID\n")


def test_s3_multipart_uploads_work_through_the_endpoint(s3_client, bucket):
    upload = s3_client.create_multipart_upload(Bucket=bucket, Key="big.csv")["UploadId"]
    parts = [
        {"PartNumber": number, "ETag": s3_client.upload_part(
            Bucket=bucket, Key="big.csv", UploadId=upload, PartNumber=number, Body=body
        )["ETag"]}
        for number, body in ((1, b"x" * 5 * 1024 * 1024), (2, b"y"))
    ]  # fmt: skip
    s3_client.complete_multipart_upload(
        Bucket=bucket, Key="big.csv", UploadId=upload, MultipartUpload={"Parts": parts}
    )

    assert s3_client.head_object(Bucket=bucket, Key="big.csv")["ContentLength"] == 5 * 1024 * 1024 + 1


def test_s3_bucket_encryption_configuration_works_through_the_endpoint(s3_client, bucket):
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    s3_client.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})

    rules = s3_client.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]

    assert rules[0]["ApplyServerSideEncryptionByDefault"] == rule["ApplyServerSideEncryptionByDefault"]


def test_the_airflow_connection_points_airflow_hooks_at_the_emulator(aws_conn, emulator):
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    group = emulator.create_dataset_group("shop")
    personalize = AwsBaseHook(aws_conn_id="aws_default", client_type="personalize").get_conn()

    assert personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]["status"] == "ACTIVE"


def test_aws_endpoint_url_points_plain_boto3_clients_at_the_emulator(aws_conn, emulator):
    boto3.client("personalize", region_name="us-east-1").list_data_deletion_jobs()

    assert emulator.calls("ListDataDeletionJobs") == 1


def test_the_emulator_starts_in_under_two_seconds_and_stops_cleanly():
    threads_before = set(threading.enumerate())
    started = time.monotonic()
    with LocalAws(timings=JobTimings(0, 0)) as aws:
        startup = time.monotonic() - started
        EmulatorClient(aws.endpoint_url).jobs()
        boto3.client(
            "personalize", endpoint_url=aws.endpoint_url, region_name="us-east-1"
        ).list_dataset_groups()

    assert startup < 2
    assert set(threading.enumerate()) - threads_before == set()
    with pytest.raises(OSError):
        EmulatorClient(aws.endpoint_url, timeout=1).jobs()


def test_the_console_script_prints_its_url_and_serves_until_terminated():
    process = subprocess.Popen(
        [Path(sys.executable).with_name("personalize-deletion-emulator"), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = process.stdout.readline()
        url = first_line.removeprefix("Emulator listening on ").strip()
        jobs = EmulatorClient(url).jobs()
    finally:
        process.terminate()
        returncode = process.wait(timeout=10)

    assert (first_line.startswith("Emulator listening on http://127.0.0.1:"), jobs, returncode) == (
        True,
        [],
        0,
    )
