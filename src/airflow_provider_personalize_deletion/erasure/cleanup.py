"""
Which S3 objects and uploads the erasure pipeline may remove: only those it wrote itself.

A deletion file is recognised by more than its folder: its key has the exact shape
``<key_prefix>/<16 hex digits>/part-<5 digits>.csv`` *and* its object metadata says
``personalize-deletion-file: v1`` (set on upload by the transfer). Any other object under the
prefix (a retention policy, another team's export) is never touched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

# TEMPORARY copy of ``transfers.s3_upload.DELETION_FILE_METADATA`` (contract C3), which the transfer's
# branch adds: import it from there once both branches are merged.
DELETION_FILE_METADATA = {"personalize-deletion-file": "v1"}
_DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes


def deletion_file_key_pattern(key_prefix: str) -> re.Pattern[str]:
    """
    The exact shape of a deletion file's key under the pipeline's prefix.

    :param key_prefix: the pipeline's ``key_prefix`` (no trailing ``/``).
    """
    return re.compile(re.escape(key_prefix) + r"/[0-9a-f]{16}/part-\d{5}\.csv")


def has_deletion_file_metadata(s3_client: Any, bucket: str, key: str) -> bool:
    """
    Tell whether an object carries the metadata the transfer sets on every deletion file (a HEAD).

    :param s3_client: a boto3 S3 client.
    :param bucket: the bucket.
    :param key: the object's key.
    """
    metadata = s3_client.head_object(Bucket=bucket, Key=key).get("Metadata", {})
    return all(metadata.get(name) == value for name, value in DELETION_FILE_METADATA.items())


def list_objects(s3_client: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    """
    Every object under a prefix, as ``ListObjectsV2`` describes it.

    :param s3_client: a boto3 S3 client.
    :param bucket: the bucket.
    :param prefix: the key prefix.
    """
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def delete_objects(s3_client: Any, bucket: str, keys: list[str]) -> None:
    """
    Delete objects, a thousand at a time.

    :param s3_client: a boto3 S3 client.
    :param bucket: the bucket.
    :param keys: the keys to delete.
    """
    for start in range(0, len(keys), _DELETE_BATCH):
        batch = [{"Key": key} for key in keys[start : start + _DELETE_BATCH]]
        s3_client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


def abort_stale_multipart_uploads(
    client: Any, bucket: str, prefix: str, older_than: datetime, key_pattern: re.Pattern[str]
) -> int:
    """
    Abort the incomplete multipart uploads of deletion files started before ``older_than``.

    A killed upload leaves parts (personal data) that ``ListObjectsV2`` never shows.

    TEMPORARY local implementation of ``transfers.s3_upload.abort_stale_multipart_uploads`` (same
    signature), which the transfer's branch adds: use that one once both branches are merged.

    :param client: a boto3 S3 client.
    :param bucket: the bucket.
    :param prefix: the key prefix to look under.
    :param older_than: uploads initiated before this moment (aware) are aborted.
    :param key_pattern: only uploads whose whole key matches it are aborted.
    :return: how many uploads were aborted.
    """
    aborted = 0
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
        for upload in page.get("Uploads", []):
            if upload["Initiated"] < older_than and key_pattern.fullmatch(upload["Key"]):
                client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
                aborted += 1
    return aborted
