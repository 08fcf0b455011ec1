"""
The file formats of find and forget, as data, in one table: each name maps to how its blocks are read.
The location plan (:mod:`.locations`), the declared locations and the engine all take their names from
here.

A format reads an object's decompressed bytes into blocks (:class:`Block`): exact bytes, the user ids
they name, how many records they hold, and the same bytes without some of those users.

- ``batch_inference_input``: JSON Lines, ``userId``; a matched line is dropped (a line without
  ``userId``, such as ``{"itemId": ...}``, names no user).
- ``batch_inference_output``: JSON Lines, ``input.userId``; a matched line is dropped.
- ``batch_segment_input``: item-centric JSON Lines that name no user: never read (:data:`READERS` None).
- ``batch_segment_output``: JSON Lines, ``output.usersList`` or ``output.recommendedUsers``; a matched
  user leaves the array, the line stays (see :mod:`.json_lines` for what is written anew).
- ``export_csv``: a dataset export's CSV files (Personalize's CSV, ``USER_ID``), read as ``csv``.
- ``csv``: Personalize CSV with a ``USER_ID`` column (:mod:`~..scan.csv_records`); a matched record is
  dropped, the header kept.
- ``jsonl``: the user's own JSON Lines with a top-level ``userId``, read as ``batch_inference_input``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final, Protocol

from airflow_provider_personalize_deletion.forget.json_lines import UserArrays, UserAtPath, json_lines_blocks
from airflow_provider_personalize_deletion.scan.csv_records import CsvRecordReader

BATCH_INFERENCE_INPUT: Final = "batch_inference_input"
BATCH_INFERENCE_OUTPUT: Final = "batch_inference_output"
BATCH_SEGMENT_INPUT: Final = "batch_segment_input"
BATCH_SEGMENT_OUTPUT: Final = "batch_segment_output"
EXPORT_CSV: Final = "export_csv"
CSV: Final = "csv"
JSONL: Final = "jsonl"


class Block(Protocol):
    """Whole records of one object, as written, and the users they name."""

    @property
    def data(self) -> bytes:
        """The records' exact bytes."""

    @property
    def user_ids(self) -> list[bytes]:
        """The ids of the users named, in order."""

    @property
    def records(self) -> int:
        """How many records the block holds."""

    def without(self, matched: list[int]) -> Iterable[bytes]:
        """
        :param matched: positions in :attr:`user_ids` of the users to take out, increasing.
        :return: the block's bytes without them, in pieces.
        """

    def removed_records(self, matched: list[int]) -> int:
        """
        :param matched: as for :meth:`without`.
        :return: how many records :meth:`without` leaves out.
        """


@dataclass(frozen=True)
class HeaderBlock:
    """A CSV file's header row: no record, no user, always kept."""

    data: bytes
    user_ids: list[bytes] = field(default_factory=list)
    records: int = 0

    def without(self, matched: list[int]) -> Iterable[bytes]:
        return (self.data,)

    def removed_records(self, matched: list[int]) -> int:
        return 0


def csv_blocks(chunks: Iterable[bytes], name: str, every_record_names_users: bool = False) -> Iterator[Block]:
    """A Personalize CSV file's header row, then its records (a file without ``USER_ID`` is an error)."""
    reader = CsvRecordReader(chunks, name)
    yield HeaderBlock(reader.header.raw)
    yield from reader


class BlockReader(Protocol):
    """Reads an object's decompressed bytes (chunks) into blocks; its location names it in errors."""

    def __call__(
        self, chunks: Iterable[bytes], name: str, every_record_names_users: bool = False
    ) -> Iterator[Block]:
        """
        :param chunks: the object's decompressed bytes.
        :param name: its location, for error messages.
        :param every_record_names_users: a record without the member that names users is an error (a
            declared location's file in another format than declared), not a record naming no user.
        """


_TOP_LEVEL_USER_ID = functools.partial(json_lines_blocks, UserAtPath(("userId",)))

READERS: Final[dict[str, BlockReader | None]] = {
    BATCH_INFERENCE_INPUT: _TOP_LEVEL_USER_ID,
    BATCH_INFERENCE_OUTPUT: functools.partial(json_lines_blocks, UserAtPath(("input", "userId"))),
    BATCH_SEGMENT_INPUT: None,
    BATCH_SEGMENT_OUTPUT: functools.partial(
        json_lines_blocks, UserArrays("output", ("usersList", "recommendedUsers"))
    ),
    EXPORT_CSV: csv_blocks,
    CSV: csv_blocks,
    JSONL: _TOP_LEVEL_USER_ID,
}
"""Every format, in the order :meth:`.locations.LocationPlan.resolve` prefers them; None: names no user."""
FORMATS: Final[tuple[str, ...]] = tuple(READERS)
"""The names of every format."""
READABLE_FORMATS: Final[tuple[str, ...]] = tuple(name for name, reader in READERS.items() if reader)
"""The formats whose objects are read (a declared location names one of them)."""


def block_reader(file_format: str) -> BlockReader:
    """
    :param file_format: one of :data:`READABLE_FORMATS`.
    :raises ValueError: naming the formats that are read.
    """
    reader = READERS.get(file_format)
    if reader is None:
        raise ValueError(f"Invalid parameter 'file_format': must be one of {', '.join(READABLE_FORMATS)}")
    return reader
