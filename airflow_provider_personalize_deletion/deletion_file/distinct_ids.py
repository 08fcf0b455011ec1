"""
The distinct valid ids of an export, in the order of their id lines, sorted where it is fastest.

GNU sort (:mod:`.gnu_sort`) takes every id it orders as the fingerprint does, in a child process that
sorts while the database is still being read; the ids it would order otherwise (those with a byte
below ``"\\n"``, rare) and every id where GNU sort is missing go to sorted runs (:mod:`.sorted_runs`).
The two sets are disjoint, so the two sorted streams merge into one without losing or repeating an id.
"""

from __future__ import annotations

from collections.abc import Iterator

from airflow_provider_personalize_deletion.deletion_file.gnu_sort import GnuSort, gnu_sort_path
from airflow_provider_personalize_deletion.deletion_file.sorted_runs import (
    DEFAULT_RUN_SIZE,
    SortedRunStore,
    has_byte_below_line_break,
    merge_distinct,
)


class DistinctIds:
    """
    Collects id lines; yields each distinct one once, in byte order.

    Call :meth:`close` when done: it stops the sort child and removes every file of ids.

    :param run_size: ids held in memory before a sorted run is written to disk.
    :param use_gnu_sort: whether to sort with GNU sort when it is installed (:func:`.gnu_sort_path`).
    :param dir: parent of the private directory of the ids; the system temp dir by default.
    """

    def __init__(
        self, run_size: int = DEFAULT_RUN_SIZE, *, use_gnu_sort: bool = True, dir: str | None = None
    ) -> None:
        self._runs = SortedRunStore(run_size, dir=dir)
        self._gnu_sort_path = gnu_sort_path() if use_gnu_sort else None
        self._gnu_sort: GnuSort | None = None
        self.id_count = 0
        """Ids added, duplicates included."""

    def close(self) -> None:
        """Stop the sort child and remove every file of ids (the child's temp files included)."""
        try:
            if self._gnu_sort is not None:
                self._gnu_sort.close()
        finally:
            self._runs.close()

    def add(self, id_lines: bytes, count: int) -> None:
        """
        Add valid user ids.

        :param id_lines: ids that passed validation, UTF-8, each followed by ``b"\\n"``.
        :param count: the number of ids in ``id_lines``.
        """
        self.id_count += count
        if self._gnu_sort_path is None:
            self._runs.add(id_lines, count)
            return
        if has_byte_below_line_break(id_lines):
            lines = id_lines.splitlines(keepends=True)  # valid ids hold no "\r": only "\n" splits
            apart = [line for line in lines if has_byte_below_line_break(line)]
            self._runs.add(b"".join(apart), len(apart))
            id_lines = b"".join(line for line in lines if not has_byte_below_line_break(line))
            count -= len(apart)
        if count:
            if self._gnu_sort is None:
                self._gnu_sort = GnuSort(self._gnu_sort_path, self._runs.directory)
            self._gnu_sort.add(id_lines)

    def unique_id_lines(self) -> Iterator[bytes]:
        """
        Yield every distinct id added, once, as chunks of sorted id lines. Call once, after the last add.

        :return: chunks of whole id lines.
        """
        sources = []
        if self._gnu_sort is not None:
            sources.append(self._gnu_sort.unique_id_lines())
        if self._runs.id_count:
            sources.append(self._runs.unique_id_lines())
        if len(sources) == 1:
            return sources[0]
        return merge_distinct([map(_lines, chunks) for chunks in sources])


def _lines(id_lines: bytes) -> list[bytes]:
    return id_lines.splitlines(keepends=True)
