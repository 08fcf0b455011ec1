"""
Reading Personalize CSV as a stream of whole records, each kept as the exact bytes it was written with.

The reader never re-serialises: it cuts the decompressed stream into blocks of whole records and hands
out each block's bytes with the USER_ID value of every record in it, so that a filter can copy the
records it keeps byte for byte (BOM, header, CRLF or LF, quoting and all).

What it accepts and how it decides (Personalize's documentation asks for a header row without quotes
naming the schema's fields, UTF-8, and textual values in double quotes; the facts gathered for this
project say its own files escape with a backslash, not RFC 4180's doubled quotes):

- A UTF-8 byte order mark before the header is kept in the bytes and ignored when reading names.
- The header is the first line. ``USER_ID`` is found by exact name (case included); a header without
  it, or with it twice, is a :class:`CsvFormatError`.
- Records end with LF or CRLF; the last may end at the end of the file without either.
- A field is either unquoted (no comma, double quote, backslash, CR or LF in it) or wholly in double
  quotes, in which a double quote is written ``\\"`` or ``""`` (both are accepted, also mixed), a
  backslash ``\\\\``, and commas, CR and LF stand for themselves. In a quoted USER_ID, ``\\"``, ``""``
  and ``\\\\`` are read as one character each. A record that fits neither form (a quote or a backslash
  inside an unquoted field, a CR not followed by LF outside quotes, a quote never closed) is an error
  naming its number, and so is any other backslash in a quoted USER_ID: a reader that takes a backslash
  as escaping the next character anywhere, or a lone CR as a line break (Python's csv module, the
  emulator's import), would read another id there, or another record, than this reader would.
- Every record must have a USER_ID field: a record with fewer fields than the header's USER_ID
  position, an empty USER_ID (a blank line included), an id of more than 256 characters, or bytes that
  are not UTF-8 anywhere in the file are each a :class:`CsvFormatError` naming the file and the record
  (or byte offset), never the value.
- An empty file (no byte at all) is an error: it has no header. A file holding only its header is valid
  and has no records.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Final, NoReturn

from airflow_provider_personalize_deletion.deletion_file.user_ids import MAX_USER_ID_LENGTH
from airflow_provider_personalize_deletion.scan.errors import CsvFormatError

USER_ID_COLUMN: Final = "USER_ID"
BOM: Final = b"\xef\xbb\xbf"
MAX_RECORD_BYTES: Final = 4 * 1024 * 1024
"""Longest record (or header) read; a longer one is taken for an unclosed quote and refused."""
MIN_PLAIN_RUN: Final = 16 * 1024
"""Fewest bytes without a double quote or backslash that the one-by-one reading hands back to the
line-by-line one (each hand-over copies the carried bytes once)."""

_QUOTED = rb'"(?:[^"\\]++|\\[\s\S]|"")*+"'
_FIELD = rb"(?:" + _QUOTED + rb'|[^,"\\\r\n]*+)'
_ESCAPE = re.compile(rb'\\([\s\S])|""')
#: What an escape in a quoted USER_ID stands for; any other is ambiguous, and refused.
_ESCAPED = {b'"': b'"', b"\\": b"\\", None: b'"'}


@dataclass(frozen=True)
class CsvHeader:
    """
    The header row of one file.

    :param raw: its exact bytes, BOM and line ending included.
    :param user_id_index: the position of ``USER_ID`` among its fields, from 0.
    """

    raw: bytes
    user_id_index: int


@dataclass(frozen=True)
class RecordBlock:
    """
    Whole consecutive records of one file, as written.

    :param data: the records' exact bytes.
    :param user_ids: each record's USER_ID value (unquoted and unescaped), in order; in a pre-filtered
        block, only those of the records at ``positions``.
    :param first_record: the number of the first record in the file, from 1 (the header is not counted).
    :param ends: where each record ends in ``data``, when the reader knew it already (quoted blocks).
    :param positions: in a pre-filtered block, the positions among its records (from 0, increasing) of
        the ids in ``user_ids``: the only records that may be suppressed; None when every record's id is.
    :param count: in a pre-filtered block, how many records it holds.
    """

    data: bytes
    user_ids: list[bytes]
    first_record: int
    ends: list[int] | None = None
    positions: list[int] | None = None
    count: int | None = None

    def __repr__(self) -> str:  # the ids stay out of logs and tracebacks
        return f"RecordBlock({self.records} records from record {self.first_record})"

    @property
    def records(self) -> int:
        """Records in the block."""
        return len(self.user_ids) if self.count is None else self.count

    def record_ends(self) -> list[int]:
        """Where each record ends in :attr:`data` (the offset after its line ending)."""
        if self.ends is not None:
            return self.ends
        ends = [match.end() for match in re.finditer(rb"\n", self.data)]
        if len(ends) < self.records:  # the file's last record, without a line ending
            ends.append(len(self.data))
        return ends

    def without(self, drop: Iterable[int]) -> Iterator[bytes]:
        """
        The block's bytes without some of its records, as pieces of :attr:`data`.

        :param drop: positions in :attr:`user_ids` of the records to leave out, in increasing order.
        """
        if self.positions is not None:
            drop = [self.positions[index] for index in drop]
        return without_records(self.data, self.record_ends(), drop)

    def removed_records(self, drop: list[int]) -> int:
        """
        How many records :meth:`without` leaves out: one per position, as each record names one user.

        :param drop: as for :meth:`without`.
        """
        return len(drop)


def without_records(data: bytes, ends: list[int], drop: Iterable[int]) -> Iterator[bytes]:
    """
    Whole records' bytes without some of them, as pieces of ``data``.

    :param data: consecutive whole records.
    :param ends: where each record ends in ``data`` (the offset after its line ending).
    :param drop: positions of the records to leave out, in increasing order.
    """
    kept_from = 0
    for index in drop:
        start = ends[index - 1] if index else 0
        if start > kept_from:
            yield data[kept_from:start]
        kept_from = ends[index]
    if kept_from < len(data):
        yield data[kept_from:]


Prefilter = Callable[[bytes, int], "tuple[int, list[int], list[int]] | None"]
"""Pre-filters a block of unquoted records (see :meth:`.native.CsvPrefilter.__call__`)."""


class CsvRecordReader:
    """
    Reads one Personalize CSV file from a stream of byte chunks: first :attr:`header`, then blocks.

    :param chunks: the file's decompressed bytes, in chunks of any size.
    :param name: the file's S3 location, for error messages.
    :param prefilter: when given, unquoted blocks it can read are pre-filtered blocks: only the records
        it hands back are read here (their ids and checks); the others are counted. A block it refuses
        is read whole, as without it.
    """

    def __init__(self, chunks: Iterable[bytes], name: str, prefilter: Prefilter | None = None) -> None:
        self.name = name
        self._prefilter = prefilter
        self.prefiltered_records = 0
        """Records of the file read so far in pre-filtered blocks."""
        self._chunks = iter(chunks)
        self._carry = b""
        self._exhausted = False
        self.header = self._read_header()
        index = self.header.user_id_index
        self._fast_ids = re.compile(rb"^(?:[^,\n]*,){%d}([^,\r\n]*)" % index, re.MULTILINE)
        record = rb"(?:%s,){%d}(%s)(?:,%s)*" % (_FIELD, index, _FIELD, _FIELD)
        self._record = re.compile(record + rb"\r?\n")
        self._last_record = re.compile(record + rb"(?:\r?\n|\Z)")
        self._records_read = 0

    def _more(self) -> bool:
        """Append the next chunk to the carried bytes; False at the end of the stream."""
        for chunk in self._chunks:
            if chunk:
                self._carry += chunk
                return True
        self._exhausted = True
        return False

    def _read_header(self) -> CsvHeader:
        while (end := self._carry.find(b"\n")) < 0 and len(self._carry) <= MAX_RECORD_BYTES:
            if not self._more():
                break
        if not self._carry:
            raise CsvFormatError(
                f"{self.name} is empty: a Personalize CSV starts with a header row naming {USER_ID_COLUMN}"
            )
        if end < 0 and not self._exhausted:
            raise CsvFormatError(f"{self.name}: its first line is over {MAX_RECORD_BYTES} bytes")
        raw = self._carry if end < 0 else self._carry[: end + 1]
        self._carry = self._carry[len(raw) :]
        text = raw.removeprefix(BOM).rstrip(b"\r\n")
        names = [name.strip(b'"') for name in text.split(b",")]
        found = [position for position, name in enumerate(names) if name == USER_ID_COLUMN.encode()]
        if len(found) != 1:
            problem = "no" if not found else "more than one"
            raise CsvFormatError(
                f"{self.name} has {problem} {USER_ID_COLUMN} column in its header row: Personalize "
                f"interactions and users CSVs need exactly one, named exactly {USER_ID_COLUMN}"
            )
        return CsvHeader(raw, found[0])

    def __iter__(self) -> Iterator[RecordBlock]:
        while True:
            if not self._exhausted and len(self._carry) < MAX_RECORD_BYTES:
                self._more()
            if not self._carry:
                if self._exhausted:
                    return
                continue
            block = self._take_block()
            if block is not None:
                self._check(block)
                self._records_read += block.records
                yield block
            elif len(self._carry) > MAX_RECORD_BYTES:
                self._fail_record(
                    0,
                    f"is not a whole record within {MAX_RECORD_BYTES} bytes (a quote "
                    "never closed, or a record too long)",
                )

    def _take_block(self) -> RecordBlock | None:
        """
        Cut whole records off the carried bytes; None when they hold none yet.

        The lines before the first double quote or backslash are read line by line (and pre-filtered);
        from there the records are read one by one until at least :data:`MIN_PLAIN_RUN` bytes without
        either follow, so that a quoted record now and then does not send the whole carry down the
        slower path.
        """
        data = self._carry
        special = _first_special(data)
        plain = data if special is None else data[: data.rfind(b"\n", 0, special) + 1]
        if plain and not _has_lone_cr(plain):
            cut = len(data) if self._exhausted and special is None else plain.rfind(b"\n") + 1
            if cut:
                block = self._unquoted_block(data[:cut])
                if block is not None:
                    self._carry = data[cut:]
                    return block
        return self._quoted_block(special)

    def _unquoted_block(self, data: bytes) -> RecordBlock | None:
        """The block of ``data`` read line by line; None when a line lacks the USER_ID field."""
        if self._prefilter is not None:
            found = self._prefilter(data, self.header.user_id_index)
            if found is not None:
                count, positions, offsets = found
                self.prefiltered_records += count
                fast_id = self._fast_ids.match
                candidates = [fast_id(data, offset).group(1) for offset in offsets]  # type: ignore[union-attr]
                return RecordBlock(data, candidates, self._records_read + 1, positions=positions, count=count)
        records = data.count(b"\n") + (not data.endswith(b"\n"))
        ids = self._fast_ids.findall(data, 0, len(data) - data.endswith(b"\n"))
        if len(ids) != records:
            return None
        return RecordBlock(data, ids, self._records_read + 1)

    def _quoted_block(self, special: int | None) -> RecordBlock | None:
        """
        Records read one by one from the carried bytes' start; None when they hold none whole yet.

        :param special: where the first double quote or backslash is; reading stops after a record
            past it that :data:`MIN_PLAIN_RUN` bytes without either follow (None: read to the end).
        """
        data, position = self._carry, 0
        ids: list[bytes] = []
        ends: list[int] = []
        unmatched = broken = False
        stop = len(data) if special is None else special + 1
        specials = _Specials(data)
        while position < stop:
            match = self._record.match(data, position)
            if match is None and self._exhausted:
                match = self._last_record.match(data, position)
            if match is None:
                line_end = data.find(b"\n", position)  # a whole unquoted line that is no record
                unmatched, broken = True, line_end >= 0 and b'"' not in data[position:line_end]
                break
            user_id = _unquote(match.group(1))
            if user_id is None:
                self._fail_record(
                    len(ids),
                    f"has a backslash in its quoted {USER_ID_COLUMN} that escapes neither "
                    "'\"' nor '\\\\': read differently by different CSV readers",
                )
            ids.append(user_id)
            position = match.end()
            ends.append(position)
            if position >= stop < len(data):
                special = specials.after(position)
                if special is not None and special - position < MIN_PLAIN_RUN:
                    stop = special + 1
        if unmatched and (broken or self._exhausted):
            self._fail_record(
                len(ids),
                "is not valid CSV: a double quote or a backslash inside an unquoted field, a carriage "
                "return not followed by a line feed outside quotes, a quote never closed, or fewer fields "
                f"than the header's {USER_ID_COLUMN} position",
            )
        if not ids:
            return None
        self._carry = data[position:]
        return RecordBlock(data[:position], ids, self._records_read + 1, ends)

    def _check(self, block: RecordBlock) -> None:
        data = block.data
        if not data.isascii():
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as error:
                raise CsvFormatError(
                    f"{self.name}: the bytes at offset {error.start} of record block "
                    f"{block.first_record}+ are not UTF-8, which Personalize requires"
                ) from None
        if not all(block.user_ids):
            self._fail_record(block.user_ids.index(b""), f"has an empty {USER_ID_COLUMN}", block)
        if max(map(len, block.user_ids), default=0) > MAX_USER_ID_LENGTH:
            for position, user_id in enumerate(block.user_ids):
                if len(user_id.decode("utf-8")) > MAX_USER_ID_LENGTH:
                    self._fail_record(
                        position,
                        f"has a {USER_ID_COLUMN} of more than {MAX_USER_ID_LENGTH} characters, the most "
                        "Personalize takes",
                        block,
                    )

    def _fail_record(self, position: int, problem: str, block: RecordBlock | None = None) -> NoReturn:
        first = block.first_record if block else self._records_read + 1
        raise CsvFormatError(f"{self.name}: record {first + position} (after the header) {problem}")


def _first_special(data: bytes) -> int | None:
    """Where the first double quote or backslash of ``data`` is; None when it has neither."""
    return _Specials(data).after(0)


class _Specials:
    """
    The double quotes and backslashes of ``data``, found forwards: each character is searched for again
    only once the reading has passed the last one found, so that the searches read ``data`` once.
    """

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._next: dict[bytes, int | None] = {character: -1 for character in (b'"', b"\\")}

    def after(self, start: int) -> int | None:
        """The first double quote or backslash at ``start`` or later; None when there is none."""
        found = []
        for character, index in self._next.items():
            if index is not None and index < start:
                index = self._data.find(character, start)
                self._next[character] = index = None if index < 0 else index
            if index is not None:
                found.append(index)
        return min(found, default=None)


def _has_lone_cr(data: bytes) -> bool:
    """Whether ``data`` holds a CR not followed by LF (``in`` first: it costs a tenth of a count)."""
    return b"\r" in data and data.count(b"\r") != data.count(b"\r\n")


def _unquote(value: bytes) -> bytes | None:
    """A field's value: itself when unquoted, else its content with the escapes read; None when it holds
    an escape other than ``\\"``, ``\\\\`` and ``""``."""
    if not value.startswith(b'"'):
        return value
    content = value[1:-1]
    if b"\\" not in content:
        return content.replace(b'""', b'"')
    if any(match.group(1) not in _ESCAPED for match in _ESCAPE.finditer(content)):
        return None
    return _ESCAPE.sub(lambda match: _ESCAPED[match.group(1)], content)
