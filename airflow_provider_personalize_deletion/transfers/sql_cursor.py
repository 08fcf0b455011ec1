"""
Reading query results from any DB-API connection, in batches, without a row's value ever reaching
an error message or a log.

Most drivers stream ``fetchmany`` from the server. psycopg (2 and 3) does not with its default
cursor: the whole result is loaded on ``execute``. A named (server-side) cursor makes it stream.

Text that is not UTF-8 is read, not refused. SQLite stores whatever bytes it is given as TEXT, and
its driver would fail the fetch with ``Could not decode to UTF-8 column ... with text '<value>'``:
here text (and BLOBs) is fetched as bytes and decoded with ``surrogateescape``, so such a value
arrives as a string that does not encode as UTF-8, which the user id checks count as ``not_utf8``.
(A PostgreSQL database in UTF8 cannot hold such text: the server refuses it on insert.)

Any other error of the driver while the query runs or its rows are read is re-raised as
:class:`WarehouseReadError`, naming what was read and the error's type and code only, never its
message: drivers quote row values in them (PostgreSQL: ``invalid input syntax for type integer:
"<value>"``). The error is raised outside the ``except`` block, so it carries no chained exception.
Writes (and any other statement) get the same treatment through :func:`database_errors`, as a
:class:`WarehouseError`: PostgreSQL's ``DETAIL: Failing row contains (...)`` quotes a whole row.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

_SERVER_SIDE_CURSOR_DRIVERS = ("psycopg2", "psycopg")
_ERROR_CODE_ATTRIBUTES = ("sqlstate", "pgcode", "sqlite_errorname")
"""Attributes of driver errors that hold a code (psycopg 3, psycopg2, sqlite3), never a value."""

_P = ParamSpec("_P")
_T = TypeVar("_T")


class WarehouseError(RuntimeError):
    """
    The database failed while a statement ran.

    The driver's message is left out because it can quote a row's value; the error's type and code
    (SQLSTATE, SQLite error name) are kept. Run the statement in a SQL client to see the message.

    :param doing: what was being done, e.g. ``"Claiming the pending requests"``; no value.
    :param error: the driver's error.
    """

    def __init__(self, doing: str, error: BaseException) -> None:
        error_type = type(error)
        self.error_type = f"{error_type.__module__}.{error_type.__qualname__}"
        codes = [str(code) for name in _ERROR_CODE_ATTRIBUTES if (code := getattr(error, name, None))]
        described = f"{self.error_type} ({', '.join(codes)})" if codes else self.error_type
        super().__init__(
            f"{doing} failed with {described}; the driver's message is not shown because it "
            "can quote a row's value: run the statement in a SQL client to see it"
        )


class WarehouseReadError(WarehouseError):
    """
    The database failed while a query ran or its rows were read.

    :param reading: what was being read, e.g. ``"the user id column"``.
    :param error: the driver's error.
    """

    def __init__(self, reading: str, error: BaseException) -> None:
        super().__init__(f"Reading {reading}", error)


def database_errors(doing: str) -> Callable[[Callable[_P, _T]], Callable[_P, _T]]:
    """
    Decorate a function that runs statements: any error is re-raised as :class:`WarehouseError`.

    The new error is raised after the ``except`` block has ended, so neither ``__cause__`` nor
    ``__context__`` holds the driver's error (a context manager cannot do that: what its
    ``__exit__`` raises is chained to the error it handles). A :class:`WarehouseError` raised inside
    passes through unchanged.

    :param doing: what the function does, for the error, e.g. ``"Claiming the pending requests"``.
    """

    def decorate(function: Callable[_P, _T]) -> Callable[_P, _T]:
        @functools.wraps(function)
        def sanitised(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            failure: WarehouseError | None = None
            try:
                return function(*args, **kwargs)
            except WarehouseError as error:
                failure = error
            except Exception as error:
                failure = WarehouseError(doing, error)
            raise failure  # here, outside the except block: no message of the driver is chained to it

        return sanitised

    return decorate


def column_batches(
    conn: Any,
    sql: str,
    parameters: Mapping[str, Any] | Sequence[Any] | None,
    fetch_size: int,
    reading: str,
    ascii_as_bytes: bool = False,
) -> Iterator[list[list[Any]]]:
    """
    Run a query on a connection and yield its columns, ``fetch_size`` rows at a time, streamed.

    Text that is not UTF-8 arrives as a string holding lone surrogates (see the module's docstring);
    any error of the driver is raised as :class:`WarehouseReadError`. The connection is left open.

    :param conn: a DB-API connection (sqlite3, psycopg2, psycopg, any other driver).
    :param sql: one SQL statement.
    :param parameters: the statement's bind parameters, or None.
    :param fetch_size: rows per ``fetchmany``.
    :param reading: what the rows are, for the error, e.g. ``"the user id column"``; no value.
    :param ascii_as_bytes: let a SQLite column of a batch that is all ASCII come as the driver's
        bytes, undecoded, for a reader that takes bytes as UTF-8 text: it sees the same values
        without the cost of decoding them (ASCII decodes the same leniently or not). Other columns
        are decoded as without it.
    :return: per batch, one list of values per column of the query.
    """
    as_columns = _columns
    if isinstance(conn, sqlite3.Connection):
        # Text as bytes (the driver's fast path), decoded a whole column at a time below: as fast
        # as the driver's own decoding, which would fail on, and quote, text that is not UTF-8.
        conn.text_factory = bytes
        as_columns = functools.partial(_decoded_columns, keep_ascii=ascii_as_bytes)
    cursor = _streaming_cursor(conn)
    try:
        arguments = (sql,) if parameters is None else (sql, parameters)
        failure = None
        try:
            cursor.execute(*arguments)
        except Exception as error:
            failure = WarehouseReadError(reading, error)
        while failure is None:
            try:
                rows = cursor.fetchmany(fetch_size)
            except Exception as error:
                failure = WarehouseReadError(reading, error)
                break
            if not rows:
                return
            yield as_columns(rows)
        raise failure  # here, outside the except block: no message of the driver is chained to it
    finally:
        with contextlib.suppress(Exception):
            cursor.close()


def first_column_batches(
    hook: DbApiHook,
    sql: str,
    parameters: Mapping[str, Any] | Sequence[Any] | None,
    fetch_size: int,
) -> Iterator[list[Any]]:
    """
    Run a query and yield the values of its first column, ``fetch_size`` rows at a time.

    ASCII text from SQLite comes as bytes (see ``ascii_as_bytes`` of :func:`column_batches`): the
    user id checks read bytes as UTF-8 text.

    :param hook: a common-sql hook.
    :param sql: one SQL statement.
    :param parameters: the statement's bind parameters, or None.
    :param fetch_size: rows per ``fetchmany``.
    :raises WarehouseReadError: the database failed; the message holds no value.
    """
    with contextlib.closing(hook.get_conn()) as conn:
        reading = "the user id column of the query"
        for columns in column_batches(conn, sql, parameters, fetch_size, reading, ascii_as_bytes=True):
            yield columns[0]


def _columns(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    # itemgetter rather than zip(*rows): zip would make one iterator per row, and so many
    # tracked objects make the garbage collector run over the whole heap again and again.
    return [list(map(itemgetter(index), rows)) for index in range(len(rows[0]))]


def _decoded_columns(rows: Sequence[Sequence[Any]], keep_ascii: bool) -> list[list[Any]]:
    return [_decoded_text(column, keep_ascii) for column in _columns(rows)]


def _decoded_text(values: list[Any], keep_ascii: bool) -> list[Any]:
    """
    Decode the UTF-8 bytes of a column, keeping undecodable bytes as lone surrogates.

    A column that is all ASCII is left as it is when ``keep_ascii``; a column of bytes without line
    breaks (ids, the common case) is decoded in one call.
    """
    try:
        joined = b"\n".join(values)
    except TypeError:  # NULLs, numbers
        joined = None
    if joined is not None and keep_ascii and joined.isascii():
        return values
    if joined is not None and joined.count(b"\n") == len(values) - 1:
        return joined.decode("utf-8", "surrogateescape").split("\n")
    return [
        value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value for value in values
    ]


def _streaming_cursor(conn: Any) -> Any:
    if type(conn).__module__.split(".")[0] in _SERVER_SIDE_CURSOR_DRIVERS:
        return conn.cursor(name=f"personalize_deletion_{uuid.uuid4().hex}")
    return conn.cursor()
