"""
Re-keying the suppression list after the fingerprint key changed, from the erased requests' user ids.

The list holds keyed digests only, so an entry cannot be re-keyed by itself: the id is needed, and
the erased requests still hold it. Each batch of erased requests is one transaction: its users'
entries under the new key are added and, for each old key given, their entries under that key are
deleted, the new entry keeping when and by which request the user was first suppressed. A rerun
after an interruption redoes what is left: adding an entry that exists, or deleting one that is
gone, changes nothing. Run on a list made before the suppression list existed, it adds the entries
of the requests erased before.

An entry no surviving request can re-key (its requests were purged) is never dropped silently:

- under an old key given: kept under its key id, which readers must then be given as a previous key;
- under a key id named in ``drop_key_ids`` (a key that is lost): deleted once every surviving
  request is re-keyed, and counted; those users are recognised no more;
- under any other key id: the re-key refuses, before it changes anything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from airflow_provider_personalize_deletion.erasure.columns import USER_KEY_ID, has_column
from airflow_provider_personalize_deletion.erasure.store import (
    ERASED,
    ErasureRequestStore,
    check_batch_size,
    sql_timestamp,
)
from airflow_provider_personalize_deletion.erasure.suppression import (
    SuppressionList,
    checked_key,
    entry_rows,
    insert_entries,
    key_id,
    user_digest,
)
from airflow_provider_personalize_deletion.exceptions import SuppressionKeyError
from airflow_provider_personalize_deletion.transfers.sql_cursor import column_batches, database_errors

#: Digests per ``IN (...)`` list when old entries are looked up and deleted.
_KEYS_PER_STATEMENT = 500


@dataclass(frozen=True)
class RekeyReport:
    """
    What a re-key did; counts and key ids only.

    :param key_id: the new key's id.
    :param requests: erased requests read.
    :param added: entries added under the new key.
    :param replaced: entries under an old key given that were replaced by their new entry.
    :param kept: entries left under each old key id, which no surviving request re-keys: readers
        must be given that key as a previous key.
    :param dropped: entries deleted under each key id of ``drop_key_ids``.
    """

    key_id: str
    requests: int
    added: int
    replaced: int
    kept: dict[str, int]
    dropped: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON."""
        return asdict(self)


def rekey_suppression_list(
    store: ErasureRequestStore,
    new_key: bytes,
    *,
    old_keys: Sequence[bytes] = (),
    drop_key_ids: Collection[str] = (),
    batch_size: int = 10_000,
) -> RekeyReport:
    """
    Make every erased request's user an entry under ``new_key``; idempotent and resumable.

    :param store: the request store, whose tables hold the requests and the list.
    :param new_key: the fingerprint key from now on.
    :param old_keys: keys entries were made with before; their entries are replaced.
    :param drop_key_ids: ids of lost keys whose entries no surviving request re-keys may be deleted.
    :param batch_size: erased requests per transaction, at least 1.
    :raises ValueError: a ``batch_size`` below 1, or ``drop_key_ids`` naming the new key's id.
    :raises SuppressionKeyError: entries carry a key id neither given nor to drop; nothing changed.
    """
    check_batch_size(batch_size)  # LIMIT 0 re-keys nothing, and drop_key_ids would delete every entry
    new_id = key_id(checked_key(new_key))
    old = {key_id(key): key for key in old_keys if key_id(key) != new_id}
    drop = set(drop_key_ids)
    if new_id in drop:
        raise ValueError("Invalid parameter 'drop_key_ids': must not name the new key's id")
    suppression = SuppressionList(store.hook, store.suppression_table)
    unknown = {
        identifier: count
        for identifier, count in suppression.key_counts().items()
        if identifier != new_id and identifier not in old and identifier not in drop
    }
    if unknown:
        raise SuppressionKeyError(
            store.suppression_table,
            unknown,
            [new_id, *old],
            "Re-keying refused, nothing changed: give the key that made them (--old-key-env), or, if "
            "it is lost, name its key id with --drop-key-id: their entries that no surviving erased "
            "request re-keys are then deleted, and those users are no longer recognised",
        )
    requests = added = replaced = 0
    after = ""
    while True:
        read, batch_added, batch_replaced, last = _rekey_batch(store, new_key, old, after, batch_size)
        if not read:
            break
        requests, added, replaced, after = (
            requests + read,
            added + batch_added,
            replaced + batch_replaced,
            last,
        )
    dropped = _drop(store, sorted(drop)) if drop else {}
    kept = {
        identifier: count for identifier, count in suppression.key_counts().items() if identifier != new_id
    }
    return RekeyReport(new_id, requests, added, replaced, kept, dropped)


@database_errors("Re-keying a batch of the suppression list")
def _rekey_batch(
    store: ErasureRequestStore, new_key: bytes, old: dict[str, bytes], after: str, batch_size: int
) -> tuple[int, int, int, str]:
    """
    Re-key the users of the erased requests after ``after`` (by request id), ``batch_size`` of them,
    in one transaction.

    :return: requests read, entries added, old entries replaced, the last request id read.
    """
    p = store.hook.placeholder
    # a request whose id was replaced by its keyed hash (:mod:`.retention`) has no id left to re-key
    held = f"AND {USER_KEY_ID} IS NULL " if has_column(store.hook, store.requests_table, USER_KEY_ID) else ""
    connection = store.hook.get_conn()
    try:
        batch = list(
            column_batches(
                connection,
                f"SELECT request_id, user_id, erased_at FROM {store.requests_table} "
                f"WHERE status = {p} AND request_id > {p} {held}ORDER BY request_id LIMIT {int(batch_size)}",
                (ERASED, after),
                batch_size,
                f"the erased requests of {store.requests_table}",
            )
        )
        if not batch:
            return 0, 0, 0, after
        request_ids, user_ids, erased_at = batch[0]
        now = sql_timestamp(datetime.now(timezone.utc))
        first = {index: (when or now, request_ids[index]) for index, when in enumerate(erased_at)}
        cursor = connection.cursor()
        replaced = 0
        for identifier, key in old.items():
            digests: dict[str, int] = {}  # a user's first request in the batch: its row is inserted first
            for index, user_id in enumerate(user_ids):
                if isinstance(user_id, str):
                    digests.setdefault(user_digest(key, user_id).hex(), index)
            for user_key, when, request_id in _old_entries(connection, store, identifier, list(digests)):
                first[digests[user_key]] = (when, request_id)
            replaced += _delete(cursor, store, identifier, list(digests))
        times = [first[index][0] for index in range(len(request_ids))]
        firsts = [first[index][1] for index in range(len(request_ids))]
        added = insert_entries(
            cursor, store.suppression_table, p, entry_rows(new_key, firsts, user_ids, times)
        )
        connection.commit()
    finally:
        connection.close()
    return len(request_ids), added, replaced, str(request_ids[-1])


def _old_entries(
    connection: Any, store: ErasureRequestStore, identifier: str, user_keys: list[str]
) -> list[tuple[str, Any, str]]:
    """The entries under key id ``identifier`` among ``user_keys``: (user_key, suppressed_at, request_id)."""
    p = store.hook.placeholder
    found: list[tuple[str, Any, str]] = []
    for start in range(0, len(user_keys), _KEYS_PER_STATEMENT):
        chunk = user_keys[start : start + _KEYS_PER_STATEMENT]
        for keys, times, requests in column_batches(
            connection,
            f"SELECT user_key, suppressed_at, request_id FROM {store.suppression_table} "
            f"WHERE key_id = {p} AND user_key IN ({', '.join([p] * len(chunk))})",
            (identifier, *chunk),
            len(chunk),
            f"the entries of {store.suppression_table}",
        ):
            found.extend(zip(keys, times, requests, strict=True))
    return found


def _delete(cursor: Any, store: ErasureRequestStore, identifier: str, user_keys: list[str]) -> int:
    """Delete the entries under key id ``identifier`` among ``user_keys``; how many were deleted."""
    p = store.hook.placeholder
    deleted = 0
    for start in range(0, len(user_keys), _KEYS_PER_STATEMENT):
        chunk = user_keys[start : start + _KEYS_PER_STATEMENT]
        cursor.execute(
            f"DELETE FROM {store.suppression_table} "
            f"WHERE key_id = {p} AND user_key IN ({', '.join([p] * len(chunk))})",
            (identifier, *chunk),
        )
        deleted += max(cursor.rowcount, 0)
    return deleted


@database_errors("Dropping the suppression list's entries of lost keys")
def _drop(store: ErasureRequestStore, key_ids: list[str]) -> dict[str, int]:
    """Delete every entry under the given key ids, in one transaction; how many, by key id."""
    p = store.hook.placeholder
    dropped = {}
    with contextlib.closing(store.hook.get_conn()) as connection:
        cursor = connection.cursor()
        for identifier in key_ids:
            cursor.execute(f"DELETE FROM {store.suppression_table} WHERE key_id = {p}", (identifier,))
            dropped[identifier] = max(cursor.rowcount, 0)
        connection.commit()
    return dropped
