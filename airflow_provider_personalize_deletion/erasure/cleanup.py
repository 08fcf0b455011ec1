"""
Which S3 objects and uploads the erasure pipeline may remove: only those it wrote itself.

A deletion file is recognised by more than its folder: its key has the exact shape
``<key_prefix>/<16 hex digits>/<export try>/part-<5 digits>.csv`` (or, as written before export
tries had folders of their own, ``<key_prefix>/<16 hex digits>/part-<5 digits>.csv``) *and* its
object metadata says ``personalize-deletion-file: v1`` (set on upload by the transfer). Any other
object under the prefix (a retention policy, another team's export) is never touched, not even
in the run's own folder.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from airflow_provider_personalize_deletion.transfers.parameters import PART_NAME_PATTERN
from airflow_provider_personalize_deletion.transfers.s3_upload import DELETION_FILE_METADATA

_DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes


def deletion_file_key_pattern(key_prefix: str) -> re.Pattern[str]:
    """
    The exact shape of a deletion file's key under the pipeline's prefix.

    :param key_prefix: the pipeline's ``key_prefix`` (no trailing ``/``).
    """
    return re.compile(re.escape(key_prefix) + r"/[0-9a-f]{16}/(?:[1-9][0-9]{0,5}/)?" + PART_NAME_PATTERN)


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


def deletion_files_left(s3_client: Any, bucket: str, folder: str, key_prefix: str) -> int:
    """
    How many objects with a deletion file's key shape are under a folder (one listing; no HEAD: any
    such object counts, whoever wrote it).

    :param s3_client: a boto3 S3 client.
    :param bucket: the bucket.
    :param folder: the folder's key prefix (no trailing ``/``), e.g. a run's claim folder.
    :param key_prefix: the pipeline's ``key_prefix`` (:func:`deletion_file_key_pattern`).
    """
    pattern = deletion_file_key_pattern(key_prefix)
    return sum(1 for item in list_objects(s3_client, bucket, folder + "/") if pattern.fullmatch(item["Key"]))


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
