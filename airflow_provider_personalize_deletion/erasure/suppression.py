"""
The suppression list: every user an erasure run marked erased, kept after their requests are gone.

An entry holds ``user_key``, the hex HMAC-SHA256 of the user id's exact UTF-8 bytes under the
fingerprint key, and ``key_id``, an id of that key which tells nothing about it. Never the id, and
never an unkeyed digest: a hash of one id is the id, for whoever can guess it.

A reader is given the key (and the keys of a rotation that entries still carry, see
:mod:`.rekey`): an entry made with any other key makes every read fail with
:class:`~.exceptions.SuppressionKeyError`, so a user is never reported as not suppressed because
the key rotated or was lost.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_personalize_deletion.deletion_file.fingerprint import MIN_KEY_BYTES
from airflow_provider_personalize_deletion.erasure.table_names import is_table_name
from airflow_provider_personalize_deletion.exceptions import SuppressionKeyError
from airflow_provider_personalize_deletion.transfers.sql_cursor import column_batches, database_errors

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

#: The default name of the suppression table (Variable ``personalize_erasure_suppression_table``).
SUPPRESSION_TABLE = "erasure_suppression"
#: What the key id is the HMAC of: a fixed text, so the id names the key without revealing it.
_KEY_ID_MESSAGE = b"personalize-deletion suppression key id"
_KEY_ID_HEX_DIGITS = 16
#: Rows per INSERT statement: 4 parameters each stay under SQLite's oldest limit of 999.
_ROWS_PER_INSERT = 200
#: Digests per ``IN (...)`` lookup of :meth:`SuppressionList.contains`.
_KEYS_PER_LOOKUP = 500


def checked_key(key: object) -> bytes:
    """
    The fingerprint key, refused when it is not bytes of at least ``MIN_KEY_BYTES``.

    :param key: the secret key.
    """
    if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
        raise ValueError(f"The suppression list's key must be at least {MIN_KEY_BYTES} bytes long")
    return key


def key_id(key: bytes) -> str:
    """
    The id an entry records of the key it was made with: 16 hex digits of an HMAC of a fixed text.

    :param key: the secret key.
    """
    return hmac.digest(checked_key(key), _KEY_ID_MESSAGE, "sha256").hex()[:_KEY_ID_HEX_DIGITS]


def user_digest(key: bytes, user_id: str) -> bytes:
    """
    The 32-byte HMAC-SHA256 of a user id's exact bytes (``user_key`` is its hex).

    A value read from SQLite that is not UTF-8 holds its bytes as lone surrogates
    (:mod:`~.transfers.sql_cursor`): they are encoded back to those bytes.

    :param key: the secret key (checked by the caller: this runs once per id).
    :param user_id: the user id.
    """
    return hmac.digest(key, user_id.encode("utf-8", "surrogateescape"), "sha256")


def entry_rows(
    key: bytes, request_ids: Sequence[Any], user_ids: Sequence[Any], suppressed_at: Sequence[str] | str
) -> list[tuple[str, str, str, str]]:
    """
    The entries of erased requests, ``(user_key, key_id, suppressed_at, request_id)`` each; a request
    without a user id (NULL) has none.

    :param key: the secret key.
    :param request_ids: the requests' ids.
    :param user_ids: their user ids, in the same order.
    :param suppressed_at: when each was suppressed (SQL timestamp text), or one time for all.
    """
    identifier = key_id(key)
    times = [suppressed_at] * len(request_ids) if isinstance(suppressed_at, str) else suppressed_at
    return [
        (user_digest(key, user_id).hex(), identifier, when, request_id)
        for request_id, user_id, when in zip(request_ids, user_ids, times, strict=True)
        if isinstance(user_id, str)
    ]


def insert_entries(cursor: Any, table: str, placeholder: str, rows: Sequence[tuple[str, ...]]) -> int:
    """
    Insert the entries that are not in the list yet, on the caller's cursor (and transaction).

    A user already in the list keeps its entry: when first suppressed, and by which request.

    :param cursor: a DB-API cursor of the caller's transaction.
    :param table: the suppression table.
    :param placeholder: the driver's parameter placeholder.
    :param rows: ``(user_key, key_id, suppressed_at, request_id)`` each.
    :return: how many entries were new.
    """
    added = 0
    row_marks = f"({placeholder}, {placeholder}, {placeholder}, {placeholder})"
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start : start + _ROWS_PER_INSERT]
        cursor.execute(
            f"INSERT INTO {table} (user_key, key_id, suppressed_at, request_id) "
            f"VALUES {', '.join([row_marks] * len(chunk))} ON CONFLICT (user_key) DO NOTHING",
            [value for row in chunk for value in row],
        )
        added += max(cursor.rowcount, 0)
    return added


class SuppressionList:
    """
    Reads the suppression list, refusing any read while it holds entries of a key it was not given.

    :param hook: the warehouse's hook.
    :param table: the suppression table, optionally schema-qualified.
    """

    def __init__(self, hook: DbApiHook, table: str = SUPPRESSION_TABLE) -> None:
        if not is_table_name(table):
            raise ValueError("Invalid parameter 'table': must be a plain SQL table name")
        self.hook = hook
        self.table = table

    @database_errors("Counting the suppression list's entries by key id")
    def key_counts(self) -> dict[str, int]:
        """How many entries carry each key id."""
        rows = self.hook.get_records(f"SELECT key_id, COUNT(*) FROM {self.table} GROUP BY key_id")
        return {str(identifier): int(count) for identifier, count in rows}

    def check_key(self, key: bytes, previous_keys: Sequence[bytes] = ()) -> list[bytes]:
        """
        Fail unless every entry was made with ``key`` or one of ``previous_keys``.

        :param key: the fingerprint key.
        :param previous_keys: keys of a rotation whose entries no surviving request could re-key
            (see :func:`.rekey.rekey_suppression_list`).
        :return: the keys entries are made with, ``key`` first: a user is suppressed when the
            digest of its id under any of them is in the list.
        :raises SuppressionKeyError: naming how many entries carry which other key id.
        """
        keys = _given_keys(key, previous_keys)
        counts = self.key_counts()
        foreign = {identifier: count for identifier, count in counts.items() if identifier not in keys}
        if foreign:
            raise SuppressionKeyError(self.table, foreign, list(keys))
        return [keys[identifier] for identifier in keys if identifier == key_id(key) or identifier in counts]

    def digests(
        self, key: bytes, previous_keys: Sequence[bytes] = (), batch_size: int = 50_000
    ) -> Iterator[bytes]:
        """
        Every entry's 32-byte digest, streamed from the warehouse ``batch_size`` rows at a time.

        The key is checked before the first digest (:meth:`check_key`), and every batch's key ids
        again, so an entry written meanwhile with another key fails the read too.

        :param key: the fingerprint key.
        :param previous_keys: as for :meth:`check_key`; then a user is suppressed when its digest
            under any of the keys :meth:`check_key` returns is among these.
        :param batch_size: rows fetched at a time.
        :raises SuppressionKeyError: an entry was made with another key.
        """
        self.check_key(key, previous_keys)
        accepted = set(_given_keys(key, previous_keys))
        with contextlib.closing(self.hook.get_conn()) as connection:
            batches = column_batches(
                connection,
                f"SELECT user_key, key_id FROM {self.table}",
                None,
                batch_size,
                f"the entries of {self.table}",
            )
            for user_keys, key_ids in batches:
                if not accepted.issuperset(key_ids):
                    self.check_key(key, previous_keys)  # raises, with the counts
                yield from map(bytes.fromhex, user_keys)

    def contains(
        self, key: bytes, user_ids: Iterable[str], previous_keys: Sequence[bytes] = ()
    ) -> list[bool]:
        """
        Tell, for each of a few user ids, whether it is suppressed; in order.

        :param key: the fingerprint key.
        :param user_ids: the user ids (a small set: their digests are held in memory).
        :param previous_keys: as for :meth:`check_key`.
        :raises SuppressionKeyError: an entry was made with another key (checked before the lookup
            and again after it, so one written meanwhile fails it too).
        """
        keys = self.check_key(key, previous_keys)
        ids = list(user_ids)
        digests = [[user_digest(each, user_id).hex() for each in keys] for user_id in ids]
        found = self._lookup([digest for per_id in digests for digest in per_id])
        self.check_key(key, previous_keys)
        return [any(digest in found for digest in per_id) for per_id in digests]

    @database_errors("Looking users up in the suppression list")
    def _lookup(self, user_keys: list[str]) -> set[str]:
        """The given ``user_key`` values that are in the list; through a plain cursor, as the ids'
        digests must not reach Airflow's hook-lineage collector."""
        found: set[str] = set()
        p = self.hook.placeholder
        with contextlib.closing(self.hook.get_conn()) as connection:
            cursor = connection.cursor()
            for start in range(0, len(user_keys), _KEYS_PER_LOOKUP):
                chunk = user_keys[start : start + _KEYS_PER_LOOKUP]
                cursor.execute(
                    f"SELECT user_key FROM {self.table} WHERE user_key IN ({', '.join([p] * len(chunk))})",
                    chunk,
                )
                found.update(row[0] for row in cursor.fetchall())
        return found


def _given_keys(key: bytes, previous_keys: Sequence[bytes]) -> dict[str, bytes]:
    """The keys a reader was given, by key id, ``key`` first."""
    keys = {key_id(key): key}
    for previous in previous_keys:
        keys.setdefault(key_id(previous), previous)
    return keys
