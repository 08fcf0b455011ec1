"""Turn service responses into values that XCom and trigger events carry as plain JSON."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any


def json_safe(value: Any) -> Any:
    """
    Return ``value`` with every datetime as an ISO-8601 string, recursively.

    :param value: a boto3 response or part of one.
    """
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value
