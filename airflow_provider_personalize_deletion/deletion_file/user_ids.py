"""
Which values Amazon Personalize can take as a user id, and why the others cannot.

A deletion file holds one id per line, so an id with a line break cannot be written; Personalize
takes ids of 1 to 256 characters, UTF-8 encoded. Values are checked exactly as stored: nothing is
trimmed, because a trimmed id could name another user.

Checks run on whole fetch batches with C-level string operations; a batch goes value by value only
when it holds a value that is not text (a string, or bytes read as UTF-8) or that breaks a rule, so
the common all-valid batch costs a few passes over one joined string, which is also its id lines.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_USER_ID_LENGTH = 256
"""Longest user id Personalize takes, in characters."""

NULL = "null"
EMPTY = "empty"
TOO_LONG = "too_long"
LINE_BREAK = "line_break"
NOT_UTF8 = "not_utf8"
INVALID_REASONS = (NULL, EMPTY, TOO_LONG, LINE_BREAK, NOT_UTF8)
"""Why a value is not a user id, in the order they are checked: a value counts under the first."""


def as_text(value: object) -> str | None:
    """
    Return a database value as the text of a user id.

    :param value: one value of the id column; ``None`` for SQL NULL.
    :return: the value itself for a string, ``None`` for NULL, the UTF-8 decoding of bytes (``None``
        is never returned for bytes: undecodable bytes raise), ``str(value)`` for anything else
        (integers, UUIDs, decimals).
    :raises UnicodeDecodeError: for bytes that are not UTF-8.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8")
    return str(value)


def invalid_reason(value: object) -> str | None:
    """
    Tell why one database value cannot be a user id.

    :param value: one value of the id column.
    :return: one of :data:`INVALID_REASONS`, or ``None`` when the value is a valid id.
    """
    try:
        text = as_text(value)
    except UnicodeDecodeError:
        return NOT_UTF8
    if text is None:
        return NULL
    if not text:
        return EMPTY
    if "\n" in text or "\r" in text:
        return LINE_BREAK
    if len(text) > MAX_USER_ID_LENGTH:
        return TOO_LONG
    if not _encodes_as_utf8(text):
        return NOT_UTF8
    return None


def _encodes_as_utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, e.g. from a driver's surrogateescape decoding
        return False
    return True


class UserIdValidator:
    """
    Keeps the valid user ids of each batch and counts the invalid values by reason.

    The counts never hold a value: they are safe to log and to return.
    """

    def __init__(self) -> None:
        self.invalid: dict[str, int] = dict.fromkeys(INVALID_REASONS, 0)

    @property
    def invalid_count(self) -> int:
        """Number of invalid values seen so far."""
        return sum(self.invalid.values())

    def valid_id_lines(self, values: Sequence[object]) -> tuple[bytes, int]:
        """
        Return the valid user ids of a batch as id lines, in their order, and their number; count the others.

        :param values: the id column of one fetched batch.
        :return: the valid ids, UTF-8, each followed by ``b"\\n"``; how many there are.
        """
        id_lines = _valid_batch_id_lines(values)
        if id_lines is None:
            valid = self._sorted_out(values)
            id_lines = "".join(f"{user_id}\n" for user_id in valid).encode("utf-8")
            return id_lines, len(valid)
        return id_lines, len(values)

    def _sorted_out(self, values: Sequence[object]) -> list[str]:
        valid: list[str] = []
        for value in values:
            reason = invalid_reason(value)
            if reason is None:
                valid.append(as_text(value))  # type: ignore[arg-type]
            else:
                self.invalid[reason] += 1
        return valid


def _valid_batch_id_lines(values: Sequence[object]) -> bytes | None:
    """
    The id lines of a batch whose every value is a valid id, with C-level checks of the whole batch.

    :return: ``None`` when a value is invalid or not text (a string, or bytes taken as UTF-8 text),
        or when the batch mixes both: the caller then checks value by value.
    """
    if not values:
        return b""
    try:
        return _valid_text_batch_id_lines(values)  # type: ignore[arg-type]
    except TypeError:  # not all strings
        pass
    try:
        return _valid_bytes_batch_id_lines(values)  # type: ignore[arg-type]
    except TypeError:  # not all bytes: integers from the database, NULLs, a mix
        pass
    try:
        texts = [as_text(value) for value in values]
    except UnicodeDecodeError:
        return None
    if None in texts:
        return None
    return _valid_text_batch_id_lines(texts)  # type: ignore[arg-type]


def _valid_text_batch_id_lines(values: Sequence[str]) -> bytes | None:
    """
    The id lines of a batch of strings that are all valid ids, else ``None``.

    :raises TypeError: when a value is not a string.
    """
    joined = "\n".join(values)
    if not (
        joined.count("\n") == len(values) - 1
        and "\r" not in joined
        and all(values)
        and max(map(len, values)) <= MAX_USER_ID_LENGTH
    ):
        return None
    try:
        return (joined + "\n").encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, e.g. from a driver's surrogateescape decoding
        return None


def _valid_bytes_batch_id_lines(values: Sequence[bytes]) -> bytes | None:
    """
    The id lines of a batch of bytes that are all valid ids, else ``None``.

    Bytes are taken as UTF-8 text, as :func:`as_text` reads them. A batch holding an id of more than
    :data:`MAX_USER_ID_LENGTH` bytes is left to the value by value check, which counts characters.

    :raises TypeError: when a value is not bytes-like.
    """
    joined = b"\n".join(values)
    if not (
        joined.count(b"\n") == len(values) - 1
        and b"\r" not in joined
        and all(values)
        and max(map(len, values)) <= MAX_USER_ID_LENGTH
        and _decodes_as_utf8(joined)
    ):
        return None
    return joined + b"\n"


def _decodes_as_utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
