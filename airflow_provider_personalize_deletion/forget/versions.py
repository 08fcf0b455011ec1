"""
The earlier versions of an object on a versioned bucket: each is read, and deleted when it names a user
to forget. A version S3 refuses to delete (Object Lock retention, legal hold, MFA delete) is reported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_personalize_deletion.forget.find import ObjectReader
from airflow_provider_personalize_deletion.scan.errors import ScanInputError
from airflow_provider_personalize_deletion.scan.source import SourceObject

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from airflow_provider_personalize_deletion.scan.suppressed import SuppressedUsers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EarlierVersions:
    """
    :param deleted: versions deleted, as they named a user to forget.
    :param kept: versions that name one (or could not be read) and are still there.
    """

    deleted: int
    kept: tuple[str, ...]


def forget_earlier_versions(
    client: S3Client,
    bucket: str,
    key: str,
    file_format: str,
    users: SuppressedUsers,
    dry_run: bool,
    declared: bool = False,
) -> EarlierVersions:
    """
    Delete the noncurrent versions of one key that name a user to forget.

    :param client: a boto3 S3 client.
    :param bucket: the bucket.
    :param key: the key (exactly: other keys under it as a prefix are not touched).
    :param file_format: one of :data:`~.formats.FORMATS`.
    :param users: the users to forget.
    :param dry_run: count only: every version naming a user is reported as kept, none deleted.
    :param declared: the key lies in a declared location (:class:`~.find.ObjectReader`'s ``declared``).
    """
    deleted = 0
    kept: list[str] = []
    pages = client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key)
    for page in pages:
        for version in page.get("Versions", []):
            if version["Key"] != key or version["IsLatest"]:
                continue
            item = SourceObject(bucket, key, version["Size"], version["ETag"], version["VersionId"])
            try:
                reader = ObjectReader(client, item, file_format, users, declared=declared)
                for _ in reader:
                    pass
                if not reader.tally().matches:
                    continue
                if not dry_run:
                    client.delete_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
                    deleted += 1
                    continue
            except (ClientError, BotoCoreError, ScanInputError) as error:
                log.warning("An earlier version of s3://%s/%s is kept: %s", bucket, key, type(error).__name__)
            kept.append(version["VersionId"])
    return EarlierVersions(deleted, tuple(kept))
