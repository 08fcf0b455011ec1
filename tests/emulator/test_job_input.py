"""A job reads its input from the emulator's S3, with the service's rules for the CSV and the bucket."""

from __future__ import annotations

import logging

import boto3
import pytest

from airflow_provider_personalize_deletion.emulator import JobTimings, LocalAws
from tests.emulator.conftest import BUCKET, ROLE_ARN

CUSTOMER_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture
def group(emulator):
    return emulator.create_dataset_group("shop", user_ids=["alice", "bob", "carol", "dave"])


@pytest.fixture
def run_job(group, create_job, describe_job):
    """Create a job for ``group`` and describe it once (with zero timings, it has finished)."""

    def run(data_location: str, job_name: str = "erase-1") -> dict:
        return describe_job(create_job(job_name, group, data_location))

    return run


def test_a_job_deletes_the_listed_users_the_group_holds(emulator, group, put_csv, run_job):
    job = run_job(put_csv("erase.csv", ["alice", "bob", "zoe"]))

    assert (job["status"], job["numDeleted"], emulator.users(group)) == ("COMPLETED", 2, {"carol", "dave"})


def test_num_deleted_counts_a_user_listed_twice_once(put_csv, run_job):
    assert run_job(put_csv("erase.csv", ["alice", "alice"]))["numDeleted"] == 1


def test_a_second_job_for_the_same_users_deletes_none(put_csv, run_job):
    location = put_csv("erase.csv", ["alice", "bob"])
    run_job(location, "erase-1")

    assert run_job(location, "erase-2")["numDeleted"] == 0


def test_a_folder_location_reads_every_object_below_it_sub_folders_included(
    emulator, group, put_csv, run_job
):
    put_csv("erase/2024/part-1.csv", ["alice"])
    put_csv("erase/2024/12/part-2.csv", ["bob"])
    put_csv("elsewhere/part-3.csv", ["carol"])

    job = run_job(f"s3://{BUCKET}/erase/")

    assert (job["numDeleted"], emulator.users(group)) == (2, {"carol", "dave"})


def test_quoted_ids_with_commas_quotes_and_newlines_are_one_id_each(
    emulator, group, s3_client, bucket, run_job
):
    emulator.seed_users(group, ["a,b", 'say "hi"', "two\nlines"])
    body = 'USER_ID\n"a,b"\n"say ""hi"""\n"two\nlines"\n'
    s3_client.put_object(Bucket=bucket, Key="erase.csv", Body=body.encode())

    assert run_job(f"s3://{bucket}/erase.csv")["numDeleted"] == 3


def test_a_missing_object_fails_the_job(bucket, run_job):
    job = run_job(f"s3://{bucket}/nothing-here.csv")

    assert (job["status"], job["failureReason"]) == (
        "FAILED",
        f"No input data found at s3://{bucket}/nothing-here.csv. Check the data location.",
    )


def test_a_missing_bucket_fails_the_job(emulator, run_job):
    job = run_job("s3://no-such-bucket/erase.csv")

    assert job["status"] == "FAILED"
    assert "bucket no-such-bucket does not exist" in job["failureReason"]


def test_an_empty_folder_fails_the_job(bucket, put_csv, run_job):
    put_csv("other/erase.csv", ["alice"])

    assert run_job(f"s3://{bucket}/erase/")["status"] == "FAILED"


def test_an_empty_object_fails_the_job(emulator, s3_client, bucket, run_job):
    s3_client.put_object(Bucket=bucket, Key="erase.csv", Body=b"")

    job = run_job(f"s3://{bucket}/erase.csv")

    assert (job["status"], job["failureReason"]) == (
        "FAILED",
        f"The input file s3://{bucket}/erase.csv must have a single column with the header USER_ID.",
    )


@pytest.mark.parametrize("header", ["user_id", "USER_ID,ITEM_ID", "ID"])
def test_a_header_other_than_user_id_fails_the_job(put_csv, run_job, header):
    job = run_job(put_csv("erase.csv", ["alice"], header=header))

    assert (job["status"], "header USER_ID" in job["failureReason"]) == ("FAILED", True)


def test_a_row_with_two_columns_fails_the_job(put_csv, run_job):
    job = run_job(put_csv("erase.csv", ["alice,bob"]))

    assert job["status"] == "FAILED"
    assert "has 2 columns" in job["failureReason"]


def _run_with_size_limit(max_input_bytes: int, data_location: str) -> dict:
    """Run a job on an emulator of its own whose input size limit is ``max_input_bytes`` (S3 is shared)."""
    with LocalAws(timings=JobTimings(0, 0), max_input_bytes=max_input_bytes) as aws:
        personalize = boto3.client("personalize", endpoint_url=aws.endpoint_url, region_name="us-east-1")
        job_arn = personalize.create_data_deletion_job(
            jobName="erase-1",
            datasetGroupArn=aws.client.create_dataset_group("shop"),
            dataSource={"dataLocation": data_location},
            roleArn=ROLE_ARN,
        )["dataDeletionJobArn"]
        return personalize.describe_data_deletion_job(dataDeletionJobArn=job_arn)["dataDeletionJob"]


def test_input_over_the_size_limit_fails_the_job(put_csv):
    location = put_csv("erase.csv", ["alice", "bob"])  # 18 bytes

    job = _run_with_size_limit(17, location)

    assert (job["status"], job["failureReason"]) == (
        "FAILED",
        f"The input data at {location} is 18 bytes, more than the maximum of 17 bytes "
        "for a data deletion job.",
    )


def test_input_of_exactly_the_size_limit_is_read(put_csv):
    assert _run_with_size_limit(18, put_csv("erase.csv", ["alice", "bob"]))["status"] == "COMPLETED"


def test_a_bucket_encrypted_with_a_customer_kms_key_fails_the_job(s3_client, bucket, put_csv, run_job):
    s3_client.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": CUSTOMER_KEY,
                    }
                }
            ]
        },
    )

    job = run_job(put_csv("erase.csv", ["alice"]))

    assert (job["status"], "customer managed AWS KMS key" in job["failureReason"]) == ("FAILED", True)


def test_an_object_encrypted_with_a_customer_kms_key_fails_the_job(put_csv, run_job):
    location = put_csv("erase.csv", ["alice"], ServerSideEncryption="aws:kms", SSEKMSKeyId=CUSTOMER_KEY)

    job = run_job(location)

    assert (job["status"], "customer managed AWS KMS key" in job["failureReason"]) == ("FAILED", True)


def test_a_bucket_with_s3_managed_encryption_is_read(s3_client, bucket, put_csv, run_job):
    s3_client.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )

    assert run_job(put_csv("erase.csv", ["alice"]))["status"] == "COMPLETED"


def test_an_http_location_fails_the_job(run_job):
    job = run_job("https://example.com/erase.csv")

    assert (job["status"], "only s3://" in job["failureReason"]) == ("FAILED", True)


def test_a_job_logs_counts_never_user_ids(emulator, group, put_csv, run_job, caplog):
    caplog.set_level(logging.DEBUG)
    emulator.seed_users(group, ["user-4711-secret"])

    run_job(put_csv("erase.csv", ["user-4711-secret", "alice"]))

    assert "2 of 2 listed users deleted" in caplog.text
    assert "user-4711-secret" not in caplog.text
    assert "alice" not in caplog.text
