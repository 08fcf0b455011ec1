"""
The objects of a find-and-forget run: listed once from its :class:`~.locations.LocationPlan`, and split
into batches for Airflow's dynamic task mapping (one mapped task per batch).

A batch is a list of ``{"bucket", "key", "format"}``: S3 names and a format, never a user id, safe in
XCom. A listing S3 refuses (access denied, no such bucket) is kept with S3's error code: its objects
could not be read and are reported as unverified, never as clean.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from airflow_provider_personalize_deletion.forget.formats import READABLE_FORMATS

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from airflow_provider_personalize_deletion.forget.locations import LocationPlan

log = logging.getLogger(__name__)

#: A batch holds at most this many objects by default ...
MAX_BATCH_OBJECTS = 100
#: ... and at most this many bytes (a single larger object is a batch of its own).
MAX_BATCH_BYTES = 1024**3
#: Airflow's ``[core] max_map_length``: at most this many mapped tasks by default.
MAX_BATCHES = 1024
#: The longest object key S3 takes, in UTF-8 bytes.
MAX_KEY_BYTES = 1024


@dataclass(frozen=True)
class ForgetObject:
    """
    One object to read, and forget the users in.

    :param bucket: its bucket.
    :param key: its key.
    :param format: one of :data:`~.formats.READABLE_FORMATS`.
    """

    bucket: str
    key: str
    format: str

    @property
    def location(self) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.bucket}/{self.key}"

    def as_record(self) -> dict[str, str]:
        """Return it as JSON-ready data (for XCom)."""
        return {"bucket": self.bucket, "key": self.key, "format": self.format}

    @classmethod
    def from_record(cls, record: object, field: str = "objects[0]") -> ForgetObject:
        """
        Check one object given as data (an XCom, a DAG author's list) and return it.

        :param record: ``{"bucket", "key", "format"}``.
        :param field: its name in errors.
        :raises PersonalizeValidationError: naming the member and the rule, never its value.
        """
        if not isinstance(record, Mapping) or set(record) != {"bucket", "key", "format"}:
            raise PersonalizeValidationError(field, "must be an object with exactly bucket, key and format")
        # Imported here: the DAG imports this module at parse time, a run only checks records.
        from airflow_provider_personalize_deletion.transfers.parameters import (
            InvalidTransferParameterError,
            check_bucket_name,
        )

        try:
            bucket = check_bucket_name(record["bucket"])
        except InvalidTransferParameterError as error:
            raise PersonalizeValidationError(f"{field}.bucket", str(error).partition(": ")[2]) from None
        key = record["key"]
        if not isinstance(key, str) or not key or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            raise PersonalizeValidationError(
                f"{field}.key", f"must be an object key of 1 to {MAX_KEY_BYTES} UTF-8 bytes"
            )
        if record["format"] not in READABLE_FORMATS:
            raise PersonalizeValidationError(f"{field}.format", f"must be one of {list(READABLE_FORMATS)}")
        return cls(bucket, key, record["format"])


def checked_objects(records: Iterable[object], field: str = "objects") -> list[ForgetObject]:
    """
    :param records: objects as data (:meth:`ForgetObject.from_record`).
    :param field: their name in errors.
    :raises PersonalizeValidationError: the first object that breaks a rule, by place.
    """
    if isinstance(records, (str, bytes, Mapping)):
        raise PersonalizeValidationError(field, "must be a list of objects")
    return [ForgetObject.from_record(record, f"{field}[{index}]") for index, record in enumerate(records)]


@dataclass
class ObjectListing:
    """
    What listing a plan's locations found.

    :param objects: each scannable object once, with its size, in listing order.
    :param unlisted: ``(s3://bucket/prefix, S3's error code)`` of each listing S3 refused.
    :param skipped: objects listed but not scanned: in no scannable location, or a folder marker.
    """

    objects: list[tuple[ForgetObject, int]] = field(default_factory=list)
    unlisted: list[tuple[str, str]] = field(default_factory=list)
    skipped: int = 0


def list_plan_objects(client: S3Client, plan: LocationPlan) -> ObjectListing:
    """
    List every object of a plan's scannable locations once (each prefix of
    :meth:`~.locations.LocationPlan.listing_prefixes`, paginated), with the format of the most specific
    location covering it (:meth:`~.locations.LocationPlan.resolve`).

    :param client: a boto3 S3 client.
    :param plan: the run's location plan.
    """
    listing = ObjectListing()
    for bucket, prefix in plan.listing_prefixes():
        try:
            for item in _listed(client, bucket, prefix):
                key = item["Key"]
                location = plan.resolve(bucket, key)
                if location is None or not location.scannable or (key.endswith("/") and not item["Size"]):
                    listing.skipped += 1
                    continue
                listing.objects.append((ForgetObject(bucket, key, location.format), int(item["Size"])))
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", "unknown"))
            listing.unlisted.append((f"s3://{bucket}/{prefix}", code))
        except BotoCoreError as error:
            listing.unlisted.append((f"s3://{bucket}/{prefix}", type(error).__name__))
    log.info(
        "Listed %d object(s) to scan (%d not scanned); %d listing(s) refused",
        len(listing.objects),
        listing.skipped,
        len(listing.unlisted),
    )
    return listing


def _listed(client: S3Client, bucket: str, prefix: str) -> Iterator[Any]:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def split_batches(
    objects: Sequence[tuple[ForgetObject, int]],
    max_objects: int = MAX_BATCH_OBJECTS,
    max_bytes: int = MAX_BATCH_BYTES,
    max_batches: int = MAX_BATCHES,
) -> list[list[dict[str, str]]]:
    """
    Split objects into batches, in order: a batch ends before the object that would take it over
    ``max_objects`` or ``max_bytes``. When that makes more than ``max_batches`` batches, the objects are
    split by count alone into ``max_batches`` batches of equal size (a backlog beyond the mapping limit
    still runs, in larger batches).

    :param objects: ``(object, size in bytes)`` each.
    :param max_objects: objects per batch at most (at least 1).
    :param max_bytes: bytes per batch at most; a larger object is a batch of its own.
    :param max_batches: batches at most (Airflow's ``[core] max_map_length``).
    :return: each batch's objects as records (:meth:`ForgetObject.as_record`).
    """
    for name, value in (("max_objects", max_objects), ("max_bytes", max_bytes), ("max_batches", max_batches)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise PersonalizeValidationError(name, "must be a whole number of at least 1")
    batches: list[list[dict[str, str]]] = []
    size = 0
    for item, item_size in objects:
        if not batches or len(batches[-1]) >= max_objects or size + item_size > max_bytes:
            batches.append([])
            size = 0
        batches[-1].append(item.as_record())
        size += item_size
    if len(batches) > max_batches:
        records = [item.as_record() for item, _ in objects]
        per_batch = math.ceil(len(records) / max_batches)
        batches = [records[start : start + per_batch] for start in range(0, len(records), per_batch)]
    return batches
