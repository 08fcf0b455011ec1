"""Every version of every object under a ledger's prefix: what the writer and the verifier both read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class KeyVersions:
    """
    The versions of one key, oldest first, and its delete markers.

    :param key: the S3 key.
    :param versions: its versions (``VersionId``, ``LastModified``...), oldest first.
    :param delete_markers: how many delete markers it has.
    """

    key: str
    versions: list[dict[str, Any]] = field(default_factory=list)
    delete_markers: int = 0

    @property
    def first(self) -> dict[str, Any] | None:
        """The version written first: the record (any later one is an overwrite)."""
        return self.versions[0] if self.versions else None


def list_key_versions(s3: Any, bucket: str, prefix: str) -> dict[str, KeyVersions]:
    """
    Every key under ``<prefix>/`` with its versions; in a bucket without versioning each key has one
    (version id ``null``).

    :param s3: a boto3 S3 client.
    :param bucket: the ledger's bucket.
    :param prefix: the ledger's prefix (no trailing slash).
    """
    keys: dict[str, KeyVersions] = {}
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix + "/")
    for page in pages:
        # S3 lists a key's versions newest first.
        for version in page.get("Versions", []):
            keys.setdefault(version["Key"], KeyVersions(version["Key"])).versions.insert(0, version)
        for marker in page.get("DeleteMarkers", []):
            keys.setdefault(marker["Key"], KeyVersions(marker["Key"])).delete_markers += 1
    return keys
