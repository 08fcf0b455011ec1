"""
Columns added to the erasure tables after their first release, and how a table made before gets them.

A table is created once (``CREATE TABLE IF NOT EXISTS``), so a table created by an earlier release
keeps its columns: the requests table of 0.2 has no ``details``, that of 0.3 none of the deadline,
decision and retention columns of 0.4. Where the pipeline may create tables
(the setting ``create_tables``) it adds such a column; where it may not, it fails before any write,
naming the table, the column and the statement that adds it (:class:`MissingColumnError`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_provider_personalize_deletion.transfers.sql_cursor import WarehouseError, database_errors

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore

log = logging.getLogger(__name__)

#: The column of the requests table that holds where a reappeared user was found (new in 0.3).
DETAILS_COLUMN = "details"
#: The columns of an extension of the deadline (new in 0.4): months (1 or 2), why, who and when.
EXTENSION_MONTHS, EXTENSION_REASON, EXTENDED_BY, EXTENDED_AT = (
    "extension_months",
    "extension_reason",
    "extended_by",
    "extended_at",
)
#: Why a request was refused or cannot be fulfilled (new in 0.4): a code of :mod:`.decisions`.
REASON_CODE = "reason_code"
#: The id of the key whose HMAC replaced the user id after the retention period (new in 0.4); NULL
#: while ``user_id`` holds the id itself (:mod:`.retention`).
USER_KEY_ID = "user_key_id"
#: The columns new in 0.4, with their types.
_COLUMNS_OF_0_4 = (
    (EXTENSION_MONTHS, "INTEGER"),
    (EXTENSION_REASON, "TEXT"),
    (EXTENDED_BY, "VARCHAR(256)"),
    (EXTENDED_AT, "TIMESTAMP"),
    (REASON_CODE, "VARCHAR(64)"),
    (USER_KEY_ID, "VARCHAR(16)"),
)


@dataclass(frozen=True)
class AddedColumn:
    """
    A column a table of an earlier release lacks.

    :param table: the table (as configured).
    :param column: the column.
    :param sql_type: its type, portable SQL.
    :param since: the release that added it.
    """

    table: str
    column: str
    sql_type: str
    since: str

    @property
    def statement(self) -> str:
        """The statement that adds the column (SQLite and PostgreSQL)."""
        return f"ALTER TABLE {self.table} ADD COLUMN {self.column} {self.sql_type}"


class MissingColumnError(RuntimeError):
    """
    A table lacks a column of this release, and it was not added: nothing was written.

    :param missing: the column (with its table and statement).
    :param why: why it was not added, e.g. that ``create_tables`` is off.
    """

    def __init__(self, missing: AddedColumn, why: str) -> None:
        self.missing = missing
        super().__init__(
            f"The table {missing.table} has no column {missing.column!r} (added in {missing.since}; the "
            f"table was created by an earlier release) and {why}: run `{missing.statement}` as the "
            "table's owner (README: The warehouse contract, Upgrading); nothing was written"
        )


def added_columns(requests_table: str) -> list[AddedColumn]:
    """:param requests_table: the requests table. The columns of this release that 0.2's tables lack."""
    return [
        AddedColumn(requests_table, DETAILS_COLUMN, "TEXT", "0.3"),
        *(AddedColumn(requests_table, column, sql_type, "0.4") for column, sql_type in _COLUMNS_OF_0_4),
    ]


@database_errors("Looking up the erasure tables' columns")
def missing_columns(hook: DbApiHook, requests_table: str) -> list[AddedColumn]:
    """
    The columns of this release that the existing tables lack; read without writing. A table that does
    not exist lacks none (it is created whole).

    :param hook: the warehouse's hook.
    :param requests_table: the requests table, optionally schema-qualified.
    """
    from sqlalchemy import inspect

    inspector = inspect(hook.get_sqlalchemy_engine())
    missing = []
    for added in added_columns(requests_table):
        schema, _, name = added.table.lower().rpartition(".")
        if not inspector.has_table(name, schema=schema or None):
            continue
        columns = {
            str(column["name"]).lower() for column in inspector.get_columns(name, schema=schema or None)
        }
        if added.column not in columns:
            missing.append(added)
    return missing


def add_missing_columns(store: ErasureRequestStore, *, may_alter: bool) -> list[AddedColumn]:
    """
    Add the columns the existing tables lack when the deployment lets the pipeline change its tables
    (``create_tables``); a column not added is logged with the statement that adds it, never failing.

    :param store: the request store.
    :param may_alter: the setting ``create_tables``.
    :return: the columns still missing, and why each was not added.
    """
    still: list[tuple[AddedColumn, str]] = []
    for added in missing_columns(store.hook, store.requests_table):
        if not may_alter:
            still.append((added, "the setting create_tables is false"))
            continue
        try:
            _run(store.hook, added.statement)
        except WarehouseError as error:  # PostgreSQL: only the table's owner may
            still.append((added, f"adding it failed ({error.error_type})"))
            continue
        log.info(
            "Added the column %s of %s to %s: %s", added.column, added.since, added.table, added.statement
        )
    for added, why in still:
        log.warning(
            "The table %s has no column %s (added in %s) and %s: run as the table's owner: %s",
            added.table,
            added.column,
            added.since,
            why,
            added.statement,
        )
    return [added for added, _ in still]


def require_columns(store: ErasureRequestStore, *, may_alter: bool, needed: Collection[str]) -> None:
    """
    Make sure the tables have the columns of this release before a step that writes them: add them
    when allowed (:func:`add_missing_columns`), else refuse before any write when the step needs one.

    :param store: the request store.
    :param may_alter: the setting ``create_tables``.
    :param needed: the columns the step reads or writes; another one missing is only logged.
    :raises MissingColumnError: a needed column is missing and could not be added.
    """
    still = [added for added in add_missing_columns(store, may_alter=may_alter) if added.column in needed]
    if still:
        why = "the setting create_tables is false" if not may_alter else "adding it failed"
        raise MissingColumnError(still[0], why)


def has_column(hook: DbApiHook, requests_table: str, column: str) -> bool:
    """
    Whether the requests table has a column of this release (a table that does not exist has them all).

    :param hook: the warehouse's hook.
    :param requests_table: the requests table.
    :param column: a column of :func:`added_columns`.
    """
    return column not in {added.column for added in missing_columns(hook, requests_table)}


@database_errors("Adding a column")
def _run(hook: DbApiHook, statement: str) -> None:
    hook.run(statement)
