"""The call rate limiter: R calls a second at most, in order, slower after throttling; its wiring."""

from __future__ import annotations

import asyncio
import logging

import pytest

from airflow_provider_personalize_deletion.triggers.call_rate import (
    DEFAULT_CALLS_PER_SECOND,
    MIN_CALLS_PER_SECOND,
    RECOVERY_SECONDS,
    CallRateLimiter,
    calls_per_second_setting,
)
from airflow_provider_personalize_deletion.triggers.client_pool import running_loop_pool
from tests.triggers.test_shared_client import first_event, trigger

SETTING = "AIRFLOW__PERSONALIZE_DELETION__TRIGGERER_CALLS_PER_SECOND"
#: Float sums of 1 / R land a hair either side of a window's edge.
EDGE = 1e-9


class FakeClock:
    """A clock that moves only when a caller sleeps (one caller of a limiter sleeps at a time)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def turns_of(limiter: CallRateLimiter, clock: FakeClock, count: int) -> list[float]:
    """Start ``count`` callers together; return when each got its turn, in the order they asked."""

    async def caller() -> float:
        await limiter.acquire()
        return clock.now

    return list(await asyncio.gather(*(caller() for _ in range(count))))


def most_in_one_second(times: list[float]) -> int:
    return max(sum(start <= other < start + 1 - EDGE for other in times) for start in times)


async def test_many_callers_together_get_at_most_r_turns_in_any_second_in_the_order_they_asked():
    clock = FakeClock()
    limiter = CallRateLimiter(10, clock=clock, sleep=clock.sleep)
    turns = await turns_of(limiter, clock, 1000)

    assert most_in_one_second(turns) == 10
    assert turns == sorted(turns)
    assert turns[-1] - turns[0] == pytest.approx(99.9)
    assert limiter.granted == 1000


async def test_a_held_loop_does_not_release_the_turns_that_fell_due_all_at_once():
    clock = FakeClock()
    limiter = CallRateLimiter(10, clock=clock, sleep=clock.sleep)
    held_once = False

    async def held_sleep(seconds: float) -> None:
        nonlocal held_once
        if not held_once:  # the loop comes back 3 s late from the first sleep
            held_once, clock.now = True, clock.now + 3
        await clock.sleep(seconds)

    limiter._sleep = held_sleep
    turns = await turns_of(limiter, clock, 100)

    assert most_in_one_second(turns) == 10


async def test_a_caller_cancelled_in_the_queue_keeps_the_order_and_the_spacing():
    clock = FakeClock()
    limiter = CallRateLimiter(10, clock=clock, sleep=clock.sleep)
    turns: list[float] = []

    async def caller() -> None:
        await limiter.acquire()
        turns.append(clock.now)

    tasks = [asyncio.create_task(caller()) for _ in range(20)]
    await asyncio.sleep(0)
    tasks[5].cancel()
    tasks[19].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    assert len(turns) == 18
    assert most_in_one_second(turns) <= 10


async def test_throttling_halves_the_rate_for_the_callers_after_it_which_grows_back_to_r():
    clock = FakeClock()
    limiter = CallRateLimiter(10, clock=clock, sleep=clock.sleep)
    before = await turns_of(limiter, clock, 30)
    limiter.throttled()
    after = await turns_of(limiter, clock, 30)

    assert after[-1] - after[0] < 29 / 5  # the rate grows back as the fake time goes on
    assert after[1] - after[0] == pytest.approx(1 / 5, rel=0.01)
    assert most_in_one_second(before + after) <= 10
    assert limiter.rate() < 10
    clock.now += RECOVERY_SECONDS
    assert limiter.rate() == 10


async def test_a_run_of_throttling_answers_never_stops_the_calls():
    clock = FakeClock()
    limiter = CallRateLimiter(10, clock=clock, sleep=clock.sleep)
    for _ in range(50):
        limiter.throttled()
    assert limiter.rate() == MIN_CALLS_PER_SECOND
    first, second, third = await turns_of(limiter, clock, 3)
    assert (first, second) == (100.0, 102.0)  # 1 / MIN_CALLS_PER_SECOND apart
    assert second < third < second + 2  # the rate has grown back a little meanwhile


def test_the_setting_defaults_to_10_a_second_and_0_turns_the_bound_off(monkeypatch):
    assert calls_per_second_setting() == DEFAULT_CALLS_PER_SECOND == 10
    monkeypatch.setenv(SETTING, "25.5")
    assert calls_per_second_setting() == 25.5
    monkeypatch.setenv(SETTING, "0")
    assert calls_per_second_setting() is None


@pytest.mark.parametrize("value", ["fast", "-3", "inf"])
def test_an_invalid_setting_is_reported_and_the_default_applies(monkeypatch, caplog, value):
    monkeypatch.setenv(SETTING, value)
    with caplog.at_level(logging.ERROR):
        assert calls_per_second_setting() == DEFAULT_CALLS_PER_SECOND
    assert "triggerer_calls_per_second" in caplog.text


async def test_every_call_of_every_client_of_one_connection_and_region_takes_a_turn_of_one_limiter(
    clients, create_jobs, emulator, monkeypatch
):
    monkeypatch.setenv(SETTING, "1000")
    arns = create_jobs(6)
    calls_before = emulator.calls()
    events = await asyncio.gather(
        *(first_event(trigger(arn)) for arn in arns[:3]),
        *(first_event(trigger(arn, botocore_config={"read_timeout": 30})) for arn in arns[3:]),
    )

    assert {event["status"] for event in events} == {"success"}
    assert clients.opened == 2
    (limiter,) = running_loop_pool().limiters.values()
    assert limiter.ceiling == 1000
    assert limiter.granted == emulator.calls() - calls_before >= 6


async def test_with_the_bound_off_no_limiter_is_made(clients, create_jobs, monkeypatch):
    monkeypatch.setenv(SETTING, "0")
    (arn,) = create_jobs(1)
    assert (await first_event(trigger(arn)))["status"] == "success"
    assert running_loop_pool().limiters == {}


async def test_throttled_job_polls_never_fail_the_wait_and_slow_the_pool_down(
    create_jobs, emulator, monkeypatch
):
    monkeypatch.setenv(SETTING, "1000")
    (arn,) = create_jobs(1)
    emulator.throttle(4, "DescribeDataDeletionJob")
    no_retries = {"retries": {"mode": "standard", "total_max_attempts": 1}}

    event = await first_event(trigger(arn, botocore_config=no_retries))

    assert event == {"status": "success", "data_deletion_job_arn": arn}
    limiter = running_loop_pool().limiters["aws_default", "us-east-1"]
    assert limiter.throttled_answers == 4
    assert limiter.rate() < 1000
