"""
The stage of the example erasure on a running emulator: S3 bucket, dataset groups, a SQLite warehouse
with erasure requests, and the Airflow settings (connections, Variables) that point the DAG at them.

Used by ``scripts/demo.py`` (``make demo``) and by ``tests/release`` (the installed wheel, run with the
new virtualenv's Python). As a command it seeds the emulator and the warehouse and prints the Airflow
environment variables as JSON::

    python scripts/demo_stage.py WORK_DIR DAGS_FOLDER ENDPOINT_URL AWS_CONN_URI
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3

from airflow_provider_personalize_deletion.emulator.control import EmulatorClient

DAG_ID = "personalize_gdpr_erasure"
REGION = "us-east-1"
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


def seed_emulator(endpoint_url: str, region: str = REGION) -> list[str]:
    """
    Create the SSE-S3 bucket and the dataset groups; return the groups' ARNs.

    :param endpoint_url: the emulator's endpoint.
    :param region: the emulator's region.
    """
    s3 = boto3.client("s3", endpoint_url=endpoint_url, region_name=region, **_credentials())
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    client = EmulatorClient(endpoint_url)
    return [client.create_dataset_group(name, users) for name, users in GROUPS.items()]


def airflow_environment(
    work: Path, dags_folder: Path, aws_conn_uri: str, group_arns: list[str], region: str = REGION
) -> dict[str, str]:
    """
    Return the environment variables that configure Airflow for the example DAG (no other variable).

    :param work: the folder of ``AIRFLOW_HOME`` (``work/airflow``) and the warehouse (``work/warehouse.db``).
    :param dags_folder: the folder holding the example DAG.
    :param aws_conn_uri: the ``aws_default`` connection URI that points at the emulator.
    :param group_arns: the dataset groups to erase from.
    :param region: the emulator's region.
    """
    return {
        **FAKE_CREDENTIALS,
        **warehouse_environment(work, dags_folder),
        "AWS_DEFAULT_REGION": region,
        "AIRFLOW_CONN_AWS_DEFAULT": aws_conn_uri,
        "AIRFLOW_VAR_PERSONALIZE_ERASURE_DATASET_GROUP_ARNS": json.dumps(group_arns),
        "AIRFLOW_VAR_PERSONALIZE_ERASURE_ROLE_ARN": ROLE_ARN,
        "AIRFLOW_VAR_PERSONALIZE_ERASURE_BUCKET": BUCKET,
        "PERSONALIZE_ERASURE_POLL_SECONDS": "2",
    }


def warehouse_environment(work: Path, dags_folder: Path) -> dict[str, str]:
    """
    Return the environment variables of an Airflow on the demo's home and SQLite warehouse, without AWS.

    :param work: the folder of ``AIRFLOW_HOME`` (``work/airflow``) and the warehouse (``work/warehouse.db``).
    :param dags_folder: the folder holding the example DAG.
    """
    warehouse = {"conn_type": "sqlite", "host": str(work / "warehouse.db")}
    return {
        "AIRFLOW_HOME": str(work / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_PERSONALIZE_ERASURE_WAREHOUSE": json.dumps(warehouse),
    }


def seed_warehouse(env: dict[str, str]) -> None:
    """
    Create the warehouse tables and insert :data:`REQUESTS` as pending requests (changes ``os.environ``).

    :param env: the environment of :func:`airflow_environment`.
    """
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


def _credentials() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def main(argv: list[str]) -> int:
    work, dags_folder, endpoint_url, aws_conn_uri = argv
    (Path(work) / "airflow").mkdir(parents=True, exist_ok=True)
    env = airflow_environment(Path(work), Path(dags_folder), aws_conn_uri, seed_emulator(endpoint_url))
    seed_warehouse(env)
    print(json.dumps(env))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
