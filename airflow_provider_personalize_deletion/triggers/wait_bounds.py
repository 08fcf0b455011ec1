"""
The bounds of a wait in the triggerer: its poll interval, its attempts, and the deadline they give.

A wait ends at a deadline, a wall-clock time fixed when the task deferred and serialized with the
trigger, so that a trigger rebuilt after a triggerer restart or on another triggerer keeps it rather
than starting its count again. Its last poll is made at the deadline itself (the pause before it is
cut short): a job that ended just before the deadline is seen, and no wait outlasts its deadline by
more than one poll interval (a poll still unanswered then, throttled or slow, ends the wait as a
timeout). Within a run the remaining time is counted on the monotonic clock, so a wall clock set back
or forward meanwhile does not stretch or cut the wait.

Bad settings are refused, naming the parameter and the rule, when the trigger or the operator is
built: before any AWS call. Light to import (the triggerer imports it on its event loop).
"""

from __future__ import annotations

import asyncio
import math
import time
from numbers import Real

#: The shortest poll interval of a wait in the triggerer, in seconds.
MIN_POLL_INTERVAL = 1


def _is_number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def check_interval(name: str, value: object, minimum: float = MIN_POLL_INTERVAL) -> float:
    """
    Return a poll interval or a timeout that is a finite number of seconds of at least ``minimum``.

    :param name: the parameter, for the error.
    :param value: its value.
    :param minimum: the least it may be.
    :raises ValueError: naming ``name`` and the rule.
    """
    if not _is_number(value) or not math.isfinite(value) or value < minimum:  # type: ignore[arg-type,operator]
        raise ValueError(
            f"Invalid parameter {name!r}: must be a finite number of seconds, at least {minimum:g}"
        )
    return float(value)  # type: ignore[arg-type]


def check_attempts(name: str, value: object) -> int:
    """
    Return a number of polls that is a whole number of at least 1.

    :param name: the parameter, for the error.
    :param value: its value.
    :raises ValueError: naming ``name`` and the rule.
    """
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"Invalid parameter {name!r}: must be a whole number, at least 1")
    return value


def check_deadline(value: object) -> float:
    """
    Return a serialized deadline: a finite number of seconds since the epoch.

    :param value: the ``deadline`` argument of a trigger.
    :raises ValueError: naming ``deadline`` and the rule.
    """
    if not _is_number(value) or not math.isfinite(value):  # type: ignore[arg-type]
        raise ValueError("Invalid parameter 'deadline': must be a finite number of seconds since the epoch")
    return float(value)  # type: ignore[arg-type]


def deadline_in(seconds: float) -> float:
    """:param seconds: from now; return the deadline that many seconds away, in seconds since the epoch."""
    return wall_clock() + seconds


#: The wall clock of the deadlines (a fake one in tests).
wall_clock = time.time
#: The clock a run counts its remaining time on, and its pauses' sleep (fake ones in tests).
run_clock = time.monotonic
run_sleep = asyncio.sleep
