"""
Retention of the erased requests' user ids: after ``retention_days`` the id is replaced by its keyed hash.

An erased request keeps its user id for accountability (GDPR art. 5(2): the officer shows that this
person's request was handled) only as long as the setting ``retention_days`` says; then minimisation
(art. 5(1)(c)) wins: ``user_id`` becomes the hex HMAC-SHA256 of the id under the fingerprint key
(:func:`.suppression.user_digest`, the suppression list's ``user_key``) and ``user_key_id`` the key's
id (:func:`.suppression.key_id`). Whoever knows the id can still find the request (hash the typed id
under the same key), nobody can read the id back from the table.

What it costs: such a request's user can no longer be re-keyed into the suppression list (:mod:`.rekey`
reads the ids and skips these requests: their entries stay under the key they were made with), nor
found by a lookup made with another key. Requests pending, rejected, refused or unfulfillable keep
their id.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime

from airflow_provider_personalize_deletion.erasure.columns import USER_KEY_ID
from airflow_provider_personalize_deletion.erasure.store import (
    ERASED,
    ErasureRequestStore,
    check_batch_size,
    sql_timestamp,
)
from airflow_provider_personalize_deletion.erasure.suppression import checked_key, key_id, user_digest
from airflow_provider_personalize_deletion.transfers.sql_cursor import column_batches, database_errors

log = logging.getLogger(__name__)


def pseudonymise_erased(
    store: ErasureRequestStore, key: bytes, erased_before: datetime, batch_size: int = 10_000
) -> int:
    """
    Replace the user id of every request erased before ``erased_before`` by its keyed hash; idempotent.

    Each batch is one transaction; a request already hashed (``user_key_id`` set) is left alone.

    :param store: the request store (its table has ``user_key_id``: :func:`.columns.require_columns`).
    :param key: the fingerprint key.
    :param erased_before: the end of the retention period: now minus ``retention_days``.
    :param batch_size: requests per transaction, at least 1.
    :return: how many requests were hashed.
    """
    check_batch_size(batch_size)
    identifier = key_id(checked_key(key))
    hashed = 0
    while count := _hash_batch(store, key, identifier, sql_timestamp(erased_before), batch_size):
        hashed += count
    if hashed:
        log.info(
            "Replaced the user id of %d erased request(s) by its keyed hash (key id %s)", hashed, identifier
        )
    return hashed


@database_errors("Replacing the user ids of old erased requests by their keyed hash")
def _hash_batch(store: ErasureRequestStore, key: bytes, identifier: str, before: str, batch_size: int) -> int:
    """Hash the ids of up to ``batch_size`` requests still holding theirs; how many."""
    p = store.hook.placeholder
    with contextlib.closing(store.hook.get_conn()) as connection:
        batches = column_batches(
            connection,
            f"SELECT request_id, user_id FROM {store.requests_table} WHERE status = {p} "
            f"AND erased_at < {p} AND {USER_KEY_ID} IS NULL AND user_id IS NOT NULL "
            f"ORDER BY request_id LIMIT {int(batch_size)}",
            (ERASED, before),
            batch_size,
            f"the erased requests of {store.requests_table}",
        )
        rows = [
            (user_digest(key, user_id).hex(), identifier, request_id)
            for request_ids, user_ids in batches
            for request_id, user_id in zip(request_ids, user_ids, strict=True)
        ]
        cursor = connection.cursor()
        cursor.executemany(
            f"UPDATE {store.requests_table} SET user_id = {p}, {USER_KEY_ID} = {p} "
            f"WHERE request_id = {p} AND {USER_KEY_ID} IS NULL",
            rows,
        )
        connection.commit()
    return len(rows)


def user_id_match(user_id: str, key: bytes | None, *, hashed_column: bool) -> tuple[str, tuple[str, ...]]:
    """
    SQL matching the requests of a typed user id, whether they still hold it or its keyed hash (after
    the retention period), with its parameters (``{p}`` for the placeholder): both equalities read the
    ``user_id`` index.

    :param user_id: the id as typed.
    :param key: the fingerprint key; None matches the ids still held only.
    :param hashed_column: whether the table has ``user_key_id`` (a table of 0.3 has not: ids only).
    """
    if not hashed_column:
        return "user_id = {p}", (user_id,)
    if key is None:
        return f"(user_id = {{p}} AND {USER_KEY_ID} IS NULL)", (user_id,)
    return (
        f"((user_id = {{p}} AND {USER_KEY_ID} IS NULL) OR (user_id = {{p}} AND {USER_KEY_ID} = {{p}}))",
        (user_id, user_digest(key, user_id).hex(), key_id(key)),
    )
