"""The verifier describes every job a record names again: what differs from the record is a break."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timezone

import boto3
import pytest

from airflow_provider_personalize_deletion.ledger.chain import walk_chain
from airflow_provider_personalize_deletion.ledger.claims import check_claims
from airflow_provider_personalize_deletion.ledger.record import DeletionJobClaim, ExportJobClaim
from tests.ledger.conftest import START, entry

ROLE_ARN = "arn:aws:iam::123456789012:role/PersonalizeDeletion"
FILES = "deletion-files"


@pytest.fixture
def personalize(local_aws, emulator):
    return boto3.client("personalize", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region)


def finished_job(personalize, s3_client, emulator, name: str) -> dict:
    """A deletion job of the emulator, waited for until it ended."""
    group = emulator.create_dataset_group(f"group-{name}", user_ids=["u1", "u2", "u3"])
    if FILES not in [bucket["Name"] for bucket in s3_client.list_buckets()["Buckets"]]:
        s3_client.create_bucket(Bucket=FILES)
    s3_client.put_object(Bucket=FILES, Key=f"{name}.csv", Body=b"USER_ID\nu1\nu2\n")
    arn = personalize.create_data_deletion_job(
        jobName=name,
        datasetGroupArn=group,
        dataSource={"dataLocation": f"s3://{FILES}/{name}.csv"},
        roleArn=ROLE_ARN,
    )["dataDeletionJobArn"]
    for _ in range(100):
        job = personalize.describe_data_deletion_job(dataDeletionJobArn=arn)["dataDeletionJob"]
        if job["status"] in ("COMPLETED", "FAILED"):
            return job
        time.sleep(0.05)
    raise AssertionError("the emulator's job did not end")


def claim_of(job: dict) -> DeletionJobClaim:
    """What the pipeline records of a job (its times as JSON-safe ISO text, its run's deletion files)."""
    return DeletionJobClaim(
        data_locations=[job["dataSource"]["dataLocation"]],
        arn=job["dataDeletionJobArn"],
        dataset_group_arn=job["datasetGroupArn"],
        status=job["status"],
        num_deleted=job.get("numDeleted"),
        created=job["creationDateTime"].isoformat(),
        last_updated=job["lastUpdatedDateTime"].isoformat(),
    )


def claims_breaks(writer, personalize, *entries, appended_at=None) -> list[str]:
    for item in entries:
        writer.append(item, appended_at or datetime.now(timezone.utc))
    report = walk_chain(writer.s3, writer.bucket, writer.prefix)
    assert report.breaks == []
    return check_claims(report.records, personalize)


def test_a_record_of_completed_jobs_as_they_are_verifies(writer, personalize, s3_client, emulator):
    job = finished_job(personalize, s3_client, emulator, "erase-1")
    assert job["status"] == "COMPLETED"
    recorded = entry(0, request_ids=["a" * 32], deletion_jobs=[claim_of(job)])
    assert claims_breaks(writer, personalize, recorded) == []


def test_a_record_marking_requests_erased_on_a_failed_job_is_a_break(
    writer, personalize, s3_client, emulator
):
    emulator.fail_job(None, "Insufficient privileges")
    job = finished_job(personalize, s3_client, emulator, "erase-2")
    assert job["status"] == "FAILED"
    claimed = replace(claim_of(job), status="COMPLETED", num_deleted=2)
    found = claims_breaks(writer, personalize, entry(0, request_ids=["b" * 32], deletion_jobs=[claimed]))
    assert found == [
        f"record 0 (run scheduled__run-0): the deletion job {job['dataDeletionJobArn']} is FAILED, "
        "recorded COMPLETED",
        f"record 0 (run scheduled__run-0): the deletion job {job['dataDeletionJobArn']} deleted None, "
        "recorded 2",
    ]


def test_requests_erased_by_a_job_recorded_failed_are_a_break(writer, personalize, s3_client, emulator):
    emulator.fail_job(None, "Insufficient privileges")
    job = finished_job(personalize, s3_client, emulator, "erase-3")
    found = claims_breaks(
        writer, personalize, entry(0, request_ids=["c" * 32], deletion_jobs=[claim_of(job)])
    )
    assert found == [
        f"record 0 (run scheduled__run-0) marks requests erased on the job {job['dataDeletionJobArn']}, "
        "recorded FAILED"
    ]


def test_a_changed_count_or_time_is_a_break(writer, personalize, s3_client, emulator):
    job = finished_job(personalize, s3_client, emulator, "erase-4")
    claimed = replace(
        claim_of(job), num_deleted=(job["numDeleted"] or 0) + 5, created="2020-01-01T00:00:00+00:00"
    )
    found = claims_breaks(writer, personalize, entry(0, deletion_jobs=[claimed]))
    arn = job["dataDeletionJobArn"]
    assert len(found) == 2
    assert found[0] == (
        f"record 0 (run scheduled__run-0): the deletion job {arn} deleted {job['numDeleted']}, "
        f"recorded {job['numDeleted'] + 5}"
    )
    assert found[1].startswith(
        f"record 0 (run scheduled__run-0): the deletion job {arn}'s creationDateTime is "
    )


def test_an_invented_job_is_a_break(writer, personalize, emulator):
    arn = "arn:aws:personalize:us-east-1:123456789012:data-deletion-job/invented"
    claimed = DeletionJobClaim(
        arn, "arn:aws:personalize:us-east-1:123456789012:dataset-group/g", "COMPLETED", 4
    )
    (found,) = claims_breaks(writer, personalize, entry(0, deletion_jobs=[claimed]))
    assert found.startswith(f"record 0 (run scheduled__run-0): the deletion job {arn} cannot be described (")
    assert found.endswith("): forged?")


def test_an_invented_export_job_is_a_break(writer, personalize, emulator):
    arn = "arn:aws:personalize:us-east-1:123456789012:dataset-export-job/invented"
    dataset = "arn:aws:personalize:us-east-1:123456789012:dataset/g/INTERACTIONS"
    recorded = entry(0, export_jobs=[ExportJobClaim(arn, dataset, "verified_absent")])
    (found,) = claims_breaks(writer, personalize, recorded)
    assert found.startswith(
        f"record 0 (run scheduled__run-0): the dataset export job {arn} cannot be described"
    )


def test_a_job_that_read_another_file_than_the_records_is_a_break(writer, personalize, s3_client, emulator):
    """A real job of the attacker's (on a file of no one) put in a record that claims the run's files."""
    job = finished_job(personalize, s3_client, emulator, "erase-5")
    claimed = replace(claim_of(job), data_locations=[f"s3://{FILES}/the-runs-file.csv"])
    found = claims_breaks(writer, personalize, entry(0, request_ids=["d" * 32], deletion_jobs=[claimed]))
    assert found == [
        f"record 0 (run scheduled__run-0): the deletion job {job['dataDeletionJobArn']} read "
        f"s3://{FILES}/erase-5.csv, none of the record's deletion files"
    ]


def test_a_record_marking_requests_erased_without_its_deletion_files_is_a_break(
    writer, personalize, s3_client, emulator
):
    job = finished_job(personalize, s3_client, emulator, "erase-6")
    claimed = replace(claim_of(job), data_locations=None)
    found = claims_breaks(writer, personalize, entry(0, request_ids=["e" * 32], deletion_jobs=[claimed]))
    assert found == [
        f"record 0 (run scheduled__run-0) marks requests erased on the job {job['dataDeletionJobArn']} "
        "without naming its deletion files"
    ]


def test_a_record_appended_before_its_job_ended_is_a_break(writer, personalize, s3_client, emulator):
    """A record backdated before the jobs it names ended: no honest append can be earlier."""
    job = finished_job(personalize, s3_client, emulator, "erase-7")
    found = claims_breaks(writer, personalize, entry(0, deletion_jobs=[claim_of(job)]), appended_at=START)
    assert found == [
        f"record 0 (run scheduled__run-0): the deletion job {job['dataDeletionJobArn']} was last updated "
        f"at {job['lastUpdatedDateTime'].isoformat()}, after the record was appended ({START.isoformat()})"
    ]
