"""
Cutting a stream of bytes into blocks of whole lines, each line kept as the exact bytes it was written with.

A line ends after its ``\\n`` (a ``\\r`` before it belongs to the line); the last line may end at the end
of the stream without one. A line longer than :data:`MAX_LINE_BYTES` is refused, so that memory stays
bounded whatever the object.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from airflow_provider_personalize_deletion.scan.errors import JsonLinesFormatError

MAX_LINE_BYTES: Final = 64 * 1024 * 1024
"""Longest line read (a batch inference line with its recommendations is well under a MiB)."""


@dataclass(frozen=True)
class LineBlock:
    """
    Whole consecutive lines of one object.

    :param data: their exact bytes.
    :param first_line: the number of the first line in the object, from 1.
    """

    data: bytes
    first_line: int

    def lines(self) -> list[bytes]:
        """Each line's bytes, without its ``\\n``."""
        lines = self.data.split(b"\n")
        if not lines[-1]:
            lines.pop()  # the block ends with its last line's \n
        return lines

    def line_ends(self, lines: list[bytes]) -> list[int]:
        """
        Where each line ends in :attr:`data`, its ``\\n`` included.

        :param lines: :meth:`lines`.
        """
        ends, position = [], 0
        for line in lines:
            position = min(position + len(line) + 1, len(self.data))
            ends.append(position)
        return ends


def line_blocks(chunks: Iterable[bytes], name: str) -> Iterator[LineBlock]:
    """
    :param chunks: an object's (decompressed) bytes, in chunks of any size.
    :param name: the object's location, for error messages.
    :raises JsonLinesFormatError: a line over :data:`MAX_LINE_BYTES`.
    """
    pending: list[bytes] = []
    pending_bytes = 0
    line = 1
    for chunk in chunks:
        cut = chunk.rfind(b"\n") + 1
        if not cut:
            pending.append(chunk)
            pending_bytes += len(chunk)
            if pending_bytes > MAX_LINE_BYTES:
                raise JsonLinesFormatError(f"{name}: line {line} is longer than {MAX_LINE_BYTES} bytes")
            continue
        data = b"".join([*pending, chunk[:cut]])
        yield LineBlock(data, line)
        line += data.count(b"\n")
        pending, pending_bytes = [chunk[cut:]] if cut < len(chunk) else [], len(chunk) - cut
    if pending_bytes:
        yield LineBlock(b"".join(pending), line)
