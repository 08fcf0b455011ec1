"""
The officer's decisions on a pending request: extend its deadline, refuse it, or record that it cannot be
fulfilled. Each is one transaction on the requests table, changes a pending request only, and records
who decided and when; the erasure run never changes such a decision (it claims pending requests only).

A decision written while a run has the request claimed makes that run fail before it marks anything
(the claim no longer holds the users its export wrote, :class:`~.store.ClaimChangedError`): decide
before the next run, or let the run finish first.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow_provider_personalize_deletion.erasure.columns import (
    EXTENDED_AT,
    EXTENDED_BY,
    EXTENSION_MONTHS,
    EXTENSION_REASON,
    REASON_CODE,
    require_columns,
)
from airflow_provider_personalize_deletion.erasure.deadlines import Deadline, check_extension
from airflow_provider_personalize_deletion.erasure.store import (
    PENDING,
    REFUSED,
    UNFULFILLABLE,
    ErasureRequestStore,
    sql_timestamp,
)
from airflow_provider_personalize_deletion.transfers.sql_cursor import database_errors

#: Characters of ``decided_by`` and ``extended_by`` at most (the column is ``VARCHAR(256)``).
MAX_BY_CHARS = 256
#: Characters of an extension's reason at most: a sentence or two, never a document.
MAX_REASON_CHARS = 2000


@dataclass(frozen=True)
class ReasonCode:
    """
    Why a request is not fulfilled.

    :param status: the request's status: :data:`~.store.REFUSED` or :data:`~.store.UNFULFILLABLE`.
    :param legal_basis: the article that allows it.
    :param meaning: what it says, for the dashboard and the README.
    """

    status: str
    legal_basis: str
    meaning: str


#: The reason codes a refused or unfulfillable request may carry.
REASON_CODES = {
    "art17_3_a_expression": ReasonCode(
        REFUSED, "GDPR art. 17(3)(a)", "freedom of expression and information"
    ),
    "art17_3_b_legal_obligation": ReasonCode(
        REFUSED, "GDPR art. 17(3)(b)", "a legal obligation, or a task in the public interest"
    ),
    "art17_3_c_public_health": ReasonCode(REFUSED, "GDPR art. 17(3)(c)", "public health"),
    "art17_3_d_archiving_research": ReasonCode(
        REFUSED, "GDPR art. 17(3)(d)", "archiving in the public interest, research or statistics"
    ),
    "art17_3_e_legal_claims": ReasonCode(REFUSED, "GDPR art. 17(3)(e)", "legal claims"),
    "art12_5_manifestly_unfounded": ReasonCode(
        REFUSED, "GDPR art. 12(5)", "manifestly unfounded or excessive request"
    ),
    "cannot_identify": ReasonCode(UNFULFILLABLE, "GDPR art. 11(2), 12(2)", "the person cannot be identified"),
}


class DecisionError(ValueError):
    """A decision refused before anything was written; names the field and the rule, never a user id."""


def extend_request(
    store: ErasureRequestStore,
    request_id: str,
    months: int,
    reason: str,
    by: str,
    now: datetime,
    deadline: Deadline,
    *,
    may_alter: bool,
) -> dict[str, Any]:
    """
    Extend a pending request's deadline by ``months`` months beyond the first one (GDPR art. 12(3)),
    once, before its first deadline passed (the person must be told within the first month, with the
    reasons). A second extension is refused: it would rewrite who extended the request, when and why,
    the record the person was given; extend once by the months needed.

    :param store: the request store.
    :param request_id: the request.
    :param months: the request's extension, 1 or 2.
    :param reason: why (told to the person; no personal data).
    :param by: who extended it.
    :param now: the current time (aware).
    :param deadline: the rule the first deadline is counted by.
    :param may_alter: the setting ``create_tables``: add the columns of 0.4 when missing.
    :return: the request id, the extension and the new due date (UTC).
    :raises DecisionError: naming the field and the rule; nothing written.
    :raises MissingColumnError: the table lacks the extension's columns and may not be altered.
    """
    try:
        check_extension(months, reason)
    except ValueError as error:
        raise DecisionError(str(error)) from None
    _check_text("extension_reason", reason, MAX_REASON_CHARS)
    _check_text("extended_by", by, MAX_BY_CHARS)
    require_columns(
        store, may_alter=may_alter, needed={EXTENSION_MONTHS, EXTENSION_REASON, EXTENDED_BY, EXTENDED_AT}
    )
    p = store.hook.placeholder
    requested_at, current = _pending(store, request_id, f"COALESCE({EXTENSION_MONTHS}, 0)")
    if now > deadline.due_at(requested_at):
        raise DecisionError(
            "Invalid parameter 'extension_months': the request's first deadline passed "
            f"({deadline.due_at(requested_at).date().isoformat()} UTC); GDPR art. 12(3) allows an "
            "extension only within the first month"
        )
    if int(current):
        raise DecisionError(
            f"Invalid parameter 'extension_months': the request is extended by {int(current)} "
            "month(s) already; GDPR art. 12(3) allows one extension, told to the person with its reasons, "
            "and its record is never rewritten"
        )
    changed = _update(
        store,
        f"UPDATE {store.requests_table} SET {EXTENSION_MONTHS} = {p}, {EXTENSION_REASON} = {p}, "
        f"{EXTENDED_BY} = {p}, {EXTENDED_AT} = {p} "
        f"WHERE request_id = {p} AND status = {p} AND COALESCE({EXTENSION_MONTHS}, 0) = 0",
        (months, reason.strip(), by.strip(), sql_timestamp(now), request_id, PENDING),
    )
    _changed(changed)
    return {
        "request_id": request_id,
        "extension_months": months,
        "due_at_utc": deadline.due_at(requested_at, months).isoformat(),
    }


def decide_request(
    store: ErasureRequestStore, request_id: str, reason_code: str, by: str, now: datetime, *, may_alter: bool
) -> dict[str, Any]:
    """
    Record that a pending request is refused or cannot be fulfilled, by its reason code.

    :param store: the request store.
    :param request_id: the request.
    :param reason_code: a key of :data:`REASON_CODES`; it sets the status.
    :param by: who decided.
    :param now: the current time (aware).
    :param may_alter: the setting ``create_tables``: add the columns of 0.4 when missing.
    :return: the request id, its status and reason code.
    :raises DecisionError: naming the field and the rule; nothing written.
    :raises MissingColumnError: the table lacks ``reason_code`` and may not be altered.
    """
    code = REASON_CODES.get(reason_code)
    if code is None:
        raise DecisionError(f"Invalid parameter 'reason_code': must be one of {', '.join(REASON_CODES)}")
    _check_text("decided_by", by, MAX_BY_CHARS)
    require_columns(store, may_alter=may_alter, needed={REASON_CODE})
    p = store.hook.placeholder
    record = {
        "decision": code.status,
        "reason_code": reason_code,
        "legal_basis": code.legal_basis,
        "decided_by": by.strip(),
        "decided_at": now.astimezone(timezone.utc).isoformat(),
    }
    _pending(store, request_id, "NULL")
    _changed(
        _update(
            store,
            f"UPDATE {store.requests_table} SET status = {p}, {REASON_CODE} = {p}, erasure_record = {p} "
            f"WHERE request_id = {p} AND status = {p}",
            (code.status, reason_code, json.dumps(record, sort_keys=True), request_id, PENDING),
        )
    )
    return {"request_id": request_id, "status": code.status, "reason_code": reason_code}


def _check_text(field: str, value: object, limit: int) -> None:
    if not isinstance(value, str) or not value.strip():
        raise DecisionError(f"Invalid parameter {field!r}: is required")
    if len(value.strip()) > limit:
        raise DecisionError(f"Invalid parameter {field!r}: must be at most {limit} characters")


@database_errors("Reading a request")
def _read(store: ErasureRequestStore, request_id: str, extra: str) -> tuple[Any, ...] | None:
    """The request's status, ``requested_at`` and ``extra``; None when there is none."""
    with contextlib.closing(store.hook.get_conn()) as connection:
        cursor = connection.cursor()
        cursor.execute(
            f"SELECT status, requested_at, {extra} FROM {store.requests_table} "
            f"WHERE request_id = {store.hook.placeholder}",
            (request_id,),
        )
        row = cursor.fetchone()
        connection.rollback()
    return None if row is None else tuple(row)


def _pending(store: ErasureRequestStore, request_id: object, extra: str) -> tuple[datetime, Any]:
    """The pending request's ``requested_at`` (aware) and ``extra``; refuses any other request."""
    if not isinstance(request_id, str) or not request_id:
        raise DecisionError("Invalid parameter 'request_id': is required")
    row = _read(store, request_id, extra)
    if row is None:
        raise DecisionError("Invalid parameter 'request_id': no request has this id")
    status, requested_at, value = row
    if status != PENDING:
        raise DecisionError(
            f"Invalid parameter 'request_id': the request is {status!r}; only a pending request may be "
            "extended, refused or marked unfulfillable"
        )
    moment = datetime.fromisoformat(requested_at) if isinstance(requested_at, str) else requested_at
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)), value


@database_errors("Recording a decision on a request")
def _update(store: ErasureRequestStore, statement: str, parameters: tuple[Any, ...]) -> int:
    """Run one UPDATE and commit; how many rows it changed."""
    with contextlib.closing(store.hook.get_conn()) as connection:
        cursor = connection.cursor()
        cursor.execute(statement, parameters)
        changed = max(cursor.rowcount, 0)
        connection.commit()
    return changed


def _changed(count: int) -> None:
    """Refuse when the conditional UPDATE found the request changed since it was read."""
    if count != 1:
        raise DecisionError(
            "Invalid parameter 'request_id': the request changed meanwhile (it is no longer pending, or "
            "it was extended); nothing was written: read it again"
        )
