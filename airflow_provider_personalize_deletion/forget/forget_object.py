"""
Forgetting one object: the users to forget taken out of it in place, or nothing done at all.

1. Read its state (HeadObject, tags) and stream it once, counting its matches. No match: it is never
   written. A dry run stops here too.
2. Stream it again (only the ETag read, ``IfMatch``), writing the kept bytes (gzip again when it was
   gzip) as a new object with the same attributes, only in place of the ETag read
   (:class:`~..scan.s3_writes.MultipartObject`: one PutObject or a multipart upload, whole or aborted).
   The stored bytes of the old object are spooled to a local temporary file as they stream (unlinked
   when created: a killed worker leaves none); the object changed meanwhile is not overwritten, and is
   found again on the next run.
3. Re-read the new object and check that it names no user to forget and holds the old record and user
   counts minus the removed ones. On a mismatch the old bytes are written back (only in place of the new
   ETag) and the object is reported unverified.
4. On a versioned bucket, the earlier versions that name a user to forget are deleted
   (:mod:`.versions`); one that cannot be deleted makes the object unverified.

Every failure ends in an :class:`~.result.ObjectResult` with a reason naming the object and the rule or
S3's error code, never a user id; only programming errors raise.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import IO, TYPE_CHECKING, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_personalize_deletion.forget.find import ObjectReader, Tally
from airflow_provider_personalize_deletion.forget.object_state import ObjectState, read_state
from airflow_provider_personalize_deletion.forget.result import ObjectResult, Outcome
from airflow_provider_personalize_deletion.forget.versions import EarlierVersions, forget_earlier_versions
from airflow_provider_personalize_deletion.scan.errors import ScanInputError
from airflow_provider_personalize_deletion.scan.s3_writes import (
    PART_BYTES,
    MultipartObject,
    ObjectChangedError,
    gzip_pieces,
)
from airflow_provider_personalize_deletion.scan.source import READ_BYTES, SCHEME, SourceObject

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from airflow_provider_personalize_deletion.scan.suppressed import SuppressedUsers

log = logging.getLogger(__name__)

MAX_PARTS = 10_000
"""S3's most parts of one multipart upload."""
PART_MARGIN = 1.25
"""How much larger than the object read its rewrite may be (gzip written again at another level)."""

CHANGED_CODES = frozenset({"PreconditionFailed", "412", "NoSuchKey", "404", "ConditionalRequestConflict"})
"""S3's answers to a read or write of an object that changed or went since it was read."""


T = TypeVar("T")


class _Unverified(Exception):
    """Ends the work on one object with a reason (never an id)."""


def forget_object(
    client: S3Client,
    bucket: str,
    key: str,
    file_format: str,
    users: SuppressedUsers,
    dry_run: bool = False,
    part_bytes: int = PART_BYTES,
    before_rewrite: Callable[[ObjectResult], None] | None = None,
    max_parts: int = MAX_PARTS,
) -> ObjectResult:
    """
    Take the users to forget out of one object.

    :param client: a boto3 S3 client.
    :param bucket: the object's bucket.
    :param key: its key.
    :param file_format: one of :data:`~.formats.FORMATS`.
    :param users: the users to forget.
    :param dry_run: count the matches and write nothing.
    :param part_bytes: above this size the object is written by a multipart upload of such parts; larger
        parts when the object would need more than ``max_parts`` of them (:func:`rewrite_part_bytes`).
    :param before_rewrite: called with what was read (outcome ``rewriting``: ETag, version, the counts
        to remove) just before the rewrite; what it raises stops the work before any write.
    :param max_parts: the most parts of a multipart upload (S3's limit; lower in tests).
    :return: the object's evidence.
    """
    location = f"{SCHEME}{bucket}/{key}"
    try:
        state = _reading(lambda: read_state(client, bucket, key))
        found = _count(client, state.item, file_format, users)
    except _Unverified as reason:
        return ObjectResult(location, Outcome.UNVERIFIED, reason=str(reason))
    read = ObjectResult(
        location,
        Outcome.NO_MATCH,
        version_before=state.item.version_id,
        etag_before=state.item.etag,
        records_before=found.records,
    )
    if not found.matches or dry_run:
        result = replace(read, outcome=Outcome.WOULD_FORGET) if found.matches else read
        return _with_earlier_versions(client, state, file_format, users, result, dry_run)
    if before_rewrite is not None:
        before_rewrite(
            replace(
                read,
                outcome=Outcome.REWRITING,
                records_removed=found.removed_records,
                users_removed=found.matches,
                reason="being rewritten: the try stopped before its result was recorded",
            )
        )
    try:
        part_bytes = rewrite_part_bytes(state.item.size, part_bytes, max_parts)
        written = _rewrite_verified(client, state, file_format, users, found, part_bytes)
    except _Unverified as reason:
        return replace(read, outcome=Outcome.UNVERIFIED, reason=str(reason))
    log.info(
        "Rewrote %s without %d record(s), %d user mention(s); verified",
        location,
        found.removed_records,
        found.matches,
    )
    result = replace(
        read,
        outcome=Outcome.FORGOTTEN,
        version_after=written.version_id,
        etag_after=written.etag,
        records_removed=found.removed_records,
        users_removed=found.matches,
    )
    return _with_earlier_versions(client, state, file_format, users, result, dry_run)


def rewrite_part_bytes(size: int, part_bytes: int = PART_BYTES, max_parts: int = MAX_PARTS) -> int:
    """
    The part size of an object's rewrite: ``part_bytes``, or larger (whole MiB) when the rewrite of an
    object of ``size`` stored bytes (with :data:`PART_MARGIN`) would take more than ``max_parts`` parts.
    Beyond about 78 GiB with 8 MiB parts; a part is held in memory.

    :param size: the object's stored size.
    :param part_bytes: the least part size.
    :param max_parts: the most parts of one upload.
    """
    mib = 1024 * 1024
    needed = math.ceil(size * PART_MARGIN / max_parts)
    return max(part_bytes, math.ceil(needed / mib) * mib)


def _reading(read: Callable[[], T], what: str = "read") -> T:
    """Run a read, turning S3's refusals and a broken format into a reason."""
    try:
        return read()
    except ClientError as error:
        raise _Unverified(f"could not be {what} (S3 error {_code(error)})") from None
    except BotoCoreError as error:
        raise _Unverified(f"could not be {what} ({type(error).__name__})") from None
    except ScanInputError as error:
        raise _Unverified(str(error)) from None


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "unknown"))


def _count(client: S3Client, item: SourceObject, file_format: str, users: SuppressedUsers) -> Tally:
    def read() -> Tally:
        reader = ObjectReader(client, item, file_format, users)
        for _ in reader:
            pass
        return reader.tally()

    return _reading(read)


def _rewrite_verified(
    client: S3Client,
    state: ObjectState,
    file_format: str,
    users: SuppressedUsers,
    found: Tally,
    part_bytes: int,
) -> MultipartObject:
    """Write the object anew without the matched users, re-read it, and restore it on a mismatch."""
    item = state.item
    with tempfile.TemporaryFile() as original:
        written = MultipartObject(client, item.bucket, item.key, part_bytes, state.attributes, item.etag)
        try:
            with written:
                reader = ObjectReader(client, item, file_format, users, raw_copy=original)
                for piece in gzip_pieces(reader.kept_bytes()) if reader.gzip else reader.kept_bytes():
                    written.write(piece)
                if reader.tally() != found:
                    raise _Unverified("read differently twice: it was not rewritten")
        except ObjectChangedError:
            raise _Unverified(
                "changed since it was read: not rewritten, found again on the next run"
            ) from None
        except ClientError as error:
            code = _code(error)
            if code in CHANGED_CODES:
                raise _Unverified(
                    f"changed since it was read (S3 error {code}): not rewritten, found again on the next run"
                ) from None
            raise _Unverified(f"could not be rewritten (S3 error {code}): it is as it was") from None
        except (BotoCoreError, ScanInputError) as error:
            raise _Unverified(f"could not be rewritten ({type(error).__name__}): it is as it was") from None
        new = SourceObject(item.bucket, item.key, 0, written.etag, written.version_id)
        try:
            after = _count(client, new, file_format, users)
        except _Unverified as reason:
            raise _Unverified(f"rewritten but {reason} again: not verified") from None
        if after != found.expected_after():
            mismatch = (
                "rewritten, but the re-read did not hold the expected records without the matched users"
            )
            _reading(
                lambda: _restore(client, state, new, original), f"restored after a failed check ({mismatch})"
            )
            raise _Unverified(f"{mismatch}: the old bytes were written back")
    return written


def _restore(client: S3Client, state: ObjectState, new: SourceObject, original: IO[bytes]) -> None:
    """Write the old bytes back in place of the failed rewrite, and delete the rewrite's version."""
    original.seek(0)
    with MultipartObject(
        client, new.bucket, new.key, attributes=state.attributes, if_match=new.etag
    ) as restored:
        for chunk in _chunks(original):
            restored.write(chunk)
    if new.version_id:
        client.delete_object(Bucket=new.bucket, Key=new.key, VersionId=new.version_id)


def _chunks(file: IO[bytes]) -> Iterator[bytes]:
    while chunk := file.read(READ_BYTES):
        yield chunk


def _with_earlier_versions(
    client: S3Client,
    state: ObjectState,
    file_format: str,
    users: SuppressedUsers,
    result: ObjectResult,
    dry_run: bool,
) -> ObjectResult:
    """The result, with the earlier versions forgotten too on a versioned bucket."""
    if not state.versioned:
        return result
    item = state.item
    try:
        earlier = forget_earlier_versions(client, item.bucket, item.key, file_format, users, dry_run)
    except (ClientError, BotoCoreError):
        earlier = EarlierVersions(0, ("unlisted",))
    outcome, reason = result.outcome, result.reason
    if earlier.kept and not dry_run:
        outcome = Outcome.UNVERIFIED
        reason = (
            f"{len(earlier.kept)} earlier version(s) still name a user to forget or could not be read "
            "(Object Lock retention, legal hold, MFA delete, access): not forgotten"
        )
    return replace(
        result,
        outcome=outcome,
        reason=reason,
        old_versions_deleted=earlier.deleted,
        old_versions_kept=earlier.kept,
    )
