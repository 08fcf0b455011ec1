"""
Run the example erasure end to end on this machine: no AWS account, nothing leaves localhost.

A SQLite warehouse holds erasure requests; the local emulator serves S3 and the Personalize data
deletion API; a real Airflow (``airflow dags test``) runs ``dags/personalize_gdpr_erasure.py``.
Everything lives in ``.demo/``, made anew on each run. Prints what was erased.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3

from airflow_provider_personalize_deletion.emulator import JobTimings, LocalAws

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / ".demo"
DAG_ID = "personalize_gdpr_erasure"
ROLE_ARN = "arn:aws:iam::123456789012:role/PersonalizeDeletion"
BUCKET = "personalize-erasure"
#: 40 customers; two dataset groups hold overlapping parts of them.
CUSTOMERS = [f"customer-{number:04d}" for number in range(1, 41)]
GROUPS = {"shop-recommendations": CUSTOMERS[:30], "news-recommendations": CUSTOMERS[10:]}
#: Who asked to be erased, and how many days ago; one asked twice, one id needs CSV quoting.
REQUESTS = [
    ("customer-0003", 2),
    ("customer-0007", 1),
    ("customer-0007", 0),
    ("customer-0012", 41),
    ("customer-0025", 3),
    ("customer-0031", 5),
    ("customer-0040", 33),
    ('o"brien, jr', 1),
]


#: The emulator takes any credentials; these keep real ones out of the demo.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def main() -> int:
    logging.getLogger("airflow_provider_personalize_deletion.emulator").setLevel(logging.WARNING)
    os.environ.update(FAKE_CREDENTIALS)
    os.environ.pop("AWS_PROFILE", None)
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "airflow").mkdir(parents=True)
    started = time.monotonic()
    with LocalAws(timings=JobTimings(pending_seconds=2, in_progress_seconds=3)) as aws:
        group_arns = seed_emulator(aws)
        env = airflow_environment(aws, group_arns)
        seed_warehouse(env)
        print(f"Local emulator on {aws.endpoint_url}; warehouse {WORK / 'warehouse.db'}")
        run(["airflow", "db", "migrate"], env, "airflow-db-migrate.log")
        print(f"Running {DAG_ID} with `airflow dags test` (log: .demo/dags-test.log) ...")
        code = run(["airflow", "dags", "test", DAG_ID], env, "dags-test.log", check=False)
        print_summary(aws, group_arns, env, time.monotonic() - started)
    return code


def seed_emulator(aws: LocalAws) -> list[str]:
    s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name=aws.region)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    return [aws.client.create_dataset_group(name, users) for name, users in GROUPS.items()]


def airflow_environment(aws: LocalAws, group_arns: list[str]) -> dict[str, str]:
    warehouse = {"conn_type": "sqlite", "host": str(WORK / "warehouse.db")}
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(WORK / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AWS_DEFAULT_REGION": aws.region,
        "AIRFLOW_CONN_AWS_DEFAULT": aws.airflow_conn_uri(),
        "AIRFLOW_CONN_PERSONALIZE_ERASURE_WAREHOUSE": json.dumps(warehouse),
        "AIRFLOW_VAR_PERSONALIZE_ERASURE_DATASET_GROUP_ARNS": json.dumps(group_arns),
        "AIRFLOW_VAR_PERSONALIZE_ERASURE_ROLE_ARN": ROLE_ARN,
        "AIRFLOW_VAR_PERSONALIZE_ERASURE_BUCKET": BUCKET,
        "PERSONALIZE_ERASURE_POLL_SECONDS": "2",
    }


def seed_warehouse(env: dict[str, str]) -> None:
    os.environ.update(
        {key: env[key] for key in ("AIRFLOW_HOME", "AIRFLOW_CONN_PERSONALIZE_ERASURE_WAREHOUSE")}
    )
    from airflow_provider_personalize_deletion.erasure.runtime import request_store
    from airflow_provider_personalize_deletion.erasure.settings import DEFAULTS, ErasureSettings

    store = request_store(ErasureSettings(**{**DEFAULTS, "dataset_group_arns": ()}))
    store.create_tables()
    now = datetime.now(timezone.utc)
    for user_id, days_ago in REQUESTS:
        store.add_requests([user_id], f"privacy-portal-{days_ago}", now - timedelta(days=days_ago))


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
        f"overdue (> 30 days) when collected: {audit['requests']['overdue']}"
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


if __name__ == "__main__":
    sys.exit(main())
