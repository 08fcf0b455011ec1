"""
Every lookup of a person, in Airflow's event log (the metadata database's ``log`` table, the audit trail
the UI's "Audit Log" shows): who, when, how many requests were found, and the keyed hash of the id
typed (:func:`.suppression.user_digest` under the fingerprint key, the suppression list's ``user_key``
of the same id); never the id.

An officer answers "who looked this person up" by typing the id again: its keyed hash finds the events
(:func:`lookups_of`). A lookup refused by the rate limit (:data:`LOOKUPS_PER_HOUR_OPTION` per user and
hour, counted from these events, so across the API server's workers) is recorded too, as
:data:`REFUSED_EVENT`. Two lookups of one user at the same instant may both pass the count: the limit
holds to within the requests in flight.
"""

from __future__ import annotations

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


def _add(session: Any, event: str, user: Any, extra: str) -> None:
    from airflow.models.log import Log

    name = user.get_name()
    session.add(Log(event=event, owner=name, owner_display_name=name, extra=extra))


def check_rate_and_record(
    session: Any, user: Any, subject: Subject, what: str, now: datetime, per_hour: int
) -> None:
    """
    Refuse a lookup past the user's hourly limit, recording the refusal.

    :param session: a metadata database session (committed by the caller).
    :param user: the caller.
    :param subject: the keyed hash of the typed id.
    :param what: :data:`EVIDENCE` or :data:`LOOKUPS`.
    :param now: the current time (aware).
    :param per_hour: the limit.
    :raises HTTPException: 429, after recording :data:`REFUSED_EVENT`.
    """
    from airflow.models.log import Log
    from sqlalchemy import func, select

    made = session.scalar(
        select(func.count())
        .select_from(Log)
        .where(Log.event == LOOKUP_EVENT, Log.owner == user.get_name(), Log.dttm >= now - timedelta(hours=1))
    )
    if made >= per_hour:
        _add(session, REFUSED_EVENT, user, _extra(subject, what, reason=f"rate limit: {per_hour} per hour"))
        session.commit()
        raise HTTPException(
            429,
            f"Rate limit: at most {per_hour} lookups per user and hour "
            f"([{SECTION}] {LOOKUPS_PER_HOUR_OPTION}); this attempt is recorded",
        )


def record_lookup(session: Any, user: Any, subject: Subject, what: str, requests_found: int) -> None:
    """
    Record a lookup in the event log.

    :param session: a metadata database session (committed by the caller).
    :param user: the caller.
    :param subject: the keyed hash of the typed id.
    :param what: :data:`EVIDENCE` or :data:`LOOKUPS`.
    :param requests_found: how many requests the lookup found (0 for a lookup of lookups).
    """
    _add(session, LOOKUP_EVENT, user, _extra(subject, what, requests_found=requests_found))


def lookups_of(session: Any, subject: Subject | None) -> list[dict[str, Any]]:
    """
    The latest lookups (and refused attempts), newest first, at most :data:`MAX_LOOKUPS_LISTED`: all of
    them, or those of one typed id.

    :param session: a metadata database session.
    :param subject: the keyed hash of the typed id; None for every lookup.
    """
    from airflow.models.log import Log
    from sqlalchemy import select

    query = select(Log.dttm, Log.event, Log.owner, Log.extra).where(
        Log.event.in_((LOOKUP_EVENT, REFUSED_EVENT))
    )
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
    "check_rate_and_record",
    "lookups_of",
    "lookups_per_hour",
    "record_lookup",
)
