"""
The emulator's S3, as its jobs see it: moto's in-process backend, the one the emulator's S3 endpoint serves.

Jobs read and write it directly (no HTTP, no credentials), the way the service reads and writes a
customer's bucket. Locations follow the service's rules: for data deletion and import jobs
``s3://bucket/key`` names one object, and ``s3://bucket/folder/`` (ending with ``/``) names every object
below it, sub-folders included (:func:`objects_at`); batch jobs read every key that starts with the path
(:func:`objects_with_prefix`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.exceptions import MissingBucket
from moto.s3.models import FakeKey, s3_backends
from moto.utilities.utils import get_partition

if TYPE_CHECKING:
    from moto.s3.models import FakeBucket, S3Backend


def s3_backend(region: str) -> S3Backend:
    """
    Return moto's in-process S3 backend that the emulator's S3 endpoint serves.

    :param region: the emulator's region (S3 buckets live in one backend per partition).
    """
    return s3_backends[DEFAULT_ACCOUNT_ID][get_partition(region)]


def split_location(location: str) -> tuple[str, str] | None:
    """:param location: ``s3://bucket/key``; return ``(bucket, key)``, or None when it is no s3:// URI."""
    if not location.startswith("s3://"):
        return None
    bucket_name, _, key = location.removeprefix("s3://").partition("/")
    return bucket_name, key


def find_bucket(bucket_name: str, region: str) -> FakeBucket | None:
    """
    :param bucket_name: the bucket's name.
    :param region: the emulator's region.
    :return: the bucket, or None when it does not exist.
    """
    try:
        return s3_backend(region).get_bucket(bucket_name)
    except MissingBucket:
        return None


def objects_at(bucket: FakeBucket, key: str) -> list[FakeKey]:
    """
    Return the object ``key`` names, or every object below it when it is a folder (ends with ``/`` or is
    empty), in key order; folder markers (keys ending with ``/``) are no objects.

    :param bucket: the bucket.
    :param key: an object key, or a folder ending with ``/``.
    """
    if not key or key.endswith("/"):
        return objects_with_prefix(bucket, key)
    found = bucket.keys.get(key)
    return [found] if isinstance(found, FakeKey) else []


def objects_with_prefix(bucket: FakeBucket, prefix: str) -> list[FakeKey]:
    """
    Return every object whose key starts with ``prefix``, as text (``in`` also matches ``in_old/a``), in
    key order; folder markers (keys ending with ``/``) are no objects. Batch jobs read their input so.

    :param bucket: the bucket.
    :param prefix: the start of the keys.
    """
    names = sorted(name for name in list(bucket.keys) if name.startswith(prefix) and not name.endswith("/"))
    found = (bucket.keys.get(name) for name in names)
    return [obj for obj in found if isinstance(obj, FakeKey)]


def put_object(bucket_name: str, key: str, body: bytes, region: str, kms_key_id: str | None = None) -> None:
    """
    Write one object, as a job writing its output does.

    :param bucket_name: an existing bucket.
    :param key: the object's key.
    :param body: its content.
    :param region: the emulator's region.
    :param kms_key_id: the KMS key to encrypt it with (SSE-KMS), or None for the bucket's default.
    """
    encryption = "aws:kms" if kms_key_id else None
    s3_backend(region).put_object(bucket_name, key, body, encryption=encryption, kms_key_id=kms_key_id)
