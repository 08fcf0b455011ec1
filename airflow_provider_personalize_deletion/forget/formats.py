"""
The file formats that name users, as data: each name maps to how its blocks are read.

A format reads an object's decompressed bytes into blocks (:class:`Block`): exact bytes, the user ids
they name, how many records they hold, and the same bytes without some of those users.

- ``batch_inference_input``: JSON Lines, ``userId``; a matched line is dropped.
- ``batch_inference_output``: JSON Lines, ``input.userId``; a matched line is dropped.
- ``batch_segment_output``: JSON Lines, ``output.usersList`` or ``output.recommendedUsers``; a matched
  user leaves the array, the line stays (see :mod:`.json_lines` for what is written anew).
- ``csv``: Personalize CSV with a ``USER_ID`` column (:mod:`~..scan.csv_records`); a matched record is
  dropped, the header kept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final, Protocol

from airflow_provider_personalize_deletion.forget.json_lines import UserArrays, UserAtPath, json_lines_blocks
from airflow_provider_personalize_deletion.scan.csv_records import CsvRecordReader

BATCH_INFERENCE_INPUT: Final = "batch_inference_input"
BATCH_INFERENCE_OUTPUT: Final = "batch_inference_output"
BATCH_SEGMENT_OUTPUT: Final = "batch_segment_output"
CSV: Final = "csv"


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


def csv_blocks(chunks: Iterable[bytes], name: str) -> Iterator[Block]:
    """A Personalize CSV file's header row, then its records."""
    reader = CsvRecordReader(chunks, name)
    yield HeaderBlock(reader.header.raw)
    yield from reader


BlockReader = Callable[[Iterable[bytes], str], Iterator[Block]]
"""Reads an object's decompressed bytes (chunks) into blocks; its location names it in errors."""

FORMATS: Final[dict[str, BlockReader]] = {
    BATCH_INFERENCE_INPUT: functools.partial(json_lines_blocks, UserAtPath(("userId",))),
    BATCH_INFERENCE_OUTPUT: functools.partial(json_lines_blocks, UserAtPath(("input", "userId"))),
    BATCH_SEGMENT_OUTPUT: functools.partial(
        json_lines_blocks, UserArrays("output", ("usersList", "recommendedUsers"))
    ),
    CSV: csv_blocks,
}


def block_reader(file_format: str) -> BlockReader:
    """
    :param file_format: one of :data:`FORMATS`.
    :raises ValueError: naming the formats known.
    """
    if file_format not in FORMATS:
        raise ValueError(f"Invalid parameter 'file_format': must be one of {', '.join(sorted(FORMATS))}")
    return FORMATS[file_format]
