"""The scan's test rig: a source bucket on the emulator's S3, a fingerprint key, and digest helpers."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pytest

from airflow_provider_personalize_deletion.scan.suppressed import SuppressedUsers

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BUCKET = "import-sources"
KEY = b"scan-test-key-" + b"7e" * 16


def digest(user_id: bytes) -> bytes:
    """The suppression list's entry for one id: HMAC-SHA256 of its exact bytes under :data:`KEY`."""
    return hmac.digest(KEY, user_id, "sha256")


def suppressed(user_ids: Iterable[bytes]) -> SuppressedUsers:
    """A suppression set of the given ids."""
    return SuppressedUsers(KEY, [digest(user_id) for user_id in user_ids])


@pytest.fixture
def bucket(s3_client: S3Client) -> str:
    s3_client.create_bucket(Bucket=BUCKET)
    return BUCKET


def put(s3_client: S3Client, key: str, body: bytes) -> None:
    """Write one object into the source bucket."""
    s3_client.put_object(Bucket=BUCKET, Key=key, Body=body)


def read(s3_client: S3Client, key: str, bucket: str = BUCKET) -> bytes:
    """One object's bytes."""
    return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()


def keys(s3_client: S3Client, prefix: str = "", bucket: str = BUCKET) -> list[str]:
    """Every key under a prefix, sorted."""
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))
