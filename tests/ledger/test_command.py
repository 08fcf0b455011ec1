"""``personalize-erasure-verify``: runs without Airflow, prints each break and exits 1 on any."""

from __future__ import annotations

import subprocess
import sys

from airflow_provider_personalize_deletion.ledger.record import record_key
from tests.ledger.conftest import fill


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
