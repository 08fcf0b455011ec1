"""
Uploading deletion files to S3: all of them, encrypted with SSE-S3 and verified, or none.

Each file is a multipart upload, so a file is never held whole in memory. Its parts go up from a
small thread pool while the next part is made, and it is completed and verified there while the next
file starts: reading the sorted ids back and uploading them overlap, with at most
:data:`PARTS_IN_FLIGHT` parts in memory besides the one being made. Personalize cannot read
objects encrypted with a customer managed KMS key, so every object is written with SSE-S3 (AES256),
whatever the bucket's default encryption, and carries the metadata :data:`DELETION_FILE_METADATA`,
by which the pipeline's clean-up recognises its own files. On any failure the open upload is
aborted and every object this run wrote is deleted: a job must never be given a partial set of
files. A killed worker cannot abort its upload: the next upload to the same folder aborts the
incomplete uploads of part files it finds there (:func:`abort_stale_multipart_uploads`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from itertools import groupby
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final, Literal

from botocore.exceptions import ClientError

from airflow_provider_personalize_deletion.transfers.parameters import PART_NAME_PATTERN, part_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

log = logging.getLogger(__name__)

SSE_ALGORITHM: Final[Literal["AES256"]] = "AES256"
DELETION_FILE_METADATA: Final[Mapping[str, str]] = {"personalize-deletion-file": "v1"}
"""S3 user metadata of every deletion file (``x-amz-meta-personalize-deletion-file: v1``)."""
DEFAULT_PART_BYTES = 8 * 1024 * 1024
"""Size of the multipart upload parts; S3 requires at least 5 MiB for all but the last."""
MIN_PART_BYTES = 5 * 1024 * 1024
PARTS_IN_FLIGHT = 2
"""Parts uploading at once while the next one is made."""
_DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes
_PART_NAME = re.compile(PART_NAME_PATTERN)


class UploadVerificationError(RuntimeError):
    """An uploaded object lacks the size written, the SSE-S3 encryption or the deletion file metadata."""


def _raise_first_failure(futures: Iterable[concurrent.futures.Future[Any]]) -> None:
    """Raise the error of the first of ``futures`` that failed already, so a failed run stops early."""
    for future in futures:
        if future.done() and (error := future.exception()) is not None:
            raise error


def abort_stale_multipart_uploads(
    client: S3Client, bucket: str, prefix: str, older_than: datetime, key_pattern: re.Pattern[str]
) -> int:
    """
    Abort the incomplete multipart uploads of deletion files, which ``ListObjectsV2`` never shows.

    :param client: a boto3 S3 client.
    :param bucket: the bucket.
    :param prefix: list uploads whose key starts with it (S3's ``Prefix``, e.g. ``erasure/``).
    :param older_than: abort only uploads initiated before this moment (aware datetime).
    :param key_pattern: abort only uploads whose whole key matches it (``fullmatch``).
    :return: the number of uploads aborted.
    """
    aborted = 0
    pages = client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for upload in page.get("Uploads", []):
            if upload["Initiated"] < older_than and key_pattern.fullmatch(upload["Key"]):
                client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
                aborted += 1
    return aborted


class DeletionFileUploader:
    """
    Writes deletion files under ``s3://bucket/key_prefix/`` as ``part-00000.csv``, ``part-00001.csv``...

    :param client: a boto3 S3 client.
    :param bucket: the bucket.
    :param key_prefix: the folder of the files, without a trailing ``/``.
    :param part_bytes: size of the multipart upload parts.
    """

    def __init__(
        self, client: S3Client, bucket: str, key_prefix: str, part_bytes: int = DEFAULT_PART_BYTES
    ) -> None:
        if part_bytes < MIN_PART_BYTES:
            raise ValueError(f"part_bytes must be at least {MIN_PART_BYTES}")
        self._client = client
        self._bucket = bucket
        self._key_prefix = key_prefix
        self._part_bytes = part_bytes

    def upload(self, file_pieces: Iterable[tuple[int, bytes]]) -> list[str]:
        """
        Upload the files, verify each, and remove what an earlier attempt left under the prefix: its
        part files, and first its incomplete uploads of part files.

        :param file_pieces: ``(file_index, piece)`` pairs, grouped by file, indexes from 0.
        :return: the keys written, in file order.
        :raises Exception: whatever failed, after every object of this run has been deleted.
        """
        self._abort_stale_uploads()
        written: list[str] = []
        files: list[concurrent.futures.Future[None]] = []
        with concurrent.futures.ThreadPoolExecutor(PARTS_IN_FLIGHT + 1, "deletion-file-upload") as pool:
            slots = threading.BoundedSemaphore(PARTS_IN_FLIGHT)
            try:
                for index, pieces in groupby(file_pieces, key=itemgetter(0)):
                    _raise_first_failure(files)
                    key = part_key(self._key_prefix, index)
                    written.append(key)
                    files.append(self._upload_file(pool, slots, key, map(itemgetter(1), pieces)))
                for file in files:
                    file.result()
                self._delete(self._stale_part_keys(set(written)))
            except BaseException:
                concurrent.futures.wait(files)
                self._delete_quietly(written)
                raise
        return written

    def _abort_stale_uploads(self) -> None:
        folder = f"{self._key_prefix}/"
        part_key_pattern = re.compile(re.escape(folder) + PART_NAME_PATTERN)
        try:
            aborted = abort_stale_multipart_uploads(
                self._client, self._bucket, folder, datetime.now(timezone.utc), part_key_pattern
            )
        except ClientError as error:  # e.g. no s3:ListBucketMultipartUploads: not worth failing the export
            log.warning(
                "Could not look for incomplete uploads under s3://%s/%s (%s); S3 lifecycle rules can "
                "abort them",
                self._bucket,
                folder,
                error.response.get("Error", {}).get("Code", type(error).__name__),
            )
            return
        if aborted:
            log.info("Aborted %d incomplete upload(s) left under s3://%s/%s", aborted, self._bucket, folder)

    def _upload_file(
        self,
        pool: concurrent.futures.Executor,
        slots: threading.BoundedSemaphore,
        key: str,
        pieces: Iterable[bytes],
    ) -> concurrent.futures.Future[None]:
        """
        Start one file's multipart upload: its parts go up from the pool while the next is made.

        :return: the file's completion, which completes the upload when its parts are in and verifies it.
        """
        upload_id = self._client.create_multipart_upload(
            Bucket=self._bucket,
            Key=key,
            ServerSideEncryption=SSE_ALGORITHM,
            ContentType="text/csv",
            Metadata=dict(DELETION_FILE_METADATA),
        )["UploadId"]
        parts: list[concurrent.futures.Future[CompletedPartTypeDef]] = []
        try:
            size = 0
            for number, body in enumerate(self._part_bodies(pieces), start=1):
                _raise_first_failure(parts)
                slots.acquire()
                part = pool.submit(self._upload_part, key, upload_id, number, body)
                part.add_done_callback(lambda _: slots.release())
                parts.append(part)
                size += len(body)
        except BaseException:
            self._abort(key, upload_id, parts)
            raise
        return pool.submit(self._complete, key, upload_id, parts, size)

    def _complete(
        self,
        key: str,
        upload_id: str,
        parts: list[concurrent.futures.Future[CompletedPartTypeDef]],
        size: int,
    ) -> None:
        try:
            completed = [part.result() for part in parts]
            self._client.complete_multipart_upload(
                Bucket=self._bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": completed}
            )
        except BaseException:
            self._abort(key, upload_id, parts)
            raise
        self._verify(key, size)

    def _abort(
        self, key: str, upload_id: str, parts: list[concurrent.futures.Future[CompletedPartTypeDef]]
    ) -> None:
        concurrent.futures.wait(parts)  # a part that lands after the abort would stay
        with contextlib.suppress(Exception):
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)

    def _part_bodies(self, pieces: Iterable[bytes]) -> Iterator[bytes]:
        """The bodies of the parts: ``part_bytes`` or a little more each, then whatever is left."""
        buffer: list[bytes] = []
        buffered = 0
        for piece in pieces:
            buffer.append(piece)
            buffered += len(piece)
            if buffered >= self._part_bytes:
                yield b"".join(buffer)
                buffer, buffered = [], 0
        yield b"".join(buffer)

    def _upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> CompletedPartTypeDef:
        response = self._client.upload_part(
            Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        return {"PartNumber": number, "ETag": response["ETag"]}

    def _verify(self, key: str, size: int) -> None:
        head = self._client.head_object(Bucket=self._bucket, Key=key)
        if head["ContentLength"] != size:
            raise UploadVerificationError(
                f"s3://{self._bucket}/{key} holds {head['ContentLength']} bytes, {size} were written"
            )
        if head.get("ServerSideEncryption") != SSE_ALGORITHM:
            raise UploadVerificationError(
                f"s3://{self._bucket}/{key} is not encrypted with SSE-S3 ({SSE_ALGORITHM}), "
                "which Personalize needs"
            )
        if not DELETION_FILE_METADATA.items() <= head.get("Metadata", {}).items():
            raise UploadVerificationError(
                f"s3://{self._bucket}/{key} lacks the metadata it was written with "
                f"({dict(DELETION_FILE_METADATA)})"
            )

    def _stale_part_keys(self, written: set[str]) -> list[str]:
        folder = f"{self._key_prefix}/"
        stale: list[str] = []
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=folder)
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"]
                if key not in written and _PART_NAME.fullmatch(key[len(folder) :]):
                    stale.append(key)
        return stale

    def _delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            response = self._client.delete_objects(
                Bucket=self._bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
            )
            if response.get("Errors"):
                raise RuntimeError(f"S3 refused to delete {len(response['Errors'])} deletion file(s)")

    def _delete_quietly(self, keys: list[str]) -> None:
        try:
            self._delete(keys)
        except Exception:
            log.exception(
                "Could not delete the %d deletion file(s) of this failed run under s3://%s/%s/: "
                "delete them by hand, they hold personal data",
                len(keys),
                self._bucket,
                self._key_prefix,
            )
