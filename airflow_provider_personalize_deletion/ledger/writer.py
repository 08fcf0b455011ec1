"""
Append records to a ledger: one S3 object per record, created only if its key is free, locked.

Each record is written with ``IfNoneMatch: '*'``: S3 creates it only when no object has its key, so
two writers that read the same head cannot both write the next sequence number. The loser's write
is refused (412, or 409 on a concurrent conditional write), and it reads the new head and tries
again: the chain never forks silently. Each record gets a retention in Object Lock's compliance
mode, during which no one (the pipeline and the bucket's owner included) can delete or overwrite
that version or shorten its retention.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from botocore.exceptions import ClientError

from airflow_provider_personalize_deletion.ledger.listing import list_key_versions
from airflow_provider_personalize_deletion.ledger.record import (
    GENESIS,
    MAX_RECORD_BYTES,
    Entry,
    canonical,
    key_sequence,
    new_record,
    record_key,
    sha256,
)

log = logging.getLogger(__name__)

#: The range of ``retention_days`` (S3 takes up to 100 years).
MIN_RETENTION_DAYS, MAX_RETENTION_DAYS = 1, 36_500
#: The default of ``[personalize_deletion] ledger_retention_days`` (7 years), and of the verifier's.
DEFAULT_RETENTION_DAYS = 2557
#: The setting that lets a ledger live in a bucket without Object Lock.
ALLOW_UNLOCKED_SETTING = "[personalize_deletion] ledger_allow_unlocked"
#: The error codes of a conditional create that lost to another writer.
_LOST_RACE = {"PreconditionFailed", "ConditionalRequestConflict"}


class LedgerError(RuntimeError):
    """The ledger could not be written; nothing was appended."""


class LedgerNotLockedError(LedgerError):
    """The ledger's bucket has no Object Lock, and the setting that allows it is off."""


@dataclass(frozen=True)
class Appended:
    """
    Where a record was written.

    :param sequence: its position.
    :param sha256: its hash (the next record's ``previous_sha256``).
    :param key: its S3 key.
    :param version_id: its S3 version (None in a bucket without versioning).
    """

    sequence: int
    sha256: str
    key: str
    version_id: str | None


@dataclass(frozen=True)
class Head:
    """The last record: its sequence number and hash."""

    sequence: int
    sha256: str


class LedgerWriter:
    """
    Appends entries to the ledger at ``s3://<bucket>/<prefix>/``.

    :param s3: a boto3 S3 client allowed ``s3:PutObject``, ``s3:PutObjectRetention``, ``s3:GetObject``,
        ``s3:ListBucketVersions`` and ``s3:GetBucketObjectLockConfiguration`` there.
    :param bucket: the ledger's bucket, created with Object Lock.
    :param prefix: the ledger's prefix, also its name in every record.
    :param retention_days: each record's retention in compliance mode.
    :param allow_unlocked: write to a bucket without Object Lock; every record then says
        ``not tamper-evident``.
    :param max_attempts: how many heads to try when other writers keep winning.
    :param max_record_bytes: a larger object at the head is not read (not a record; appending is refused).
    """

    def __init__(
        self,
        s3: Any,
        bucket: str,
        prefix: str,
        retention_days: int,
        *,
        allow_unlocked: bool = False,
        max_attempts: int = 10,
        max_record_bytes: int = MAX_RECORD_BYTES,
    ) -> None:
        if not bucket:
            raise ValueError("Invalid parameter 'bucket': must name the ledger's bucket")
        prefix = prefix.strip("/")
        if not prefix:
            raise ValueError("Invalid parameter 'prefix': must not be empty")
        if not MIN_RETENTION_DAYS <= retention_days <= MAX_RETENTION_DAYS:
            raise ValueError(
                f"Invalid parameter 'retention_days': must be {MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS}"
            )
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self.retention_days = retention_days
        self.allow_unlocked = allow_unlocked
        self.max_attempts = max_attempts
        self.max_record_bytes = max_record_bytes
        self._locked: bool | None = None

    @property
    def locked(self) -> bool:
        """
        Whether the bucket has Object Lock (asked once).

        :raises LedgerNotLockedError: it has none and ``allow_unlocked`` is off.
        """
        if self._locked is None:
            self._locked = bucket_has_object_lock(self.s3, self.bucket)
            if not self._locked and not self.allow_unlocked:
                raise LedgerNotLockedError(
                    f"The ledger's bucket {self.bucket} has no Object Lock: its records could be changed "
                    "or deleted. Create the bucket with Object Lock enabled, or set "
                    f"{ALLOW_UNLOCKED_SETTING} to write records marked not tamper-evident."
                )
            if not self._locked:
                log.warning("The ledger's bucket %s has no Object Lock: not tamper-evident", self.bucket)
        return self._locked

    def head(self) -> Head | None:
        """The last record (the highest sequence number of any version under the prefix); None if empty."""
        numbered = {
            sequence: versions
            for key, versions in list_key_versions(self.s3, self.bucket, self.prefix).items()
            if (sequence := key_sequence(self.prefix, key)) is not None and versions.first
        }
        if not numbered:
            return None
        sequence = max(numbered)
        first = numbered[sequence].first
        if int(first.get("Size", 0)) > self.max_record_bytes:  # type: ignore[union-attr]
            raise LedgerError(
                f"The ledger's last object {numbered[sequence].key} is larger than any record "
                f"({self.max_record_bytes} bytes): not read, nothing appended; personalize-erasure-verify "
                "reports it"
            )
        body = self.s3.get_object(
            Bucket=self.bucket,
            Key=numbered[sequence].key,
            VersionId=first["VersionId"],  # type: ignore[index]
        )["Body"].read()
        return Head(sequence, sha256(body))

    def append(self, entry: Entry, now: datetime) -> Appended:
        """
        Write ``entry`` as the record after the head; on a lost race, again after the new head.

        :param entry: what to record.
        :param now: the current time (aware).
        :raises LedgerNotLockedError: the bucket has no Object Lock and that is not allowed.
        :raises LedgerError: other writers won ``max_attempts`` times in a row, or the last object is
            larger than any record.
        """
        locked = self.locked
        appended_at = now.astimezone(timezone.utc)
        # S3 keeps the retention date to the second: rounded up, so the object's is never earlier.
        until = appended_at + timedelta(days=self.retention_days, seconds=1)
        retain_until = until.replace(microsecond=0) if locked else None
        for _ in range(self.max_attempts):
            head = self.head()
            sequence = 0 if head is None else head.sequence + 1
            record = new_record(
                self.prefix,
                sequence,
                GENESIS if head is None else head.sha256,
                appended_at.isoformat(),
                retain_until.isoformat() if retain_until else None,
                entry,
            )
            body = canonical(record)
            key = record_key(self.prefix, sequence)
            lock = (
                {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": retain_until}
                if retain_until
                else {}
            )
            try:
                response = self.s3.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=body,
                    ContentType="application/json",
                    IfNoneMatch="*",
                    ChecksumAlgorithm="SHA256",
                    **lock,
                )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in _LOST_RACE:
                    log.info("Ledger record %d was written by another writer: reading the new head", sequence)
                    continue
                raise
            return Appended(sequence, sha256(body), key, response.get("VersionId"))
        raise LedgerError(
            f"Another writer appended to the ledger s3://{self.bucket}/{self.prefix}/ before each of "
            f"{self.max_attempts} attempts; nothing was appended"
        )


def bucket_has_object_lock(s3: Any, bucket: str) -> bool:
    """
    Whether Object Lock is enabled on ``bucket``.

    :param s3: a boto3 S3 client allowed ``s3:GetBucketObjectLockConfiguration``.
    :param bucket: the bucket.
    """
    try:
        config = s3.get_object_lock_configuration(Bucket=bucket)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ObjectLockConfigurationNotFoundError":
            return False
        raise
    return config.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
