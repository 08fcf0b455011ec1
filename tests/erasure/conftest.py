"""A small erasure world: a warehouse of requests, two dataset groups and a bucket on the emulator."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_personalize_deletion.erasure.runtime import request_store
from airflow_provider_personalize_deletion.erasure.settings import DEFAULTS, ErasureSettings
from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore
from airflow_provider_personalize_deletion.transfers.s3_upload import DELETION_FILE_METADATA

ROLE_ARN = "arn:aws:iam::123456789012:role/PersonalizeDeletion"
BUCKET = "personalize-erasure"
USERS = [f"user-{number:03d}" for number in range(1, 21)]


@dataclass
class ErasureWorld:
    """What the example DAG works on, and what a test inspects afterwards."""

    store: ErasureRequestStore
    groups: dict[str, str]
    s3: object

    def request(self, *user_ids: str, days_ago: int = 1) -> None:
        when = datetime.now(timezone.utc) - timedelta(days=days_ago)
        self.store.add_requests(user_ids, f"portal-{days_ago}", when)

    def statuses(self) -> dict[str, str]:
        rows = self.store.hook.get_records(f"SELECT user_id, status FROM {self.store.requests_table}")
        return dict(rows)

    def claimed(self) -> int:
        """How many requests carry a claim (``batch_key``)."""
        ((count,),) = self.store.hook.get_records(
            f"SELECT COUNT(*) FROM {self.store.requests_table} WHERE batch_key IS NOT NULL"
        )
        return count

    def audit(self) -> list[tuple[str, dict]]:
        rows = self.store.hook.get_records(
            f"SELECT outcome, record FROM {self.store.audit_table} ORDER BY recorded_at"
        )
        return [(outcome, json.loads(record)) for outcome, record in rows]

    def files_left(self) -> int:
        return self.s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0)

    def objects(self, bucket: str = BUCKET) -> list[str]:
        return sorted(item["Key"] for item in self.s3.list_objects_v2(Bucket=bucket).get("Contents", []))

    def put_old_object(self, key: str, hours: int, bucket: str = BUCKET, deletion_file: bool = True) -> None:
        """An object written ``hours`` ago, with the deletion files' upload metadata or without."""
        metadata = DELETION_FILE_METADATA if deletion_file else {}
        self.s3.put_object(Bucket=bucket, Key=key, Body=b"USER_ID\nuser-001\n", Metadata=metadata)
        age_object(bucket, key, hours)


def age_object(bucket: str, key: str, hours: int) -> None:
    """Move an object's LastModified back in the emulator's S3 (moto, served in this process)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    fake_key = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets[bucket].keys[key]
    fake_key.last_modified -= timedelta(hours=hours)


@pytest.fixture
def world(emulator, aws_conn, s3_client, tmp_path, monkeypatch) -> ErasureWorld:
    s3_client.create_bucket(Bucket=BUCKET)
    s3_client.put_bucket_encryption(  # as every bucket is since 2023: new objects are SSE-S3
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    groups = {
        "shop": emulator.create_dataset_group("shop", user_ids=USERS),
        "news": emulator.create_dataset_group("news", user_ids=USERS[5:]),
    }
    warehouse = {"conn_type": "sqlite", "host": str(tmp_path / "warehouse.db")}
    monkeypatch.setenv("AIRFLOW_CONN_PERSONALIZE_ERASURE_WAREHOUSE", json.dumps(warehouse))
    monkeypatch.setenv(
        "AIRFLOW_VAR_PERSONALIZE_ERASURE_DATASET_GROUP_ARNS", json.dumps(list(groups.values()))
    )
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_ROLE_ARN", ROLE_ARN)
    store = request_store(ErasureSettings(**{**DEFAULTS, "dataset_group_arns": ()}))
    store.create_tables()
    return ErasureWorld(store, groups, s3_client)
