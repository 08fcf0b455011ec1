"""
How objects are written: whole or absent (one PutObject, or a multipart upload completed or aborted),
optionally only in place of the version read (``IfMatch``), gzip again when read from gzip; and a
server-side copy, never a rewrite, of an object that needs no change.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

    from airflow_provider_personalize_deletion.scan.source import SourceObject

SSE_ALGORITHM: Final[Literal["AES256"]] = "AES256"
"""Personalize cannot read objects under a customer managed KMS key: every object written uses SSE-S3."""
PART_BYTES: Final = 8 * 1024 * 1024
MAX_COPY_OBJECT_BYTES: Final = 5 * 1024**3
"""The largest object CopyObject takes; a larger one is copied with UploadPartCopy."""
COPY_PART_BYTES: Final = 512 * 1024 * 1024
GZIP_LEVEL: Final = 6
"""gzip's default level, for objects rewritten from gzip."""


class ObjectChangedError(Exception):
    """The object a conditional write was to replace is no longer the version read (its ETag differs)."""


class MultipartObject:
    """
    A new object written piece by piece: completed when the ``with`` block ends normally, aborted when it
    raises, so that no partial object is ever visible and no upload is left open.

    Up to one part's worth, the object is written by one PutObject; beyond, by a multipart upload (created
    with the first part). With ``if_match``, the write replaces only the object of that ETag:
    PutObject and CompleteMultipartUpload carry ``IfMatch``, which S3 checks. moto's server checks it on
    PutObject but ignores it on CompleteMultipartUpload, so the ETag is also compared by a HeadObject
    immediately before completing: on moto a writer in the milliseconds between the two is not caught.

    :param client: a boto3 S3 client.
    :param bucket: the bucket.
    :param key: the key.
    :param part_bytes: size of the parts (at least 5 MiB, S3's least for all but the last).
    :param attributes: the object's arguments of PutObject / CreateMultipartUpload (content type,
        metadata, tagging, storage class, encryption); SSE-S3 (:data:`SSE_ALGORITHM`) by default.
    :param if_match: the ETag of the object this write may replace; None to write without a condition.
    """

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        key: str,
        part_bytes: int = PART_BYTES,
        attributes: Mapping[str, Any] | None = None,
        if_match: str | None = None,
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._part_bytes = part_bytes
        default = {"ServerSideEncryption": SSE_ALGORITHM}
        self._attributes = dict(default if attributes is None else attributes)
        self._condition: dict[str, Any] = {"IfMatch": if_match} if if_match else {}
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._parts: list[CompletedPartTypeDef] = []
        self._upload_id = ""
        self.etag = ""
        """The written object's ETag, once written."""
        self.version_id: str | None = None
        """The written object's version, once written on a versioned bucket."""

    def __enter__(self) -> MultipartObject:
        return self

    def _upload(self) -> str:
        if not self._upload_id:
            self._upload_id = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=self._key, **self._attributes
            )["UploadId"]
        return self._upload_id

    def write(self, piece: bytes) -> None:
        """:param piece: the next bytes of the object."""
        self._buffer.append(piece)
        self._buffered += len(piece)
        if self._buffered >= self._part_bytes:
            self._upload_part()

    def _upload_part(self) -> None:
        number = len(self._parts) + 1
        body = b"".join(self._buffer)
        self._buffer, self._buffered = [], 0
        response = self._client.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload(), PartNumber=number, Body=body
        )
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})

    def copy_part(self, item: SourceObject, first: int, last: int) -> None:
        """
        Add a part copied server-side from a byte range of another object (UploadPartCopy).

        :param item: the object copied from; only the version listed (its ETag).
        :param first: the range's first byte.
        :param last: the range's last byte (included).
        """
        number = len(self._parts) + 1
        response = self._client.upload_part_copy(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload(),
            PartNumber=number,
            CopySource={"Bucket": item.bucket, "Key": item.key},
            CopySourceIfMatch=item.etag,
            CopySourceRange=f"bytes={first}-{last}",
        )
        self._parts.append({"PartNumber": number, "ETag": response["CopyPartResult"]["ETag"]})

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            try:
                self._finish()
                return
            except BaseException:
                self._abort()
                raise
        self._abort()

    def _finish(self) -> None:
        if not self._parts:
            response: Any = self._client.put_object(
                Bucket=self._bucket,
                Key=self._key,
                Body=b"".join(self._buffer),
                **self._attributes,
                **self._condition,
            )
        else:
            if self._buffered:
                self._upload_part()
            if self._condition:
                self._check_unchanged(self._condition["IfMatch"])
            response = self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
                **self._condition,
            )
        self.etag = response["ETag"]
        self.version_id = response.get("VersionId")

    def _check_unchanged(self, etag: str) -> None:
        current = self._client.head_object(Bucket=self._bucket, Key=self._key)["ETag"]
        if current != etag:
            raise ObjectChangedError(f"s3://{self._bucket}/{self._key} changed since it was read")

    def _abort(self) -> None:
        if self._upload_id:
            with contextlib.suppress(Exception):
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
                )


def gzip_pieces(pieces: Iterable[bytes], level: int = GZIP_LEVEL) -> Iterator[bytes]:
    """
    Compress a stream of pieces as one gzip member.

    :param pieces: the bytes to compress, in pieces.
    :param level: the zlib level (gzip's default 6).
    """
    compressor = zlib.compressobj(level, wbits=31)
    for piece in pieces:
        if out := compressor.compress(piece):
            yield out
    yield compressor.flush()


def copy_unchanged(
    client: S3Client,
    item: SourceObject,
    bucket: str,
    key: str,
    max_copy_object_bytes: int = MAX_COPY_OBJECT_BYTES,
    copy_part_bytes: int = COPY_PART_BYTES,
) -> None:
    """
    Copy an object server-side, only the version listed (its ETag); S3 never sends its bytes here.

    :param client: a boto3 S3 client.
    :param item: the object to copy.
    :param bucket: the copy's bucket.
    :param key: the copy's key.
    :param max_copy_object_bytes: above this size, copy by parts (UploadPartCopy).
    :param copy_part_bytes: the size of those parts.
    """
    source = {"Bucket": item.bucket, "Key": item.key}
    if item.size <= max_copy_object_bytes:
        client.copy_object(
            Bucket=bucket,
            Key=key,
            CopySource=source,  # type: ignore[arg-type]
            CopySourceIfMatch=item.etag,
            ServerSideEncryption=SSE_ALGORITHM,
        )
        return
    with MultipartObject(client, bucket, key) as upload:
        for first in range(0, item.size, copy_part_bytes):
            upload.copy_part(item, first, min(first + copy_part_bytes, item.size) - 1)
