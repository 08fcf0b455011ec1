"""
Sorting and deduplicating id lines with GNU ``sort -u`` in the C locale, in a child process.

The child sorts while the export is still reading the database (on another core), in C, with its
memory bounded by ``--buffer-size``, and spills to temp files of its own beyond that. In the C locale
GNU sort compares lines as unsigned bytes (``memcmp``), a line that is a prefix of another first: the
order of *id lines* (id then ``b"\\n"``), which the fingerprint is defined on, for every id without a
byte below ``"\\n"`` (see :func:`.sorted_runs.has_byte_below_line_break`). The caller keeps such
ids out.

The child gets the private directory of the ids as ``--temporary-directory``, so its spill files
(``sortXXXXXX``, mode 0600) sit beside the run files, under the same lock and clean-up. It reads
nothing but the ids, from a pipe; its messages are dropped, and a failure is reported by exit code.
A killed export closes the pipe: the child then dies of ``SIGPIPE`` on its first write, removing its
spill files.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import functools
import os
import selectors
import shutil
import subprocess
from collections.abc import Iterator
from typing import IO

BUFFER_BYTES = 32 * 1024 * 1024
"""Memory of the child's sort buffer; beyond it, the child spills sorted runs to temp files."""
READ_BYTES = 1024 * 1024
"""Size of the blocks of sorted id lines read back from the child."""
BACKLOG_BYTES = 32 * 1024 * 1024
"""Id lines kept for the child while it sorts a full buffer, beyond which :meth:`GnuSort.add` waits."""
PIPE_BYTES = 1024 * 1024
"""Capacity asked for the pipe to the child (Linux's default ``pipe-max-size``)."""
_C_LOCALE = {"LC_ALL": "C"}


class ExternalSortError(RuntimeError):
    """GNU sort failed (e.g. no room for its temp files); the message holds its exit code, never an id."""


@functools.lru_cache(maxsize=1)
def gnu_sort_path() -> str | None:
    """The path of GNU coreutils' ``sort`` on ``PATH``, or ``None`` (another ``sort``, or none)."""
    path = shutil.which("sort")
    if path is None:
        return None
    try:
        version = subprocess.run(
            [path, "--version"], capture_output=True, env=_C_LOCALE, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return path if b"GNU coreutils" in version.split(b"\n", 1)[0] else None


class GnuSort:
    """
    One ``sort -u`` child: id lines go in with :meth:`add`, sorted distinct id lines come out.

    Writes to the child never wait while it sorts a full buffer: what the pipe cannot take is kept
    (up to :data:`BACKLOG_BYTES`) and written on a later :meth:`add`, so reading the database goes
    on meanwhile. (A writer thread would do the same, but the database drivers release the GIL for
    every row, and handing it to a writer thread that often costs more than the writes.) Call
    :meth:`close` when done: it stops the child if it still runs.

    :param path: the GNU sort binary (:func:`gnu_sort_path`).
    :param temp_dir: the private directory for the child's spill files.
    :param buffer_bytes: the child's sort buffer.
    """

    def __init__(self, path: str, temp_dir: str, buffer_bytes: int = BUFFER_BYTES) -> None:
        self._process = subprocess.Popen(
            [
                path,
                "--unique",
                f"--buffer-size={max(buffer_bytes // 1024, 1)}K",
                f"--temporary-directory={temp_dir}",
                "--parallel=1",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_C_LOCALE,
            cwd=temp_dir,
        )
        stdin: IO[bytes] = self._process.stdin  # type: ignore[assignment]
        self._stdin = stdin.fileno()
        with contextlib.suppress(AttributeError, OSError):  # Linux only; the default pipe works too
            fcntl.fcntl(self._stdin, fcntl.F_SETPIPE_SZ, PIPE_BYTES)  # type: ignore[attr-defined]
        os.set_blocking(self._stdin, False)
        self._backlog: collections.deque[memoryview] = collections.deque()
        self._backlog_bytes = 0

    def add(self, id_lines: bytes) -> None:
        """
        Hand id lines to the child.

        :param id_lines: UTF-8 ids, each followed by ``b"\\n"``, none with a byte below ``"\\n"``.
        :raises ExternalSortError: the child stopped reading.
        """
        self._backlog.append(memoryview(id_lines))
        self._backlog_bytes += len(id_lines)
        self._write(wait=self._backlog_bytes > BACKLOG_BYTES)

    def unique_id_lines(self) -> Iterator[bytes]:
        """
        End the input and yield the child's output: every distinct id line once, in byte order.

        :return: chunks of whole id lines.
        :raises ExternalSortError: the child failed.
        """
        self._write(wait=True)
        self._process.stdin.close()  # type: ignore[union-attr]
        stdout: IO[bytes] = self._process.stdout  # type: ignore[assignment]
        carry = b""
        while block := stdout.read(READ_BYTES):
            block = carry + block
            cut = block.rfind(b"\n") + 1
            carry = block[cut:]
            yield block[:cut]
        if (code := self._process.wait()) != 0 or carry:
            raise ExternalSortError(
                f"GNU sort failed (exit code {code}{', output cut in a line' if carry else ''}); is there "
                "room for its temp files in the directory of the ids?"
            )

    def close(self) -> None:
        """Stop the child if it still runs, and release the pipes."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._backlog.clear()
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def _write(self, wait: bool) -> None:
        """Write the backlog; all of it when ``wait``, else what the pipe takes now."""
        while self._backlog:
            try:
                written = os.write(self._stdin, self._backlog[0])
            except BlockingIOError:
                if not wait:
                    return
                with selectors.DefaultSelector() as selector:  # not select(): fds past 1023 work too
                    selector.register(self._stdin, selectors.EVENT_WRITE)
                    selector.select()
                continue
            except OSError:  # BrokenPipeError: the child died
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._process.wait(timeout=1)
                raise ExternalSortError(
                    f"GNU sort stopped reading the ids (exit code {self._process.returncode})"
                ) from None
            self._backlog_bytes -= written
            if written == len(self._backlog[0]):
                self._backlog.popleft()
            else:
                self._backlog[0] = self._backlog[0][written:]
