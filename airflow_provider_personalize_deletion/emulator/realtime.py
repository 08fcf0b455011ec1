"""
Individual imports (PutEvents, PutUsers) as records: what the ``personalize-events`` API and the control
API's ``put-events`` / ``put-users`` add to a dataset, as ``PUT`` records.

Field names follow the service's mapping: an event becomes an interactions record (``USER_ID``,
``ITEM_ID``, ``TIMESTAMP`` from ``sentAt`` in epoch seconds, ``EVENT_TYPE``, ``EVENT_VALUE`` when given);
a user's ``properties`` (a JSON object whose names are the schema's fields in camel case) become fields
in upper snake case (``numberOfRatings`` -> ``NUMBER_OF_RATINGS``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from airflow_provider_personalize_deletion.emulator.dataset_records import USER_ID, Record


def event_records(user_id: str, events: Sequence[Mapping[str, Any]]) -> list[Record]:
    """
    :param user_id: the events' ``userId``.
    :param events: PutEvents' ``eventList`` (``sentAt`` as epoch seconds or a datetime).
    :return: one interactions record per event.
    """
    records = []
    for event in events:
        sent_at = event["sentAt"]
        seconds = sent_at.timestamp() if isinstance(sent_at, datetime) else float(sent_at)
        record = {USER_ID: user_id, "ITEM_ID": event.get("itemId", ""), "TIMESTAMP": str(int(seconds))}
        record["EVENT_TYPE"] = event["eventType"]
        if event.get("eventValue") is not None:
            record["EVENT_VALUE"] = str(event["eventValue"])
        records.append(record)
    return records


def user_records(users: Sequence[Mapping[str, Any]]) -> list[Record]:
    """:param users: PutUsers' ``users``; return one users record each."""
    records = []
    for user in users:
        properties = json.loads(user.get("properties") or "{}")
        records.append({USER_ID: user["userId"], **{_field(name): str(v) for name, v in properties.items()}})
    return records


def _field(property_name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", property_name).upper()
