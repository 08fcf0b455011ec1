"""
Which S3 objects a Personalize job reads from a location, and their bytes, streamed and decompressed.

Personalize's ``dataLocation`` is a file (``s3://bucket/folder/file.csv``) or a folder, written with
a trailing ``/`` (``s3://bucket/folder/``). Its documentation says that a data deletion job reads the
folder's sub-folders too, and sets import jobs apart; this module reads an import source
(:meth:`S3Source.import_source`) the strict way the documentation writes it:

- a location ending with ``/`` is a folder: the objects directly in it, never those of its sub-folders,
  which are counted in :attr:`S3Source.skipped_subfolders` (what Personalize would not import is not
  checked, nor copied into a filtered copy);
- a location without the ``/`` is one file: exactly that key. It must exist: a folder named without
  its ``/`` is an error, never a silent scan of nothing, and look-alikes (``data`` vs ``data_old/``,
  ``data.csv.bak``) are never read.

Export job outputs and batch inputs are read by prefix (:meth:`S3Source.prefix`): every object whose
key starts with the string given, sub-folders and look-alikes included, as Personalize reads them.

Objects are streamed (boto3's ``StreamingBody``, :data:`READ_BYTES` at a time); gzip is recognised by
its magic bytes, not the key's suffix, and decompressed as it streams, member after member.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Final

from airflow_provider_personalize_deletion.scan.errors import ScanInputError, SourceLocationError

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
    The objects a location stands for. Build with :meth:`import_source` or :meth:`prefix`.

    :param client: a boto3 S3 client.
    :param location: the location, as given to Personalize.
    :param recursive: read every object whose key starts with the location (True), or the import rules.
    """

    def __init__(self, client: S3Client, location: str, recursive: bool) -> None:
        self.client = client
        self.location = location
        self.bucket, self.key_prefix = split_location(location)
        self.recursive = recursive
        self.skipped_subfolders = 0
        """Sub-folders of a folder source, which an import does not read (known once listed)."""

    @classmethod
    def import_source(cls, client: S3Client, location: str) -> S3Source:
        """The source of a dataset import job: one file, or the files directly in a folder."""
        return cls(client, location, recursive=False)

    @classmethod
    def prefix(cls, client: S3Client, location: str) -> S3Source:
        """Every object whose key starts with the location's key (export outputs, batch inputs)."""
        return cls(client, location, recursive=True)

    @property
    def is_folder(self) -> bool:
        """Whether the location names a folder or a prefix (else one file)."""
        return self.recursive or self.key_prefix.endswith("/") or not self.key_prefix

    def relative_key(self, key: str) -> str:
        """
        A key's path below the location: its name for a file, its path under the folder or prefix.

        :param key: the key of one of the source's objects.
        """
        if not self.is_folder:
            return key.rsplit("/", 1)[-1]
        return key[len(self.key_prefix) :].lstrip("/") or key.rsplit("/", 1)[-1]

    def objects(self) -> list[SourceObject]:
        """
        List the objects read, in key order (paginated).

        :raises SourceLocationError: a file location with no object, or a source with no file.
        """
        listed: list[SourceObject] = []
        subfolders: set[str] = set()
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.key_prefix}
        if not self.recursive and self.is_folder:
            arguments["Delimiter"] = "/"
        for page in self.client.get_paginator("list_objects_v2").paginate(**arguments):
            subfolders.update(common["Prefix"] for common in page.get("CommonPrefixes", []))
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.endswith("/") or (not self.is_folder and key != self.key_prefix):
                    continue  # folder markers; look-alikes of a file location
                listed.append(SourceObject(self.bucket, key, item["Size"], item["ETag"]))
        self.skipped_subfolders = len(subfolders)
        if not listed:
            if not self.is_folder:
                raise SourceLocationError(
                    f"{self.location} names no object: a folder must end with '/' "
                    f"({self.location}/), as Personalize requires"
                )
            raise SourceLocationError(f"{self.location} holds no file to read")
        return listed


def stream_object(
    client: S3Client, source: SourceObject, raw_copy: BinaryIO | None = None
) -> tuple[bool, Iterator[bytes]]:
    """
    Open one object and stream its bytes, decompressed when it is gzip.

    :param client: a boto3 S3 client.
    :param source: the object; the read fails if it changed since it was listed (``IfMatch``), and
        reads the version named when it names one.
    :param raw_copy: a file that receives the object's bytes as stored (compressed), as they stream.
    :return: whether it is gzip, and its (decompressed) bytes in chunks.
    """
    version: dict[str, Any] = {"VersionId": source.version_id} if source.version_id else {}
    body = client.get_object(Bucket=source.bucket, Key=source.key, IfMatch=source.etag, **version)["Body"]
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
