"""
Every lookup of a person, in Airflow's event log (the metadata database's ``log`` table, the audit trail
the UI's "Audit Log" shows): who, when, how many requests were found, and the keyed hash of the id
typed (:func:`.suppression.user_digest` under the fingerprint key, the suppression list's ``user_key``
of the same id); never the id.

An officer answers "who looked this person up" by typing the id again: its keyed hash finds the events
(:func:`lookups_of`). A lookup refused by the rate limit (:data:`LOOKUPS_PER_HOUR_OPTION` per user and
hour, counted from these events, so across the API server's workers) is recorded too, as
:data:`REFUSED_EVENT`. A lookup is recorded before it is made, in the transaction that counts the
user's lookups, serialised per user (:func:`reserve_lookup`): lookups made at once never pass the limit
together, on a SQLite or PostgreSQL metadata database (on MySQL they may, within the requests in flight).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import HTTPException

from airflow_provider_personalize_deletion.dashboard.settings import SECTION
from airflow_provider_personalize_deletion.erasure.suppression import checked_key, key_id, user_digest
from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError

#: The event of a lookup, and of one the rate limit refused.
LOOKUP_EVENT = "personalize_erasure_lookup"
REFUSED_EVENT = "personalize_erasure_lookup_refused"
#: The option of the lookups one user may make per hour.
LOOKUPS_PER_HOUR_OPTION = "dashboard_lookups_per_hour"
DEFAULT_LOOKUPS_PER_HOUR = 60
#: The lookups a listing shows, at most, newest first.
MAX_LOOKUPS_LISTED = 200
#: What the advisory lock of a user's lookups (PostgreSQL) is named by, before the user's name.
_LOCK_NAMESPACE = b"personalize_erasure_lookup\0"
#: What was looked up: a person's evidence, or who looked them up.
EVIDENCE, LOOKUPS = "evidence", "lookups"


@dataclass(frozen=True)
class Subject:
    """
    The keyed hash of a typed id, and the id of the key it was made with.

    :param key: the hex HMAC-SHA256 of the id's exact bytes under the fingerprint key.
    :param key_id: :func:`.suppression.key_id` of that key.
    """

    key: str
    key_id: str

    @classmethod
    def of(cls, user_id: str, fingerprint_key: bytes) -> Subject:
        """
        :param user_id: the id as typed.
        :param fingerprint_key: the fingerprint key.
        """
        key = checked_key(fingerprint_key)
        return cls(user_digest(key, user_id).hex(), key_id(key))


def lookups_per_hour(get_option: Callable[[str], str | None]) -> int:
    """
    The lookups one user may make per hour.

    :param get_option: returns an option of ``[personalize_deletion]``, None when unset.
    :raises PersonalizeValidationError: not a whole number from 1 to 10000.
    """
    text = (get_option(LOOKUPS_PER_HOUR_OPTION) or "").strip()
    if not text:
        return DEFAULT_LOOKUPS_PER_HOUR
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= 10_000):
        raise PersonalizeValidationError(
            f"[{SECTION}] {LOOKUPS_PER_HOUR_OPTION}", "must be a whole number from 1 to 10000"
        )
    return int(text)


def _extra(subject: Subject, what: str, **fields: Any) -> str:
    """The event's ``extra``: JSON with sorted keys, so that a subject's key is found by its text."""
    return json.dumps(
        {"subject_key": subject.key, "key_id": subject.key_id, "what": what, **fields}, sort_keys=True
    )


def _add(session: Any, event: str, user: Any, extra: str) -> Any:
    from airflow.models.log import Log

    name = user.get_name()
    row = Log(event=event, owner=name, owner_display_name=name, extra=extra)
    session.add(row)
    return row


def _lock_user(session: Any, name: str) -> None:
    """
    Serialise the lookups of one user until the session's transaction ends: on PostgreSQL an advisory
    lock of the user's name; on SQLite the insert that follows takes the database's write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy import text

        digest = hashlib.sha256(_LOCK_NAMESPACE + name.encode("utf-8", "surrogatepass")).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def reserve_lookup(session: Any, user: Any, subject: Subject, what: str, now: datetime, per_hour: int) -> int:
    """
    Record a lookup before it is made, or refuse it past the user's hourly limit, in one transaction
    serialised per user (:func:`_lock_user`): lookups made at once never pass the limit together.

    The event says ``requests_found: null`` until :func:`record_lookup` fills it in: a lookup that
    failed on the way (the warehouse down) stays recorded, and counted.

    :param session: a metadata database session, with no transaction open (committed here).
    :param user: the caller.
    :param subject: the keyed hash of the typed id.
    :param what: :data:`EVIDENCE` or :data:`LOOKUPS`.
    :param now: the current time (aware).
    :param per_hour: the limit.
    :return: the event's id, for :func:`record_lookup`.
    :raises HTTPException: 429, the event recorded as :data:`REFUSED_EVENT`.
    """
    from airflow.models.log import Log
    from sqlalchemy import func, select

    name = user.get_name()
    _lock_user(session, name)
    row = _add(session, LOOKUP_EVENT, user, _extra(subject, what, requests_found=None))
    session.flush()  # SQLite: the insert takes the write lock before the count
    made = session.scalar(
        select(func.count())
        .select_from(Log)
        .where(Log.event == LOOKUP_EVENT, Log.owner == name, Log.dttm >= now - timedelta(hours=1))
    )
    if made > per_hour:
        row.event = REFUSED_EVENT
        row.extra = _extra(subject, what, reason=f"rate limit: {per_hour} per hour")
        session.commit()
        raise HTTPException(
            429,
            f"Rate limit: at most {per_hour} lookups per user and hour "
            f"([{SECTION}] {LOOKUPS_PER_HOUR_OPTION}); this attempt is recorded",
        )
    session.commit()
    return int(row.id)


def record_lookup(session: Any, event_id: int, subject: Subject, what: str, requests_found: int) -> None:
    """
    Say how many requests a reserved lookup (:func:`reserve_lookup`) found.

    :param session: a metadata database session (committed by the caller).
    :param event_id: what :func:`reserve_lookup` returned.
    :param subject: the keyed hash of the typed id.
    :param what: :data:`EVIDENCE` or :data:`LOOKUPS`.
    :param requests_found: how many requests the lookup found (0 for a lookup of lookups).
    """
    from airflow.models.log import Log
    from sqlalchemy import update

    session.execute(
        update(Log)
        .where(Log.id == event_id, Log.event == LOOKUP_EVENT)
        .values(extra=_extra(subject, what, requests_found=requests_found))
    )


def lookups_of(
    session: Any, subject: Subject | None, *, leave_out: int | None = None
) -> list[dict[str, Any]]:
    """
    The latest lookups (and refused attempts), newest first, at most :data:`MAX_LOOKUPS_LISTED`: all of
    them, or those of one typed id.

    :param session: a metadata database session.
    :param subject: the keyed hash of the typed id; None for every lookup.
    :param leave_out: the event of the search itself (:func:`reserve_lookup`), not listed.
    """
    from airflow.models.log import Log
    from sqlalchemy import select

    query = select(Log.dttm, Log.event, Log.owner, Log.extra).where(
        Log.event.in_((LOOKUP_EVENT, REFUSED_EVENT))
    )
    if leave_out is not None:
        query = query.where(Log.id != leave_out)
    if subject is not None:
        query = query.where(Log.extra.like(f'%"subject_key": "{subject.key}"%'))
    rows = session.execute(query.order_by(Log.dttm.desc(), Log.id.desc()).limit(MAX_LOOKUPS_LISTED)).all()
    return [_view(*row) for row in rows]


def _view(when: datetime | None, event: str, owner: str | None, extra: str | None) -> dict[str, Any]:
    try:
        fields = json.loads(extra or "{}")
    except ValueError:
        fields = {}
    fields = fields if isinstance(fields, dict) else {}
    return {
        "at": when.isoformat() if when else None,
        "user": owner,
        "refused": event == REFUSED_EVENT,
        "what": fields.get("what"),
        "requests_found": fields.get("requests_found"),
        "subject_key": fields.get("subject_key"),
        "key_id": fields.get("key_id"),
        "reason": fields.get("reason"),
    }


__all__: Sequence[str] = (
    "LOOKUP_EVENT",
    "REFUSED_EVENT",
    "Subject",
    "lookups_of",
    "lookups_per_hour",
    "record_lookup",
    "reserve_lookup",
)
