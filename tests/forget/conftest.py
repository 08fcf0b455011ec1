"""The forget engine's rig: buckets on the emulator's S3 (plain and versioned), a key, and the users set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_personalize_deletion.forget.allowed_locations import ENV as ALLOWED_LOCATIONS_ENV
from airflow_provider_personalize_deletion.forget.find import users_to_forget
from airflow_provider_personalize_deletion.scan.suppressed import SuppressedUsers

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

KEY = b"forget-test-key-" + b"3c" * 16
BUCKET = "batch-outputs"
VERSIONED = "batch-outputs-versioned"


def allow(monkeypatch: pytest.MonkeyPatch, *entries: str) -> None:
    """Set ``[personalize_deletion] forget_allowed_locations`` to these ``s3://bucket/prefix/`` entries."""
    monkeypatch.setenv(ALLOWED_LOCATIONS_ENV, ", ".join(entries))


def forget_set(*run_users: bytes, suppressed: tuple[bytes, ...] = ()) -> SuppressedUsers:
    """Users to forget: the run's and, as digests, the suppression list's."""
    import hmac

    return users_to_forget(KEY, [hmac.digest(KEY, user, "sha256") for user in suppressed], run_users)


@pytest.fixture
def bucket(s3_client: S3Client) -> str:
    s3_client.create_bucket(Bucket=BUCKET)
    return BUCKET


@pytest.fixture
def versioned(s3_client: S3Client) -> str:
    s3_client.create_bucket(Bucket=VERSIONED, ObjectLockEnabledForBucket=True)
    s3_client.put_bucket_versioning(Bucket=VERSIONED, VersioningConfiguration={"Status": "Enabled"})
    return VERSIONED


def read(s3_client: S3Client, bucket: str, key: str) -> bytes:
    return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()


def versions(s3_client: S3Client, bucket: str) -> list[tuple[str, str, str, Any]]:
    """Every version of every key: key, version id, ETag, last modified."""
    listed = s3_client.list_object_versions(Bucket=bucket)
    return sorted(
        (item["Key"], item["VersionId"], item["ETag"], item["LastModified"])
        for item in listed.get("Versions", [])
    )


def open_uploads(s3_client: S3Client, bucket: str) -> list[str]:
    return [upload["Key"] for upload in s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
