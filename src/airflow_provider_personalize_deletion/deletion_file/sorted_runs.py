"""
External sort of user ids: sorted runs of bounded size on private disk, merged back without duplicates.

Memory holds at most one run, whatever the number of ids. Runs are files of *id lines* (UTF-8 id
followed by ``b"\\n"``) sorted by their bytes; merging them yields every distinct id once, in that
order, which is also the order the fingerprint is defined on. The run files hold personal data: they
live in a directory only the owner can open (mode 0700) and are removed when the store is closed.
"""

from __future__ import annotations

import heapq
import itertools
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from types import TracebackType

DEFAULT_RUN_SIZE = 1_000_000
"""Ids held in memory before a run is written: about 100 MB for ids of 36 characters."""
CHUNK_BYTES = 1024 * 1024
"""Size of the chunks of id lines read back from a single run."""
MERGE_CHUNK_LINES = 25_000
"""Id lines per chunk yielded by the merge of several runs."""


_SORTS_BEFORE_LINE_BREAK = bytes(range(ord("\n")))


@dataclass(frozen=True)
class _Run:
    """One run file and its first and last id lines."""

    path: str
    first: bytes
    last: bytes


class SortedRunStore:
    """
    Collects user ids into sorted runs on disk and merges them into sorted distinct id lines.

    Use as a context manager: leaving it removes every run file.

    :param run_size: number of ids held in memory before a run is written to disk.
    :param dir: parent of the private directory of run files; the system temp dir by default.
    """

    def __init__(self, run_size: int = DEFAULT_RUN_SIZE, dir: str | None = None) -> None:
        if run_size < 1:
            raise ValueError("run_size must be at least 1")
        self._run_size = run_size
        self._tmp = tempfile.TemporaryDirectory(prefix="personalize-deletion-ids-", dir=dir)
        self._buffer: list[str] = []
        self._runs: list[_Run] = []
        self.id_count = 0
        """Ids added, duplicates included."""

    def __enter__(self) -> SortedRunStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Drop the ids in memory and remove the run files."""
        self._buffer.clear()
        self._tmp.cleanup()

    def add(self, ids: Iterable[str]) -> None:
        """
        Add valid user ids.

        :param ids: ids that passed validation (no line break, encodable as UTF-8).
        """
        before = len(self._buffer)
        self._buffer.extend(ids)
        self.id_count += len(self._buffer) - before
        if len(self._buffer) >= self._run_size:
            self._write_run()

    def unique_id_lines(self) -> Iterator[bytes]:
        """
        Yield every distinct id added, once, as chunks of sorted id lines.

        Runs whose ranges do not overlap (input sorted by id, e.g. with ``ORDER BY``) are read one
        after the other; overlapping runs go through a k-way merge, which costs more per id.

        :return: chunks of whole id lines.
        """
        if self._buffer:
            self._write_run()
        if self._runs_are_disjoint():
            for run in self._runs:
                yield from _read_whole_lines(run.path)
            return
        files = [open(run.path, "rb") for run in self._runs]  # noqa: SIM115 - closed below
        try:
            distinct = map(itemgetter(0), itertools.groupby(heapq.merge(*files)))
            while lines := list(itertools.islice(distinct, MERGE_CHUNK_LINES)):
                yield b"".join(lines)
        finally:
            for file in files:
                file.close()

    def _runs_are_disjoint(self) -> bool:
        return all(left.last < right.first for left, right in itertools.pairwise(self._runs))

    def _write_run(self) -> None:
        self._buffer.sort()
        distinct = list(map(itemgetter(0), itertools.groupby(self._buffer)))
        self._buffer.clear()
        id_lines = ("\n".join(distinct) + "\n").encode("utf-8")
        if len(id_lines.translate(None, _SORTS_BEFORE_LINE_BREAK)) != len(id_lines):
            # An id holding a character below "\n" can sort differently from its line ("a" < "a\t"
            # but "a\t\n" < "a\n"): sort the lines themselves, the order the merge compares.
            id_lines = "".join(sorted(user_id + "\n" for user_id in distinct)).encode("utf-8")
        path = os.path.join(self._tmp.name, f"run-{len(self._runs):05d}")
        with open(path, "wb") as run:
            run.write(id_lines)
        first = id_lines[: id_lines.index(b"\n") + 1]
        last = id_lines[id_lines.rfind(b"\n", 0, len(id_lines) - 1) + 1 :]
        self._runs.append(_Run(path, first, last))


def _read_whole_lines(path: str) -> Iterator[bytes]:
    carry = b""
    with open(path, "rb") as run:
        while block := run.read(CHUNK_BYTES):
            block = carry + block
            cut = block.rfind(b"\n") + 1
            carry = block[cut:]
            yield block[:cut]
