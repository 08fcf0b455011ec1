"""
Read a data deletion job's input, a CSV of user ids, from the emulator's S3 (moto's in-process backend).

The rules are the service's (see ``personalize-facts.md``): ``dataLocation`` names one object or,
ending with ``/``, a folder whose objects (sub-folders included) are all read; every file has the
single header ``USER_ID``; the total size has a limit; the bucket and objects cannot use a
customer-managed KMS key. A broken rule is reported as :class:`JobInputError`, whose message becomes the
job's ``failureReason``. Messages name locations and counts, never user ids.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from airflow_provider_personalize_deletion.emulator.s3_store import find_bucket, objects_at, split_location

if TYPE_CHECKING:
    from moto.s3.models import FakeBucket

USER_ID_HEADER = "USER_ID"
_KMS_ALGORITHMS = frozenset({"aws:kms", "aws:kms:dsse"})


class JobInputError(Exception):
    """The job's input cannot be used; the message is the job's ``failureReason``."""


def read_user_ids(data_location: str, region: str, max_input_bytes: int) -> set[str]:
    """
    Read the distinct user ids a data deletion job lists.

    :param data_location: ``s3://bucket/key.csv`` or ``s3://bucket/folder/``.
    :param region: the emulator's region (selects moto's S3 partition).
    :param max_input_bytes: the largest total size of the input files the job accepts.
    :raises JobInputError: when the input breaks one of the service's rules.
    """
    bucket_name, key = _split_location(data_location)
    bucket = _bucket(bucket_name, region, data_location)
    default_encryption = (
        (bucket.encryption or {}).get("Rule", {}).get("ApplyServerSideEncryptionByDefault", {})
    )
    if _uses_customer_kms_key(
        default_encryption.get("SSEAlgorithm"), default_encryption.get("KMSMasterKeyID")
    ):
        raise JobInputError(
            f"The bucket {bucket_name} is encrypted with a customer managed AWS KMS key, which data deletion "
            "jobs do not support. Use server-side encryption with Amazon S3 managed keys (SSE-S3)."
        )
    objects = objects_at(bucket, key)
    if not objects:
        raise JobInputError(f"No input data found at {data_location}. Check the data location.")
    total_size = sum(obj.size for obj in objects)
    if total_size > max_input_bytes:
        raise JobInputError(
            f"The input data at {data_location} is {total_size} bytes, more than the maximum of "
            f"{max_input_bytes} bytes for a data deletion job."
        )
    user_ids: set[str] = set()
    for obj in objects:
        location = f"s3://{bucket_name}/{obj.name}"
        if _uses_customer_kms_key(obj.encryption, obj.kms_key_id):
            raise JobInputError(
                f"The object {location} is encrypted with a customer managed AWS KMS key, which data "
                "deletion jobs do not support."
            )
        user_ids.update(_parse_csv(obj.value, location))
    return user_ids


def _split_location(data_location: str) -> tuple[str, str]:
    parts = split_location(data_location)
    if parts is None:
        raise JobInputError(f"Invalid data location {data_location}: only s3:// locations are supported.")
    return parts


def _bucket(bucket_name: str, region: str, data_location: str) -> FakeBucket:
    bucket = find_bucket(bucket_name, region)
    if bucket is None:
        raise JobInputError(
            f"No input data found at {data_location}: the bucket {bucket_name} does not exist."
        )
    return bucket


def _uses_customer_kms_key(algorithm: str | None, kms_key_id: str | None) -> bool:
    return algorithm in _KMS_ALGORITHMS and bool(kms_key_id)


def _parse_csv(content: bytes, location: str) -> set[str]:
    try:
        records = [row for row in csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")) if row]
    except UnicodeDecodeError:
        raise JobInputError(f"The input file {location} is not UTF-8 encoded.") from None
    except csv.Error:
        raise JobInputError(f"The input file {location} is not a valid CSV file.") from None
    if not records or records[0] != [USER_ID_HEADER]:
        raise JobInputError(
            f"The input file {location} must have a single column with the header {USER_ID_HEADER}."
        )
    for number, record in enumerate(records[1:], start=1):
        if len(record) != 1:
            raise JobInputError(
                f"Record {number} of the input file {location} has {len(record)} columns; "
                f"expected the single column {USER_ID_HEADER}."
            )
    return {record[0] for record in records[1:]}
