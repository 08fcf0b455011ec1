"""
Streaming the first column of a query from any DB-API connection, one batch at a time.

Most drivers stream ``fetchmany`` from the server. psycopg (2 and 3) does not with its default
cursor: the whole result is loaded on ``execute``. A named (server-side) cursor makes it stream.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

_SERVER_SIDE_CURSOR_DRIVERS = ("psycopg2", "psycopg")


def first_column_batches(
    hook: DbApiHook,
    sql: str,
    parameters: Mapping[str, Any] | Sequence[Any] | None,
    fetch_size: int,
) -> Iterator[list[Any]]:
    """
    Run a query and yield the values of its first column, ``fetch_size`` rows at a time.

    :param hook: a common-sql hook.
    :param sql: one SQL statement.
    :param parameters: the statement's bind parameters, or None.
    :param fetch_size: rows per ``fetchmany``.
    """
    first = itemgetter(0)
    with contextlib.closing(hook.get_conn()) as conn:
        cursor = _streaming_cursor(conn)
        try:
            if parameters is None:
                cursor.execute(sql)
            else:
                cursor.execute(sql, parameters)
            while rows := cursor.fetchmany(fetch_size):
                yield list(map(first, rows))
        finally:
            cursor.close()


def _streaming_cursor(conn: Any) -> Any:
    if type(conn).__module__.split(".")[0] in _SERVER_SIDE_CURSOR_DRIVERS:
        return conn.cursor(name=f"personalize_deletion_{uuid.uuid4().hex}")
    return conn.cursor()
