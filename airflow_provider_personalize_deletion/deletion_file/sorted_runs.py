"""
External sort of user ids: sorted runs of bounded size on private disk, merged back without duplicates.

This is the sort of ids GNU sort cannot order as the fingerprint does, and of every id where GNU sort
is missing (see :mod:`.distinct_ids`). Memory holds at most one run, whatever the number of ids, and a
merge reads a bounded amount ahead, whatever the number of runs. Runs are files of *id lines* (UTF-8 id
followed by ``b"\\n"``) sorted by their bytes; merging them yields every distinct id once, in that
order, which is also the order the fingerprint is defined on.

The run files hold personal data. They live in a directory ``personalize-deletion-ids-*`` of the
system temp dir (:func:`tempfile.gettempdir`: ``TMPDIR``, else ``/tmp``) that only its owner can open
(mode 0700; GNU sort spills its temp files there too), are written with mode 0600, and are removed
when the store is closed. A process killed before that leaves them behind:
:func:`remove_leftover_run_dirs` removes such directories once they are older than a bound, and never
one a live store holds (each store keeps an exclusive ``flock`` on a file of its directory while open).
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import functools
import itertools
import logging
import operator
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger(__name__)

DEFAULT_RUN_SIZE = 250_000
"""Ids held in memory before a run is written: about 25 MB for ids of 36 characters (measured:
as fast as runs of a million, with about 55 MiB less peak memory at 5M ids)."""
CHUNK_BYTES = 1024 * 1024
"""Size of the blocks of id lines read back from a run that needs no merge."""
MERGE_BYTES = 16 * 1024 * 1024
"""Id lines read ahead from all the runs of a merge together, whatever their number."""
MIN_MERGE_BLOCK_BYTES = 64 * 1024
"""Smallest block read from one run of a merge: past 256 runs (64 million ids), memory grows again."""
RUN_DIR_PREFIX = "personalize-deletion-ids-"
"""Name prefix of the private directories of run files."""
_LOCK_NAME = "in-use.lock"
_ID_FILE_NAME = re.compile(r"run-\d{5}|sort[A-Za-z0-9]{6}")
"""Run files, and the temp files (``sortXXXXXX``) a :class:`.gnu_sort.GnuSort` child spills beside them."""


_SORTS_BEFORE_LINE_BREAK = tuple(bytes([byte]) for byte in range(ord("\n")))
_Line = TypeVar("_Line", str, bytes)


@dataclass(frozen=True)
class _Run:
    """One run file and its first and last id lines."""

    path: str
    first: bytes
    last: bytes


def has_byte_below_line_break(id_lines: bytes) -> bool:
    """
    Tell whether id lines hold a byte below ``"\\n"`` (a tab, NUL...): then ids and id lines sort apart.

    ``"a" < "a\\t"`` as ids (a prefix first), but ``"a\\t\\n" < "a\\n"`` as id lines, the order of the
    merge and the fingerprint. Without such a byte both orders agree.

    :param id_lines: UTF-8 ids, each followed by ``b"\\n"``.
    """
    return any(byte in id_lines for byte in _SORTS_BEFORE_LINE_BREAK)


class SortedRunStore:
    """
    Collects id lines into sorted runs on disk and merges them into sorted distinct id lines.

    Call :meth:`close` when done: it removes every run file.

    :param run_size: number of ids held in memory before a run is written to disk.
    :param dir: parent of the private directory of run files; the system temp dir by default.
    """

    def __init__(self, run_size: int = DEFAULT_RUN_SIZE, dir: str | None = None) -> None:
        if run_size < 1:
            raise ValueError("run_size must be at least 1")
        self._run_size = run_size
        self._tmp = tempfile.TemporaryDirectory(prefix=RUN_DIR_PREFIX, dir=dir)
        self._lock = open(os.path.join(self._tmp.name, _LOCK_NAME), "wb")  # noqa: SIM115 (closed in close())
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._buffer: list[bytes] = []
        self._buffered_ids = 0
        self._runs: list[_Run] = []
        self.id_count = 0
        """Ids added, duplicates included."""

    @property
    def directory(self) -> str:
        """The private directory (mode 0700) of the run files; removed by :meth:`close`."""
        return self._tmp.name

    def close(self) -> None:
        """Drop the ids in memory and remove the run files."""
        self._buffer.clear()
        self._lock.close()
        self._tmp.cleanup()

    def add(self, id_lines: bytes, count: int) -> None:
        """
        Add valid user ids.

        :param id_lines: ids that passed validation, UTF-8, each followed by ``b"\\n"``.
        :param count: the number of ids in ``id_lines``.
        """
        self._buffer.append(id_lines)
        self._buffered_ids += count
        self.id_count += count
        if self._buffered_ids >= self._run_size:
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
        block_bytes = max(MERGE_BYTES // len(self._runs), MIN_MERGE_BLOCK_BYTES)
        with contextlib.ExitStack() as stack:
            files = [stack.enter_context(open(run.path, "rb")) for run in self._runs]
            yield from merge_distinct(
                [iter(functools.partial(file.readlines, block_bytes), []) for file in files]
            )

    def _runs_are_disjoint(self) -> bool:
        return all(left.last < right.first for left, right in itertools.pairwise(self._runs))

    def _write_run(self) -> None:
        id_lines = b"".join(self._buffer)
        self._buffer.clear()
        self._buffered_ids = 0
        if not has_byte_below_line_break(id_lines):
            # Sorted as text: list.sort compares one-byte strings with memcmp, faster than bytes.
            ids = id_lines.decode("utf-8").split("\n")
            ids.pop()
            ids.sort()
            id_lines = ("\n".join(_distinct(ids)) + "\n").encode("utf-8")
        else:
            # Sorted as lines, the order the merge compares (see has_byte_below_line_break).
            lines = id_lines.splitlines(keepends=True)
            lines.sort()
            id_lines = b"".join(_distinct(lines))
        path = os.path.join(self._tmp.name, f"run-{len(self._runs):05d}")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as run:
            run.write(id_lines)
        first = id_lines[: id_lines.index(b"\n") + 1]
        last = id_lines[id_lines.rfind(b"\n", 0, len(id_lines) - 1) + 1 :]
        self._runs.append(_Run(path, first, last))


def remove_leftover_run_dirs(max_age_seconds: float, dir: str | None = None) -> int:
    """
    Remove the run directories that killed processes of this user left behind.

    A directory is removed only when all of these hold: its name starts with
    :data:`RUN_DIR_PREFIX`; it is a real directory (not a symlink) owned by this user with mode
    0700; it holds nothing but run files, GNU sort's temp files and the lock file, none of them a
    symlink; nothing in it changed for ``max_age_seconds``; and no live store holds its lock.
    Anything else is left alone.
    A directory that cannot be removed is logged (its path holds no id) and skipped.

    :param max_age_seconds: how long a directory must have been left unchanged.
    :param dir: the parent directory the stores used; the system temp dir by default.
    :return: the number of directories removed.
    """
    parent = dir if dir is not None else tempfile.gettempdir()
    cutoff = time.time() - max_age_seconds
    removed = 0
    with os.scandir(parent) as entries:
        candidates = [entry.path for entry in entries if entry.name.startswith(RUN_DIR_PREFIX)]
    for path in candidates:
        try:
            if _is_leftover(path, cutoff):
                shutil.rmtree(path)
                removed += 1
        except OSError as error:
            log.warning("Could not remove the leftover id directory %s: %s", path, type(error).__name__)
    return removed


def _is_leftover(path: str, cutoff: float) -> bool:
    status = os.lstat(path)
    if not (
        stat.S_ISDIR(status.st_mode)
        and status.st_uid == os.getuid()
        and stat.S_IMODE(status.st_mode) == 0o700
        and status.st_mtime < cutoff
    ):
        return False
    with os.scandir(path) as entries:
        for entry in entries:
            if not (_ID_FILE_NAME.fullmatch(entry.name) or entry.name == _LOCK_NAME):
                return False
            if not entry.is_file(follow_symlinks=False):
                return False
            if entry.stat(follow_symlinks=False).st_mtime >= cutoff:
                return False
    return not _is_locked(os.path.join(path, _LOCK_NAME))


def _is_locked(lock_path: str) -> bool:
    """Whether a live store holds the lock; a directory without a lock file is not held."""
    try:
        descriptor = os.open(lock_path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


def merge_distinct(blocks: Sequence[Iterator[list[bytes]]]) -> Iterator[bytes]:
    """
    Merge sorted sources of distinct lines into chunks of sorted distinct lines.

    Block-wise rather than line by line (``heapq.merge`` costs a Python step per line): each round
    takes, from every source's current block, the lines up to the smallest of the blocks' last lines,
    and sorts them together. ``list.sort`` finds the sorted runs in that list and merges them in C.
    Every line up to that bound is then in hand, so rounds never share a line.

    :param blocks: per source, its lines in sorted blocks (lists of lines, each ending with ``b"\\n"``).
    :return: chunks of whole lines.
    """
    current = [next(source, []) for source in blocks]
    starts = [0] * len(blocks)
    while active := [index for index, lines in enumerate(current) if lines]:
        bound = min(current[index][-1] for index in active)
        taken: list[bytes] = []
        for index in active:
            lines, start = current[index], starts[index]
            cut = bisect.bisect_right(lines, bound, start)
            taken += lines[start:cut]
            if cut == len(lines):
                current[index], starts[index] = next(blocks[index], []), 0
            else:
                starts[index] = cut
        taken.sort()
        yield b"".join(_distinct(taken))


def _distinct(ordered: list[_Line]) -> Iterable[_Line]:
    """The items of a sorted list, each once: the list itself unless two neighbours are equal."""
    if any(map(operator.eq, ordered, itertools.islice(ordered, 1, None))):
        return dict.fromkeys(ordered)
    return ordered


def _read_whole_lines(path: str) -> Iterator[bytes]:
    carry = b""
    with open(path, "rb") as run:
        while block := run.read(CHUNK_BYTES):
            block = carry + block
            cut = block.rfind(b"\n") + 1
            carry = block[cut:]
            yield block[:cut]
