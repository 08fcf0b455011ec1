"""``personalize-erasure-verify``: runs without Airflow, prints each break and exits 1 on any."""

from __future__ import annotations

import subprocess
import sys

import boto3
import pytest
from botocore.stub import Stubber

from airflow_provider_personalize_deletion.ledger.chain import VerificationError, walk_chain
from airflow_provider_personalize_deletion.ledger.command import parser, verify
from airflow_provider_personalize_deletion.ledger.record import DeletionJobClaim, record_key
from tests.ledger.conftest import START, entry, fill


def run_verifier(local_aws, bucket: str, prefix: str, *extra: str) -> subprocess.CompletedProcess:
    """The installed command, in a process of its own that fails on any import of Airflow."""
    code = (
        "import sys\n"
        "from airflow_provider_personalize_deletion.ledger.command import main\n"
        "status = main(sys.argv[1:])\n"
        "assert not [name for name in sys.modules if name.split('.')[0] == 'airflow'], 'Airflow imported'\n"
        "sys.exit(status)\n"
    )
    arguments = ["--bucket", bucket, "--prefix", prefix, "--endpoint-url", local_aws.endpoint_url]
    if "--retention-days" not in extra:  # the test writers' retention
        arguments += ["--retention-days", "3"]
    return subprocess.run(
        [sys.executable, "-c", code, *arguments, "--region", local_aws.region, *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_clean_ledger_passes_without_airflow(local_aws, writer):
    fill(writer, 3)
    result = run_verifier(local_aws, writer.bucket, writer.prefix)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"OK: 3 record(s) in s3://{writer.bucket}/{writer.prefix}/, 0 break(s)"
    ]


def test_a_tampered_ledger_fails_and_names_each_break(local_aws, writer):
    fill(writer, 3)
    writer.s3.put_object(Bucket=writer.bucket, Key=record_key(writer.prefix, 1), Body=b"{}")
    writer.s3.delete_object(Bucket=writer.bucket, Key=record_key(writer.prefix, 2))
    result = run_verifier(local_aws, writer.bucket, writer.prefix)
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "BREAK: record 1 was overwritten: its key has 1 later version(s) (forged; the first version is "
        "the one verified)",
        "BREAK: record 2 is hidden by 1 delete marker(s)",
        f"FAILED: 3 record(s) in s3://{writer.bucket}/{writer.prefix}/, 2 break(s)",
    ]


def test_a_ledger_without_object_lock_is_not_tamper_evident(local_aws, unlocked_writer):
    fill(unlocked_writer, 1)
    strict = run_verifier(local_aws, unlocked_writer.bucket, unlocked_writer.prefix)
    assert strict.returncode == 1
    assert "not tamper-evident" in strict.stdout
    allowed = run_verifier(local_aws, unlocked_writer.bucket, unlocked_writer.prefix, "--allow-unlocked")
    assert allowed.returncode == 0, allowed.stdout
    assert allowed.stdout.count("NOTE: ") == 2
    assert all(
        "not tamper-evident" in line for line in allowed.stdout.splitlines() if line.startswith("NOTE")
    )


def test_records_kept_shorter_than_the_default_setting_fail(local_aws, writer):
    """Without ``--retention-days`` the verifier holds the records to the provider's default (7 years)."""
    fill(writer, 1)
    result = run_verifier(local_aws, writer.bucket, writer.prefix, "--retention-days", "2557")
    assert result.returncode == 1, result.stderr
    assert "less than the 2557 days after it was appended that the setting requires" in result.stdout


def test_a_ledger_that_cannot_be_read_is_a_clear_error_not_a_verdict(local_aws, s3_client):
    result = run_verifier(local_aws, "no-such-ledger-bucket", "ledger/erasure")
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("ERROR: cannot verify: ")
    assert "NoSuchBucket" in result.stderr
    assert "OK" not in result.stdout


class RefusingSession:
    """The auditor's session: S3 as it is, Personalize refusing every Describe (a fault moto cannot cause)."""

    def __init__(self, s3, region: str) -> None:
        self.s3, self.region = s3, region

    def client(self, service: str, **where):
        if service == "s3":
            return self.s3
        client = boto3.client(
            service, region_name=self.region, aws_access_key_id="a", aws_secret_access_key="b"
        )
        stubber = Stubber(client)
        stubber.add_client_error(
            "describe_data_deletion_job", "AccessDeniedException", "not authorized", http_status_code=400
        )
        stubber.activate()
        return client


def test_credentials_that_may_not_describe_jobs_stop_the_check_clearly(local_aws, writer):
    job = DeletionJobClaim(
        "arn:aws:personalize:us-east-1:123456789012:data-deletion-job/j",
        "arn:aws:personalize:us-east-1:123456789012:dataset-group/g",
        "COMPLETED",
        2,
    )
    writer.append(entry(0, deletion_jobs=[job]), START)
    arguments = parser().parse_args(
        ["--bucket", writer.bucket, "--prefix", writer.prefix, "--retention-days", "3"]
    )
    with pytest.raises(
        VerificationError,
        match=r"may not call personalize:DescribeDataDeletionJob "
        r"\(AccessDeniedException\): no job was checked; --skip-jobs checks the chain alone",
    ):
        verify(arguments, RefusingSession(writer.s3, local_aws.region))


def test_a_warehouse_that_cannot_be_read_is_a_clear_error_not_a_verdict(local_aws, writer, tmp_path):
    fill(writer, 1)
    missing = f"sqlite:///{tmp_path / 'no-such-dir' / 'warehouse.db'}"
    result = run_verifier(local_aws, writer.bucket, writer.prefix, "--warehouse", missing)
    assert result.returncode == 3, result.stdout
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("ERROR: cannot verify: the warehouse cannot be read (")


def test_a_chain_cut_before_a_noted_head_fails(local_aws, unlocked_writer):
    """Removing the newest records leaves a valid shorter chain: a head the auditor noted shows the cut."""
    fill(unlocked_writer, 3)
    report = walk_chain(
        unlocked_writer.s3, unlocked_writer.bucket, unlocked_writer.prefix, allow_unlocked=True
    )
    noted = f"2:{report.records[2].sha256}"
    where = (local_aws, unlocked_writer.bucket, unlocked_writer.prefix, "--allow-unlocked")
    assert run_verifier(*where, "--expect-head", noted).returncode == 0
    unlocked_writer.s3.delete_object(Bucket=unlocked_writer.bucket, Key=record_key(unlocked_writer.prefix, 2))
    assert run_verifier(*where).returncode == 0, "without the noted head the cut is not seen"
    cut = run_verifier(*where, "--expect-head", noted)
    assert cut.returncode == 1
    assert (
        f"BREAK: record 2, noted with hash {report.records[2].sha256}, is not in the ledger (truncated or "
        "removed)" in cut.stdout.splitlines()
    )


def test_a_malformed_noted_head_is_refused_as_bad_usage(local_aws, writer):
    result = run_verifier(local_aws, writer.bucket, writer.prefix, "--expect-head", "2:abc")
    assert result.returncode == 2
    assert "--expect-head: must be SEQUENCE:SHA256" in result.stderr
