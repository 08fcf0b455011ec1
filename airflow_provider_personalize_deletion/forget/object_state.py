"""
An object's state as read before a rewrite: its version, and every attribute the rewrite must keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode

from airflow_provider_personalize_deletion.scan.source import SourceObject

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

KEPT_ATTRIBUTES: Final = (
    "ContentType",
    "ContentEncoding",
    "ContentDisposition",
    "ContentLanguage",
    "CacheControl",
    "Metadata",
    "StorageClass",
    "ServerSideEncryption",
    "SSEKMSKeyId",
    "BucketKeyEnabled",
)
"""HeadObject's fields that are also PutObject / CreateMultipartUpload arguments, written back as read."""
UNVERSIONED: Final = "null"
"""The version id S3 gives objects of a bucket whose versioning is off or suspended."""


@dataclass(frozen=True)
class ObjectState:
    """
    :param item: the object as read: its ETag, size, and version on a versioned bucket.
    :param attributes: the write arguments that keep its attributes (tags as ``Tagging``).
    """

    item: SourceObject
    attributes: dict[str, Any]

    @property
    def versioned(self) -> bool:
        """Whether the object has a version of its own (earlier versions may exist)."""
        return self.item.version_id is not None


def read_state(client: S3Client, bucket: str, key: str) -> ObjectState:
    """
    :param client: a boto3 S3 client.
    :param bucket: the object's bucket.
    :param key: its key.
    :raises botocore.exceptions.ClientError: it cannot be read (missing, access denied).
    """
    head: Any = client.head_object(Bucket=bucket, Key=key)
    version = head.get("VersionId")
    version = None if version in (None, UNVERSIONED) else version
    attributes = {name: head[name] for name in KEPT_ATTRIBUTES if head.get(name)}
    tagging: Any = client.get_object_tagging(
        Bucket=bucket, Key=key, **({"VersionId": version} if version else {})
    )
    if tagging["TagSet"]:
        attributes["Tagging"] = urlencode([(tag["Key"], tag["Value"]) for tag in tagging["TagSet"]])
    return ObjectState(SourceObject(bucket, key, head["ContentLength"], head["ETag"], version), attributes)
