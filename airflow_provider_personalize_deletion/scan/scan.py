"""
Scanning a source for suppressed users: how many records of each file name one, never which.

The report holds counts only. The ids found are handed out through one explicit in-memory callback
(``on_match``), for the verification's intake of reappeared users; they are never in the report, its
``repr``, a log line or an exception.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from airflow_provider_personalize_deletion.scan.csv_records import CsvHeader, CsvRecordReader, RecordBlock
from airflow_provider_personalize_deletion.scan.native import scan_path
from airflow_provider_personalize_deletion.scan.source import S3Source, SourceObject, stream_object
from airflow_provider_personalize_deletion.scan.suppressed import SuppressedUsers

log = logging.getLogger(__name__)

OnMatch = Callable[[SourceObject, bytes], None]
"""Called with the file and the USER_ID of each matching record (in memory only)."""


@dataclass(frozen=True)
class FileScan:
    """
    What one file holds.

    :param key: its S3 key.
    :param records: records read (the header not counted).
    :param matches: records whose USER_ID is suppressed.
    :param gzip: whether the object is gzip.
    :param prefiltered: records read through the native pre-filter (:mod:`~.native`); the others were
        read by the Python reader alone (all of them when the pre-filter is not built).
    """

    key: str
    records: int
    matches: int
    gzip: bool
    prefiltered: int = 0


@dataclass(frozen=True)
class ScanReport:
    """
    The scan of a whole source.

    :param location: the source's location, as given.
    :param files: one entry per file read, in key order.
    """

    location: str
    files: tuple[FileScan, ...]

    @property
    def records(self) -> int:
        """Records read in every file."""
        return sum(file.records for file in self.files)

    @property
    def matches(self) -> int:
        """Records of suppressed users in every file."""
        return sum(file.matches for file in self.files)

    @property
    def prefiltered(self) -> int:
        """Records read through the native pre-filter, in every file."""
        return sum(file.prefiltered for file in self.files)

    @property
    def files_with_matches(self) -> tuple[FileScan, ...]:
        """The files holding at least one record of a suppressed user."""
        return tuple(file for file in self.files if file.matches)


@dataclass(frozen=True)
class MatchedBlock:
    """A block of records and the positions in its ``user_ids`` of its suppressed ones (possibly none)."""

    block: RecordBlock
    matched: list[int]


class FileReader:
    """
    One file, read and matched block by block.

    :param source: the S3 source the file belongs to.
    :param item: the file.
    :param suppressed: the suppressed users.
    """

    def __init__(self, source: S3Source, item: SourceObject, suppressed: SuppressedUsers) -> None:
        self.item = item
        self.gzip, chunks = stream_object(source.client, item, require_encryption=source.require_encryption)
        self._reader = CsvRecordReader(chunks, item.location, suppressed.csv_prefilter())
        self._suppressed = suppressed
        self.records = 0
        self.matches = 0

    @property
    def header(self) -> CsvHeader:
        """The file's header row."""
        return self._reader.header

    @property
    def prefiltered(self) -> int:
        """Records read so far through the native pre-filter."""
        return self._reader.prefiltered_records

    def __iter__(self) -> Iterator[MatchedBlock]:
        for block in self._reader:
            hits = self._suppressed.matches(block.user_ids)
            matched = hits.nonzero()[0].tolist() if hits.any() else []
            self.records += block.records
            self.matches += len(matched)
            yield MatchedBlock(block, matched)

    def result(self) -> FileScan:
        """The counts of the file, once read."""
        return FileScan(self.item.key, self.records, self.matches, self.gzip, self.prefiltered)


def scan_source(source: S3Source, suppressed: SuppressedUsers, on_match: OnMatch | None = None) -> ScanReport:
    """
    Read every file of a source and count the records of suppressed users in each.

    :param source: the files to read.
    :param suppressed: the suppressed users.
    :param on_match: called with each matching record's file and USER_ID; None to count only.
    :raises ScanInputError: a file or the location breaks a rule (its message names which).
    """
    files = []
    log.info("Scanning %s on the %s path", source.location, scan_path())
    for item in source.objects():
        reader = FileReader(source, item, suppressed)
        for matched in reader:
            if on_match is not None:
                for position in matched.matched:
                    on_match(item, matched.block.user_ids[position])
        files.append(reader.result())
        log.info(
            "Scanned %s: %d records (%d through the native pre-filter), %d of suppressed users",
            item.location,
            reader.records,
            reader.prefiltered,
            reader.matches,
        )
    return ScanReport(source.location, tuple(files))
