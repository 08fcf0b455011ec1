"""
Which S3 objects a Personalize job reads from a location, and their bytes, streamed and decompressed.

The folder rule, defined here once for every reader (the import guard in both modes, its filtered copy,
the verification's export files). Personalize's ``dataLocation`` names one file or one folder (AWS:
"with a folder, every file in it and in its sub-folders is used"):

- a location ending with ``/`` (or a bucket alone) is a folder: every object whose key starts with the
  folder's key, sub-folders and their sub-folders included, never a look-alike (``data/`` does not read
  ``data_old/``); zero-byte folder markers (``data/sub/``) are not files and are skipped; a non-empty
  object whose key ends with ``/`` is refused (Personalize's reading of it is undocumented). An empty
  folder is an error, never a pass of nothing;
- a location without the ``/`` is exactly that one object, which must exist: a folder named without
  its ``/`` is an error saying so, and look-alikes (``data.csv``, ``data_old/``) are never read.

A source may require every object to be encrypted at rest (``require_encryption``, for files of the
pipeline's own such as exports): an object S3 reports without ``ServerSideEncryption`` is refused
before a byte of it is read.

Objects are streamed (boto3's ``StreamingBody``, :data:`READ_BYTES` at a time); gzip is recognised by
its magic bytes, not the key's suffix, and decompressed as it streams, member after member.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Final

from airflow_provider_personalize_deletion.scan.errors import (
    ScanInputError,
    SourceLocationError,
    UnencryptedObjectError,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

READ_BYTES: Final = 1024 * 1024
"""Bytes read from S3 at a time."""
INFLATE_BYTES: Final = 4 * 1024 * 1024
"""Most bytes decompressed from one read at a time, so that a small compressed chunk cannot blow up."""
GZIP_MAGIC: Final = b"\x1f\x8b"
SCHEME: Final = "s3://"


@dataclass(frozen=True)
class SourceObject:
    """
    One object a job reads.

    :param bucket: its bucket.
    :param key: its key.
    :param size: its size in bytes, as listed.
    :param etag: its ETag, as listed: reads and copies are made on this version only.
    :param version_id: its version on a versioned bucket, to read that version; None for the current one.
    """

    bucket: str
    key: str
    size: int
    etag: str
    version_id: str | None = None

    @property
    def location(self) -> str:
        """``s3://bucket/key``."""
        return f"{SCHEME}{self.bucket}/{self.key}"


def split_location(location: str) -> tuple[str, str]:
    """
    :param location: ``s3://bucket/key-or-prefix``.
    :return: the bucket and the key or prefix (possibly empty).
    :raises SourceLocationError: not an ``s3://`` location with a bucket.
    """
    if not location.startswith(SCHEME) or not location[len(SCHEME) :].split("/", 1)[0]:
        raise SourceLocationError(
            f"{location!r} is not an S3 location: write s3://bucket/key or s3://bucket/folder/ (the "
            "http(s) forms Personalize also accepts are not read here)"
        )
    bucket, _, key = location[len(SCHEME) :].partition("/")
    return bucket, key


class S3Source:
    """
    The objects a location stands for, by the folder rule of this module.

    :param client: a boto3 S3 client.
    :param location: the location, as given to Personalize.
    :param require_encryption: refuse an object S3 reports as not encrypted at rest.
    :raises SourceLocationError: not an ``s3://`` location (before any call).
    """

    def __init__(self, client: S3Client, location: str, require_encryption: bool = False) -> None:
        self.client = client
        self.location = location
        self.bucket, self.key_prefix = split_location(location)
        self.require_encryption = require_encryption

    @property
    def is_folder(self) -> bool:
        """Whether the location names a folder (else one file)."""
        return self.key_prefix.endswith("/") or not self.key_prefix

    def relative_key(self, key: str) -> str:
        """
        A key's path below the location: its name for a file, its path under the folder (sub-folders
        kept), so that a copy of every object under another folder is read as the same set.

        :param key: the key of one of the source's objects.
        """
        if not self.is_folder:
            return key.rsplit("/", 1)[-1]
        return key[len(self.key_prefix) :]

    def objects(self) -> list[SourceObject]:
        """
        List the objects read, in key order (paginated).

        :raises SourceLocationError: a file location with no object, a folder with no file, or a
            non-empty object whose key ends with ``/``.
        """
        return self._folder_objects() if self.is_folder else [self._file_object()]

    def _file_object(self) -> SourceObject:
        # The key itself sorts first among the keys it is a prefix of: one listing of one key answers.
        listed = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.key_prefix, MaxKeys=1)
        for item in listed.get("Contents", []):
            if item["Key"] == self.key_prefix:
                return SourceObject(self.bucket, item["Key"], item["Size"], item["ETag"])
        raise SourceLocationError(
            f"{self.location} names no object: a folder must end with '/' ({self.location}/), as "
            "Personalize requires"
        )

    def _folder_objects(self) -> list[SourceObject]:
        listed: list[SourceObject] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.key_prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"]
                if not key.endswith("/"):
                    listed.append(SourceObject(self.bucket, key, item["Size"], item["ETag"]))
                elif item["Size"]:
                    raise SourceLocationError(
                        f"{SCHEME}{self.bucket}/{key} ends with '/' but holds {item['Size']} bytes: a "
                        "folder marker must be empty (how Personalize reads such an object is undocumented)"
                    )
        if not listed:
            raise SourceLocationError(
                f"{self.location} holds no file to read, in it or its sub-folders (folder markers aside)"
            )
        return listed


def stream_object(
    client: S3Client,
    source: SourceObject,
    raw_copy: BinaryIO | None = None,
    require_encryption: bool = False,
) -> tuple[bool, Iterator[bytes]]:
    """
    Open one object and stream its bytes, decompressed when it is gzip.

    :param client: a boto3 S3 client.
    :param source: the object; the read fails if it changed since it was listed (``IfMatch``), and
        reads the version named when it names one.
    :param raw_copy: a file that receives the object's bytes as stored (compressed), as they stream.
    :param require_encryption: refuse the object if S3 reports no server-side encryption for it.
    :return: whether it is gzip, and its (decompressed) bytes in chunks.
    :raises UnencryptedObjectError: ``require_encryption``, and the object is not encrypted at rest.
    """
    version: dict[str, Any] = {"VersionId": source.version_id} if source.version_id else {}
    response = client.get_object(Bucket=source.bucket, Key=source.key, IfMatch=source.etag, **version)
    body = response["Body"]
    if require_encryption and not response.get("ServerSideEncryption"):
        body.close()
        raise UnencryptedObjectError(
            f"{source.location} is not encrypted at rest (S3 reports no ServerSideEncryption): it was not "
            "read. Turn on the bucket's default encryption, or set a KMS key for the files"
        )
    raw = body.iter_chunks(READ_BYTES)
    if raw_copy is not None:
        raw = _copied(raw, raw_copy)
    first = b""
    for chunk in raw:
        first += chunk
        if len(first) >= len(GZIP_MAGIC):
            break
    chunks = _chain(first, raw)
    if first.startswith(GZIP_MAGIC):
        return True, _gunzip(chunks, source.location)
    return False, chunks


def _copied(chunks: Iterator[bytes], raw_copy: BinaryIO) -> Iterator[bytes]:
    for chunk in chunks:
        raw_copy.write(chunk)
        yield chunk


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _gunzip(chunks: Iterator[bytes], name: str) -> Iterator[bytes]:
    """Decompress gzip, any number of members one after the other, at most :data:`INFLATE_BYTES` at a time."""
    inflater = zlib.decompressobj(wbits=31)
    in_member = False
    for chunk in chunks:
        pending, full = chunk, False
        while pending or full:  # full: the output filled up, zlib may hold more of it
            in_member = True
            try:
                out = inflater.decompress(pending, INFLATE_BYTES)
            except zlib.error as error:
                raise ScanInputError(f"{name} starts as gzip but is not valid gzip ({error})") from None
            if out:
                yield out
            full = len(out) == INFLATE_BYTES
            if inflater.eof:
                pending, in_member, full = inflater.unused_data, False, False
                inflater = zlib.decompressobj(wbits=31)
            else:
                pending = inflater.unconsumed_tail
    if in_member:
        raise ScanInputError(f"{name} is truncated: its gzip stream ends before its end marker")
