"""
Run the example erasure end to end on this machine: no AWS account, nothing leaves localhost.

A SQLite warehouse holds erasure requests; the local emulator serves S3 and the Personalize data
deletion API; a real Airflow (``airflow dags test``) runs ``dags/personalize_gdpr_erasure.py``.
Everything lives in ``.demo/``, made anew on each run but for the fingerprint key
(``.demo/fingerprint-key``, random, made by the first run), given to Airflow as the setting
``[personalize_deletion] fingerprint_key``. The evidence ledger is on, in a bucket of the emulator
with Object Lock (``[personalize_deletion] ledger_bucket``). Prints what was erased, and what the
verifier ``personalize-erasure-verify`` says of the ledger.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import boto3
from demo_stage import BUCKET, DAG_ID, FAKE_CREDENTIALS, airflow_environment, seed_emulator, seed_warehouse

from airflow_provider_personalize_deletion.emulator import JobTimings, LocalAws

#: The demo's evidence ledger: a bucket with Object Lock on the emulator, records kept a day.
LEDGER_BUCKET, LEDGER_PREFIX, LEDGER_RETENTION_DAYS = "erasure-evidence", "erasure-ledger", 1
REPO = Path(__file__).resolve().parents[1]
WORK = REPO / ".demo"
FINGERPRINT_KEY_FILE = WORK / "fingerprint-key"


def main() -> int:
    logging.getLogger("airflow_provider_personalize_deletion.emulator").setLevel(logging.WARNING)
    os.environ.update(FAKE_CREDENTIALS)
    os.environ.pop("AWS_PROFILE", None)
    fingerprint_key = empty_work_dir()
    (WORK / "airflow").mkdir(parents=True)
    started = time.monotonic()
    with LocalAws(timings=JobTimings(pending_seconds=2, in_progress_seconds=3)) as aws:
        group_arns = seed_emulator(aws.endpoint_url, aws.region)
        s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name=aws.region)
        s3.create_bucket(Bucket=LEDGER_BUCKET, ObjectLockEnabledForBucket=True)
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            **airflow_environment(WORK, REPO / "dags", aws.airflow_conn_uri(), group_arns, aws.region),
            "AIRFLOW__PERSONALIZE_DELETION__FINGERPRINT_KEY": fingerprint_key,
            "AIRFLOW__PERSONALIZE_DELETION__LEDGER_BUCKET": LEDGER_BUCKET,
            "AIRFLOW__PERSONALIZE_DELETION__LEDGER_PREFIX": LEDGER_PREFIX,
            "AIRFLOW__PERSONALIZE_DELETION__LEDGER_RETENTION_DAYS": str(LEDGER_RETENTION_DAYS),
        }
        seed_warehouse(env)
        print(f"Local emulator on {aws.endpoint_url}; warehouse {WORK / 'warehouse.db'}")
        run(["airflow", "db", "migrate"], env, "airflow-db-migrate.log")
        print(f"Running {DAG_ID} with `airflow dags test` (log: .demo/dags-test.log) ...")
        code = run(["airflow", "dags", "test", DAG_ID], env, "dags-test.log", check=False)
        print_summary(aws, group_arns, env, time.monotonic() - started)
    return code


def empty_work_dir() -> str:
    """Empty ``.demo/`` but for the fingerprint key, made (mode 0600) if missing; return the key."""
    if not FINGERPRINT_KEY_FILE.exists():
        WORK.mkdir(exist_ok=True)
        FINGERPRINT_KEY_FILE.touch(mode=0o600)
        FINGERPRINT_KEY_FILE.write_text(secrets.token_hex(32))
    for path in WORK.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path != FINGERPRINT_KEY_FILE:
            path.unlink()
    return FINGERPRINT_KEY_FILE.read_text().strip()


def run(command: list[str], env: dict[str, str], log_name: str, check: bool = True) -> int:
    with open(WORK / log_name, "w") as log:
        result = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    if check and result.returncode:
        sys.exit(f"`{' '.join(command)}` failed: see .demo/{log_name}")
    return result.returncode


def print_summary(aws: LocalAws, group_arns: list[str], env: dict[str, str], seconds: float) -> None:
    import sqlite3

    database = sqlite3.connect(WORK / "warehouse.db")
    statuses = dict(database.execute("SELECT status, COUNT(*) FROM erasure_requests GROUP BY status"))
    outcome, record = database.execute("SELECT outcome, record FROM erasure_audit").fetchone()
    audit = json.loads(record)
    s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name=aws.region)
    left = s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0)
    print()
    print(f"Erasure run: {outcome.upper()} in {seconds:.0f} s")
    print(
        f"  requests erased: {statuses.get('erased', 0)}, still pending: {statuses.get('pending', 0)}, "
        f"overdue (past their due date) when collected: {audit['requests']['overdue']}"
    )
    export = audit["export"] or {}
    print(
        f"  deletion file: {export.get('id_count', 0)} distinct user ids in {export.get('file_count', 0)} "
        f"file(s), fingerprint {export.get('fingerprint')}"
    )
    for group in audit["dataset_groups"]:
        for job in group["jobs"]:
            print(
                f"  job {job['jobName']} on {group['dataset_group_arn'].rsplit('/', 1)[-1]}: "
                f"{job['status']}, numDeleted={job['numDeleted']}"
            )
    remaining = {arn.rsplit("/", 1)[-1]: len(aws.client.users(arn)) for arn in group_arns}
    print(f"  users left in the dataset groups: {remaining}")
    print(f"  deletion files left in s3://{BUCKET}: {left}")
    print(f"  audit record: table erasure_audit in {WORK / 'warehouse.db'}")
    print(f"  evidence ledger s3://{LEDGER_BUCKET}/{LEDGER_PREFIX}/, checked by personalize-erasure-verify:")
    verify_ledger(aws)


def verify_ledger(aws: LocalAws) -> None:
    """Run the verifier on the ledger and the warehouse, as an auditor would (its lines indented)."""
    from airflow_provider_personalize_deletion.ledger.command import main as verify

    logging.getLogger("botocore.credentials").setLevel(logging.WARNING)
    arguments = ["--bucket", LEDGER_BUCKET, "--prefix", LEDGER_PREFIX, "--endpoint-url", aws.endpoint_url]
    arguments += ["--region", aws.region, "--warehouse", f"sqlite:///{WORK / 'warehouse.db'}"]
    arguments += ["--retention-days", str(LEDGER_RETENTION_DAYS)]
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        verify(arguments)
    for line in output.getvalue().splitlines():
        print(f"    {line}")


if __name__ == "__main__":
    sys.exit(main())
