"""
A filtered copy of an import source: every record of a suppressed user left out, every other byte kept.

The copy goes under a destination folder of its own, which must be empty and apart from the source
(neither location a prefix of the other). The source is first scanned whole; then each file with a
match is written anew by multipart upload (header, BOM, line endings, quoting and every other record
as read; gzip again when the source was gzip), and each file without a match is copied server-side,
never rewritten. Reads and copies are of the version listed (its ETag): a file changed meanwhile fails
the copy. On any failure the open upload is aborted and the objects this run wrote are deleted, so no
partial object and no partial copy is left. The source is never modified.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from airflow_provider_personalize_deletion.scan.errors import ScanInputError, SourceLocationError
from airflow_provider_personalize_deletion.scan.s3_writes import MultipartObject, copy_unchanged, gzip_pieces
from airflow_provider_personalize_deletion.scan.scan import FileReader, ScanReport, scan_source
from airflow_provider_personalize_deletion.scan.source import SCHEME, S3Source, SourceObject, split_location
from airflow_provider_personalize_deletion.scan.suppressed import SuppressedUsers

log = logging.getLogger(__name__)

_DELETE_BATCH = 1000


@dataclass(frozen=True)
class FilteredCopy:
    """
    A filtered copy, written.

    :param location: the copy's folder (``s3://bucket/prefix/``), to import from.
    :param report: the scan of the source (counts per file).
    :param rewritten: keys written anew, without the suppressed users' records.
    :param copied: keys copied unchanged, server-side.
    """

    location: str
    report: ScanReport
    rewritten: tuple[str, ...]
    copied: tuple[str, ...]

    @property
    def records_kept(self) -> int:
        """Records in the copy."""
        return self.report.records - self.report.matches


def write_filtered_copy(source: S3Source, destination: str, suppressed: SuppressedUsers) -> FilteredCopy:
    """
    Write the filtered copy of a source.

    :param source: the source, read as its job would read it.
    :param destination: an empty folder of its own, ``s3://bucket/prefix/``.
    :param suppressed: the suppressed users.
    :return: the copy's location and counts.
    :raises SourceLocationError: the destination is not a folder, overlaps the source, or is not empty;
        or two files of the source would be copied to one key (nothing is left written then).
    :raises ScanInputError: a file of the source breaks a rule (nothing is written then).
    """
    bucket, prefix = _check_destination(source, destination)
    report = scan_source(source, suppressed)
    written: list[str] = []
    rewritten: list[str] = []
    copied: list[str] = []
    matches = {file.key: file.matches for file in report.files}
    copied_from: dict[str, str] = {}
    try:
        for item in source.objects():
            key = prefix + source.relative_key(item.key)
            if item.key not in matches:
                raise ScanInputError(f"{source.location} changed while it was being copied")
            if key in copied_from:  # e.g. in/a.csv and in//a.csv: one would overwrite the other
                raise SourceLocationError(
                    f"{copied_from[key]} and {item.location} would both be copied to {SCHEME}{bucket}/{key}: "
                    "rename one of them"
                )
            copied_from[key] = item.location
            written.append(key)
            if matches[item.key]:
                _rewrite(source, item, suppressed, bucket, key, matches[item.key])
                rewritten.append(key)
            else:
                copy_unchanged(source.client, item, bucket, key)
                copied.append(key)
    except BaseException:
        _delete_quietly(source, bucket, written)
        raise
    log.info(
        "Filtered copy of %s at %s%s/%s: %d file(s) rewritten without %d record(s), %d copied unchanged",
        source.location,
        SCHEME,
        bucket,
        prefix,
        len(rewritten),
        report.matches,
        len(copied),
    )
    return FilteredCopy(f"{SCHEME}{bucket}/{prefix}", report, tuple(rewritten), tuple(copied))


def _check_destination(source: S3Source, destination: str) -> tuple[str, str]:
    bucket, prefix = split_location(destination)
    if not prefix.endswith("/"):
        raise SourceLocationError(
            f"The filtered copy's destination {destination} must be a folder of its own, ending with '/'"
        )
    if bucket == source.bucket and (
        prefix.startswith(source.key_prefix) or source.key_prefix.startswith(prefix)
    ):
        raise SourceLocationError(
            f"The filtered copy's destination {destination} overlaps its source {source.location}: "
            "neither may be a prefix of the other"
        )
    if source.client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1).get("KeyCount", 0):
        raise SourceLocationError(f"The filtered copy's destination {destination} is not empty")
    return bucket, prefix


def _rewrite(
    source: S3Source, item: SourceObject, suppressed: SuppressedUsers, bucket: str, key: str, expected: int
) -> None:
    reader = FileReader(source, item, suppressed)
    with MultipartObject(source.client, bucket, key) as upload:
        for piece in gzip_pieces(_kept_bytes(reader)) if reader.gzip else _kept_bytes(reader):
            upload.write(piece)
        if reader.matches != expected:
            raise ScanInputError(f"{item.location} read differently twice: nothing was written from it")


def _kept_bytes(reader: FileReader) -> Iterator[bytes]:
    """The file's bytes without the records of suppressed users."""
    yield reader.header.raw
    for matched in reader:
        if matched.matched:
            yield from matched.block.without(matched.matched)
        else:
            yield matched.block.data


def _delete_quietly(source: S3Source, bucket: str, keys: list[str]) -> None:
    try:
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            source.client.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
            )
    except Exception:
        log.exception(
            "Could not delete the %d object(s) of this failed filtered copy under %s%s/: delete them by hand",
            len(keys),
            SCHEME,
            bucket,
        )
