"""
A bound on the calls the triggers of one triggerer send to Amazon Personalize: R calls a second.

Every HTTP request a shared client sends (retries included) first takes a turn from the
:class:`CallRateLimiter` of its connection and region, shared by every client of the event loop with
that connection and region (see :mod:`.client_pool`): N waits never send more than R calls in a second,
however many defer together. Turns are handed out in the order they were asked for, at least ``1 / R``
seconds apart, each caller waiting for the one before it (no polling). R is the Airflow setting
``[personalize_deletion] triggerer_calls_per_second`` (:data:`DEFAULT_CALLS_PER_SECOND`; 0 turns the
bound off).

A throttling answer (``ThrottlingException``, ``TooManyRequestsException``: what botocore's retry modes
call throttling) halves the rate of the whole limiter, down to :data:`MIN_CALLS_PER_SECOND`; the rate then
grows back to R, linearly, over :data:`RECOVERY_SECONDS`. Turns already handed out are kept.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

#: The Airflow setting (section, option) of R.
CALLS_PER_SECOND_SETTING = ("personalize_deletion", "triggerer_calls_per_second")
#: R when the setting is unset or invalid: calls per second per connection and region.
DEFAULT_CALLS_PER_SECOND = 10.0
#: The rate a run of throttling answers cannot push the limiter below.
MIN_CALLS_PER_SECOND = 0.5
#: What a throttling answer multiplies the rate by.
THROTTLED_RATE_FACTOR = 0.5
#: Seconds for the rate to grow back from 0 to R after a throttling answer.
RECOVERY_SECONDS = 60.0

log = logging.getLogger(__name__)


class CallRateLimiter:
    """
    Hand out turns to call, in order, at most ``calls_per_second`` a second (see the module).

    :param calls_per_second: R, the most calls in a second.
    :param clock: monotonic seconds (a fake one in tests).
    :param sleep: sleeps the given seconds (a fake one in tests).
    """

    def __init__(
        self,
        calls_per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        if not calls_per_second > 0:
            raise ValueError("Invalid parameter 'calls_per_second': must be a positive number")
        self.ceiling = float(calls_per_second)
        self._rate = self.ceiling
        self._clock = clock
        self._sleep = sleep
        self._rate_at = clock()
        self._last_turn = -math.inf
        self._last_in_line: asyncio.Future[None] | None = None
        #: Turns handed out so far.
        self.granted = 0
        #: Throttling answers seen so far.
        self.throttled_answers = 0

    def rate(self) -> float:
        """The calls per second now allowed: R, or less after a throttling answer."""
        now = self._clock()
        if self._rate < self.ceiling:
            regained = self.ceiling * (now - self._rate_at) / RECOVERY_SECONDS
            self._rate = min(self.ceiling, self._rate + regained)
        self._rate_at = now
        return self._rate

    async def acquire(self) -> None:
        """
        Wait for this caller's turn: after the caller before it, and ``1 / rate`` after its turn.

        Callers queue in a chain, each waiting for the one before it, so only the first sleeps on a
        timer; the spacing runs from when the previous turn was actually taken, so a loop that was
        held (a garbage collection, a busy machine) does not release the turns that fell due meanwhile
        all at once. A caller cancelled while it waits passes its place on once the caller before it
        has had its turn.
        """
        before, mine = self._last_in_line, asyncio.get_running_loop().create_future()
        self._last_in_line = mine
        try:
            if before is not None:
                await asyncio.shield(before)
            while (wait := self._last_turn + 1 / self.rate() - self._clock()) > 0:
                await self._sleep(wait)
            self._last_turn = self._clock()
            self.granted += 1
        finally:
            if before is None or before.done():
                mine.set_result(None)
            else:
                before.add_done_callback(lambda _: mine.set_result(None))
            if self._last_in_line is mine and mine.done():
                self._last_in_line = None

    def throttled(self) -> None:
        """Slow down after a throttling answer: halve the rate, down to :data:`MIN_CALLS_PER_SECOND`."""
        self.throttled_answers += 1
        self._rate = max(MIN_CALLS_PER_SECOND, self.rate() * THROTTLED_RATE_FACTOR)


def limit_client_calls(client: Any, limiter: CallRateLimiter) -> None:
    """
    Make every request of an aiobotocore client wait for its turn, and throttling answers slow it down.

    :param client: the client, open.
    :param limiter: the limiter of the client's connection and region.
    """
    from botocore.retries.standard import RetryEventAdapter, ThrottlingErrorDetector

    detector = ThrottlingErrorDetector(RetryEventAdapter())
    service = client.meta.service_model.service_id.hyphenize()

    async def before_send(**_: Any) -> None:
        await limiter.acquire()

    def on_answer(**kwargs: Any) -> None:
        # Only looks: returning None leaves the decision to retry to the client's retry mode.
        if detector.is_throttling_error(**kwargs):
            limiter.throttled()

    client.meta.events.register(f"before-send.{service}", before_send)
    client.meta.events.register(f"needs-retry.{service}", on_answer)


def calls_per_second_setting() -> float | None:
    """
    Read R from the Airflow setting: None when it is 0 (no bound).

    A tuning setting: a value that is not a number of zero or more is logged as an error, and
    :data:`DEFAULT_CALLS_PER_SECOND` applies; it never fails a wait.
    """
    from airflow.configuration import conf
    from airflow.exceptions import AirflowConfigException

    try:
        value = conf.getfloat(*CALLS_PER_SECOND_SETTING, fallback=DEFAULT_CALLS_PER_SECOND)
    except (AirflowConfigException, ValueError):
        value = math.nan
    if not value >= 0 or math.isinf(value):
        log.error(
            "%s is %r, not a number of calls per second (0 or more): %g applies.",
            ".".join(CALLS_PER_SECOND_SETTING),
            conf.get(*CALLS_PER_SECOND_SETTING, fallback=None),
            DEFAULT_CALLS_PER_SECOND,
        )
        return DEFAULT_CALLS_PER_SECOND
    return value or None
