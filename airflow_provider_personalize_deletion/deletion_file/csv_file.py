"""
The deletion file format: a ``USER_ID`` header, then one id per line, CSV-quoted, UTF-8.

Ids arrive as *id lines*: UTF-8 bytes of valid ids, each followed by ``b"\\n"`` (a valid id holds no
line break, so a line is always a whole id). Quoting follows the :mod:`csv` module (minimal quoting,
``"\\n"`` line terminator); as only a comma or a double quote makes it quote an id without a line
break, a chunk without either is already its own CSV and is passed through unchanged.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from airflow_provider_personalize_deletion.deletion_file.user_ids import MAX_USER_ID_LENGTH

HEADER = b"USER_ID\n"
MAX_LINE_BYTES = 4 * MAX_USER_ID_LENGTH + 1
"""Longest CSV line of a valid id: 256 four-byte characters and the line break."""
MIN_FILE_BYTES = len(HEADER) + MAX_LINE_BYTES
"""Smallest file limit that can hold the header and any one id."""


def encode_csv(id_lines: bytes) -> bytes:
    """
    Encode id lines as CSV lines.

    :param id_lines: UTF-8 ids, each followed by ``b"\\n"``.
    :return: the same ids as CSV records, each followed by ``b"\\n"``.
    """
    if b'"' not in id_lines and b"," not in id_lines:
        return id_lines
    ids = id_lines.decode("utf-8").split("\n")[:-1]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(zip(ids))
    return out.getvalue().encode("utf-8")


def split_into_files(csv_chunks: Iterable[bytes], max_file_bytes: int) -> Iterator[tuple[int, bytes]]:
    """
    Cut a stream of CSV lines into files of at most ``max_file_bytes``, each starting with the header.

    Lines are never cut. A file is started only when a line arrives for it, so no empty file exists.

    :param csv_chunks: CSV lines, in chunks of whole lines.
    :param max_file_bytes: the size limit of one file; at least :data:`MIN_FILE_BYTES`.
    :return: ``(file_index, piece)`` pairs, in order; file indexes count from 0, and the first piece
        of each file is :data:`HEADER`.
    """
    if max_file_bytes < MIN_FILE_BYTES:
        raise ValueError(f"max_file_bytes must be at least {MIN_FILE_BYTES}")
    file_index, room = -1, 0
    for chunk in csv_chunks:
        while len(chunk) > room:
            cut = chunk.rfind(b"\n", 0, room) + 1
            if cut:
                yield file_index, chunk[:cut]
                chunk = chunk[cut:]
            file_index, room = file_index + 1, max_file_bytes - len(HEADER)
            yield file_index, HEADER
        if chunk:
            yield file_index, chunk
            room -= len(chunk)
