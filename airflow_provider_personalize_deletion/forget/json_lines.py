"""
Personalize's JSON Lines files, read line by line: which users each line names, and the line without them.

Each line that is not blank (only spaces, tabs, CR) is a record and must be a UTF-8 JSON object (a BOM
before the first line is allowed) that names no member twice in one object; anything else is a
:class:`JsonLinesFormatError` naming the object, the line number and the rule, never the line. Two
shapes:

- :class:`UserAtPath`: one user per line at a path of keys (``userId`` in a batch inference input,
  ``input.userId`` in its output). A line without the key names no user (an item-based job's
  ``{"itemId": ...}``); a value there that is not a string is an error. The line of a matched user is
  dropped whole.
- :class:`UserArrays`: arrays of users in an object of the line (a batch segment output's
  ``output.usersList``, or ``output.recommendedUsers`` as the documentation names it; both are read).
  A matched user is taken out of the array and the line is kept. What is written anew is the array
  alone: ``[``, the exact bytes of each kept element, separated by the separator the array had after
  its first element (``,`` when it had one element), ``]``. Whitespace just inside the brackets goes;
  every other byte of the line, its line ending included, stays as it was.

A user id matches by its exact bytes: the JSON string's value, encoded as UTF-8 (so ``"\\u00e9"`` and
``"é"`` are the same id, as they are to Personalize).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any, ClassVar, Protocol

from airflow_provider_personalize_deletion.forget.lines import line_blocks
from airflow_provider_personalize_deletion.scan.errors import JsonLinesFormatError

_SPACE = " \t\n\r"
_DECODER = json.JSONDecoder()
_BOM = "\ufeff"


def id_bytes(value: str) -> bytes:
    """A JSON string's user id as the bytes it is matched by (lone surrogates kept as they are)."""
    return value.encode("utf-8", "surrogatepass")


class LineShape(Protocol):
    """Where a JSON Lines format names its users, and what a line becomes without some of them."""

    drops_line: ClassVar[bool]
    """Whether a line naming a matched user goes whole (else it is kept without the user)."""

    def users(self, line: dict[str, Any], where: str) -> list[str]:
        """
        :param line: the line, parsed.
        :param where: the object and line, for error messages.
        :return: the user ids it names, in order.
        """

    def without(self, text: str, matched: set[bytes]) -> bytes:
        """
        :param text: the line, as written (decoded), its line ending included.
        :param matched: the ids to take out.
        :return: the line's new bytes; empty to drop the line.
        """


@dataclass(frozen=True)
class UserAtPath:
    """
    One user per line, at a path of keys.

    :param path: the keys, outermost first (``("input", "userId")``).
    """

    path: tuple[str, ...]
    drops_line: ClassVar[bool] = True

    def users(self, line: dict[str, Any], where: str) -> list[str]:
        value: Any = line
        for key in self.path:
            if not isinstance(value, dict) or key not in value:
                return []
            value = value[key]
        if not isinstance(value, str):
            raise JsonLinesFormatError(f"{where}: {'.'.join(self.path)} is not a string")
        return [value]

    def without(self, text: str, matched: set[bytes]) -> bytes:
        return b""


@dataclass(frozen=True)
class UserArrays:
    """
    Arrays of users, under an object of the line.

    :param container: the key of the object holding the arrays (``output``).
    :param names: the arrays' keys; each one present is read.
    """

    container: str
    names: tuple[str, ...]
    drops_line: ClassVar[bool] = False

    def users(self, line: dict[str, Any], where: str) -> list[str]:
        holder = line.get(self.container)
        if not isinstance(holder, dict):
            return []
        users: list[str] = []
        for name in self.names:
            array = holder.get(name)
            if array is None:
                continue
            if not isinstance(array, list) or not all(isinstance(user, str) for user in array):
                raise JsonLinesFormatError(f"{where}: {self.container}.{name} is not an array of strings")
            users.extend(array)
        return users

    def without(self, text: str, matched: set[bytes]) -> bytes:
        pieces: list[str] = []
        kept_from = 0
        for key, start, _ in _members(text, _skip(text, len(_BOM) * text.startswith(_BOM))):
            if key != self.container or text[start] != "{":
                continue
            for name, array_start, array_end in _members(text, start):
                if name in self.names and text[array_start] == "[":
                    pieces += [text[kept_from:array_start], _array_without(text, array_start, matched)]
                    kept_from = array_end
        pieces.append(text[kept_from:])
        return id_bytes("".join(pieces))


def _array_without(text: str, start: int, matched: set[bytes]) -> str:
    """The array at ``text[start]`` written anew without the matched elements."""
    elements = list(_elements(text, start))
    separator = text[elements[0][2] : elements[1][1]] if len(elements) > 1 else ","
    kept = [text[first:end] for value, first, end in elements if id_bytes(value) not in matched]
    return "[" + separator.join(kept) + "]"


def _skip(text: str, position: int) -> int:
    """The position of the first character from ``position`` on that is not JSON whitespace."""
    while position < len(text) and text[position] in _SPACE:
        position += 1
    return position


def _members(text: str, position: int) -> Iterator[tuple[str, int, int]]:
    """Each member of the JSON object at ``text[position]``: its key and its value's span."""
    position = _skip(text, position + 1)
    if text[position] == "}":
        return
    while True:
        key, position = scanstring(text, position + 1)
        start = _skip(text, _skip(text, position) + 1)  # past the colon
        end = _DECODER.raw_decode(text, start)[1]
        yield key, start, end
        position = _skip(text, end)
        if text[position] == "}":
            return
        position = _skip(text, position + 1)


def _elements(text: str, position: int) -> Iterator[tuple[Any, int, int]]:
    """Each element of the JSON array at ``text[position]``: its value and span."""
    position = _skip(text, position + 1)
    if text[position] == "]":
        return
    while True:
        value, end = _DECODER.raw_decode(text, position)
        yield value, position, end
        position = _skip(text, end)
        if text[position] == "]":
            return
        position = _skip(text, position + 1)


@dataclass(frozen=True)
class JsonLinesBlock:
    """
    Whole lines of a JSON Lines object and the users they name.

    :param data: the lines' exact bytes.
    :param user_ids: each named user's id bytes, in order.
    :param owners: the line (position in the block) naming each of :attr:`user_ids`.
    :param ends: where each line ends in :attr:`data`.
    :param records: lines that are records (not blank).
    :param shape: where the users are, and what a line becomes without some.
    """

    data: bytes
    user_ids: list[bytes]
    owners: list[int]
    ends: list[int]
    records: int
    shape: LineShape

    def __repr__(self) -> str:  # the ids stay out of logs and tracebacks
        return f"JsonLinesBlock({self.records} records, {len(self.user_ids)} users)"

    def removed_records(self, matched: list[int]) -> int:
        """
        How many lines :meth:`without` leaves out.

        :param matched: as for :meth:`without`.
        """
        return len({self.owners[position] for position in matched}) if self.shape.drops_line else 0

    def without(self, matched: Iterable[int]) -> Iterator[bytes]:
        """
        The block's bytes without some of its users, as pieces.

        :param matched: positions in :attr:`user_ids` of the users to take out.
        """
        by_line: dict[int, set[bytes]] = {}
        for position in matched:
            by_line.setdefault(self.owners[position], set()).add(self.user_ids[position])
        kept_from = 0
        for index in sorted(by_line):
            start = self.ends[index - 1] if index else 0
            yield self.data[kept_from:start]
            line = self.data[start : self.ends[index]].decode("utf-8", "surrogatepass")
            yield self.shape.without(line, by_line[index])
            kept_from = self.ends[index]
        yield self.data[kept_from:]


def json_lines_blocks(shape: LineShape, chunks: Iterable[bytes], name: str) -> Iterator[JsonLinesBlock]:
    """
    Read a JSON Lines object block by block.

    :param shape: where its lines name users.
    :param chunks: its (decompressed) bytes.
    :param name: its location, for error messages.
    :raises JsonLinesFormatError: a line breaks a rule (its message names the line, never its content).
    """
    for block in line_blocks(chunks, name):
        lines = block.lines()
        user_ids: list[bytes] = []
        owners: list[int] = []
        records = 0
        for index, line in enumerate(lines):
            if not line.strip(b" \t\r"):
                continue
            where = f"{name}: line {block.first_line + index}"
            users = shape.users(_parsed(line, where, first=block.first_line + index == 1), where)
            records += 1
            user_ids.extend(map(id_bytes, users))
            owners.extend([index] * len(users))
        yield JsonLinesBlock(block.data, user_ids, owners, block.line_ends(lines), records, shape)


class _RepeatedMember(Exception):
    """An object of a line names a member twice."""


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise _RepeatedMember
    return members


#: Parses a line, refusing an object with a member named twice: readers differ on which one counts
#: (``{"userId": "a", "user\\u0049d": "b"}`` is ``b`` here), so such a line could hide a user.
_LINE_DECODER = json.JSONDecoder(object_pairs_hook=_unique_members)


def _parsed(line: bytes, where: str, first: bool) -> dict[str, Any]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise JsonLinesFormatError(f"{where} is not UTF-8 (byte {error.start})") from None
    try:
        value = _LINE_DECODER.decode(text.removeprefix(_BOM) if first else text)
    except json.JSONDecodeError as error:
        raise JsonLinesFormatError(f"{where} is not valid JSON ({error.msg}, column {error.colno})") from None
    except _RepeatedMember:
        raise JsonLinesFormatError(
            f"{where} names a member twice in one object (readers differ on which counts)"
        ) from None
    if not isinstance(value, dict):
        raise JsonLinesFormatError(f"{where} is not a JSON object")
    return value
