"""
Suppressed users found again in a dataset become new pending erasure requests, for the next run.

A request made here has the source ``reappeared`` and, in the requests table's ``details`` column
(JSON, no personal data), where and since when the user was found: the dataset group, the dataset
and the dataset export job that held them. A user who already has a pending request gets no second
one; on PostgreSQL a transaction-level advisory lock makes concurrent intakes take turns, so two of
them cannot both see "no pending request" and both add one (SQLite writes one at a time anyway).
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from airflow_provider_personalize_deletion.erasure.columns import (
    DETAILS_COLUMN,
    MissingColumnError,
    missing_columns,
)
from airflow_provider_personalize_deletion.erasure.store import (
    PENDING,
    ErasureRequestStore,
    check_batch_size,
    sql_timestamp,
)
from airflow_provider_personalize_deletion.transfers.sql_cursor import database_errors
from airflow_provider_personalize_deletion.utils.service_model import validate_member

#: The source of the requests made for users found again.
REAPPEARED = "reappeared"


@dataclass(frozen=True)
class Reappearance:
    """
    Where suppressed users were found again; validated against the service model when made.

    :param dataset_group_arn: the dataset group.
    :param dataset_arn: the dataset whose export held them.
    :param export_job_arn: the dataset export job that found them.
    """

    dataset_group_arn: str
    dataset_arn: str
    export_job_arn: str

    def __post_init__(self) -> None:
        validate_member(
            "CreateDataDeletionJob", "datasetGroupArn", self.dataset_group_arn, "dataset_group_arn"
        )
        validate_member("CreateDatasetExportJob", "datasetArn", self.dataset_arn, "dataset_arn")
        validate_member(
            "DescribeDatasetExportJob", "datasetExportJobArn", self.export_job_arn, "export_job_arn"
        )


def add_reappeared_requests(
    store: ErasureRequestStore,
    user_ids: Iterable[str],
    found: Reappearance,
    found_at: datetime,
    batch_size: int = 1_000,
) -> dict[str, int]:
    """
    Add a pending erasure request for each user found again, unless one is pending for them already.

    The ids are read as they come (any iterable, e.g. a scan's stream) and written ``batch_size``
    at a time, each batch in one transaction: an interrupted intake, run again, adds only what is
    still missing.

    :param store: the request store.
    :param user_ids: the users found in the dataset.
    :param found: where they were found.
    :param found_at: when (the export's time); the requests' ``requested_at``.
    :param batch_size: ids per transaction, at least 1.
    :return: ``read`` (ids given) and ``added`` (new requests); counts only.
    :raises ValueError: a ``batch_size`` below 1, before anything is read.
    :raises MissingColumnError: the requests table has no ``details`` column (made by 0.2); nothing
        was added.
    """
    check_batch_size(batch_size)  # else no id would be read, and none added, without a word
    for missing in missing_columns(store.hook, store.requests_table):
        if missing.column == DETAILS_COLUMN:  # the columns of 0.4 it does not write
            raise MissingColumnError(missing, "the reappearance intake writes it")
    details = json.dumps({REAPPEARED: {**asdict(found), "found_at": found_at.isoformat()}}, sort_keys=True)
    read = added = 0
    ids = iter(user_ids)
    while batch := list(itertools.islice(ids, batch_size)):
        read += len(batch)
        connection = store.hook.get_conn()
        try:
            added += add_batch(connection, store, batch, details, sql_timestamp(found_at))
            connection.commit()
        finally:
            connection.close()
    return {"read": read, "added": added}


@database_errors("Adding the requests of reappeared users")
def add_batch(
    connection: Any, store: ErasureRequestStore, user_ids: list[str], details: str, when: str
) -> int:
    """
    Add one batch's requests on the caller's connection, without committing.

    :param connection: a DB-API connection of the warehouse; the caller commits.
    :param store: the request store.
    :param user_ids: the users found.
    :param details: the requests' ``details`` JSON.
    :param when: their ``requested_at``, as SQL timestamp text.
    :return: how many requests were added.
    """
    p = store.hook.placeholder
    table = store.requests_table
    cursor = connection.cursor()
    if store.hook.dialect_name == "postgresql":
        # Held until the transaction ends: concurrent intakes look for a pending request in turn.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"personalize-deletion:{table}",))
    added = 0
    for user_id in dict.fromkeys(user_ids):
        cursor.execute(
            f"INSERT INTO {table} (request_id, user_id, requested_at, source, status, {DETAILS_COLUMN}) "
            f"SELECT {p}, {p}, {p}, {p}, {p}, {p} "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE user_id = {p} AND status = {p})",
            (secrets.token_hex(16), user_id, when, REAPPEARED, PENDING, details, user_id, PENDING),
        )
        added += max(cursor.rowcount, 0)
    return added
