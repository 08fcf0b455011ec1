"""
Uploading deletion files to S3: all of them, encrypted with SSE-S3 and verified, or none.

Each file is a multipart upload, so a file is never held whole in memory. Personalize cannot read
objects encrypted with a customer managed KMS key, so every object is written with SSE-S3 (AES256),
whatever the bucket's default encryption. On any failure the open upload is aborted and every object
this run wrote is deleted: a job must never be given a partial set of files.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterable
from itertools import groupby
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final, Literal

from airflow_provider_personalize_deletion.transfers.parameters import PART_KEY_NAME, part_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

SSE_ALGORITHM: Final[Literal["AES256"]] = "AES256"
DEFAULT_PART_BYTES = 8 * 1024 * 1024
"""Size of the multipart upload parts; S3 requires at least 5 MiB for all but the last."""
MIN_PART_BYTES = 5 * 1024 * 1024
_DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes
_PART_NAME = re.compile(re.escape(PART_KEY_NAME.format(index=0)).replace("00000", r"\d{5}"))


class UploadVerificationError(RuntimeError):
    """An uploaded object does not have the size written or is not encrypted with SSE-S3."""


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
        Upload the files, verify each, and remove part files an earlier attempt left under the prefix.

        :param file_pieces: ``(file_index, piece)`` pairs, grouped by file, indexes from 0.
        :return: the keys written, in file order.
        :raises Exception: whatever failed, after every object of this run has been deleted.
        """
        written: list[str] = []
        try:
            for index, pieces in groupby(file_pieces, key=itemgetter(0)):
                key = part_key(self._key_prefix, index)
                written.append(key)
                size = self._upload_file(key, map(itemgetter(1), pieces))
                self._verify(key, size)
            self._delete(self._stale_part_keys(set(written)))
        except BaseException:
            self._delete_quietly(written)
            raise
        return written

    def _upload_file(self, key: str, pieces: Iterable[bytes]) -> int:
        upload_id = self._client.create_multipart_upload(
            Bucket=self._bucket, Key=key, ServerSideEncryption=SSE_ALGORITHM, ContentType="text/csv"
        )["UploadId"]
        try:
            parts: list[Any] = []
            size = 0
            buffer = bytearray()
            for piece in pieces:
                buffer += piece
                if len(buffer) >= self._part_bytes:
                    size += self._upload_part(key, upload_id, parts, buffer)
                    buffer = bytearray()
            size += self._upload_part(key, upload_id, parts, buffer)
            self._client.complete_multipart_upload(
                Bucket=self._bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            with contextlib.suppress(Exception):
                self._client.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)
            raise
        return size

    def _upload_part(self, key: str, upload_id: str, parts: list[Any], body: bytearray) -> int:
        number = len(parts) + 1
        response = self._client.upload_part(
            Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=bytes(body)
        )
        parts.append({"PartNumber": number, "ETag": response["ETag"]})
        return len(body)

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
