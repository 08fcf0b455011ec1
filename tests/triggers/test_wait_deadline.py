"""
A wait in the triggerer ends at its deadline: the last poll is made then, a restart keeps it, a throttling
storm cannot stretch it, and bad bounds are refused before any AWS call.
"""

from __future__ import annotations

import asyncio
import math

import pytest
from airflow.models.trigger import Trigger
from airflow.sdk._shared.module_loading import import_string

from airflow_provider_personalize_deletion.triggers import wait_bounds
from airflow_provider_personalize_deletion.triggers.personalize import (
    PersonalizeDataDeletionJobCompletedTrigger,
    PersonalizeDatasetGroupQuietTrigger,
)
from tests.triggers.test_shared_client import first_event

NO_RETRIES = {"retries": {"mode": "standard", "total_max_attempts": 1}}


class FakeRunClock:
    """The run's clock: it moves only when the trigger pauses; ``at`` runs a callback once past a time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []
        self._due: list[tuple[float, object]] = []

    def __call__(self) -> float:
        return self.now

    def at(self, when: float, callback) -> None:
        self._due.append((when, callback))

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds
        for when, callback in [due for due in self._due if due[0] <= self.now]:
            self._due.remove((when, callback))
            callback()
        await asyncio.sleep(0)


@pytest.fixture
def run_clock(monkeypatch) -> FakeRunClock:
    clock = FakeRunClock()
    monkeypatch.setattr(wait_bounds, "run_clock", clock, raising=False)
    monkeypatch.setattr(wait_bounds, "run_sleep", clock.sleep, raising=False)
    return clock


async def test_a_job_completed_just_before_the_deadline_is_seen(create_jobs, emulator, run_clock):
    """The jittered pauses are shorter than the interval: counted in polls, the wait ended ~10 % early."""
    (arn,) = create_jobs(1, held=True)
    run_clock.at(9.7, lambda: emulator.release("erase-0"))
    trigger = PersonalizeDataDeletionJobCompletedTrigger(
        data_deletion_job_arn=arn, waiter_delay=1, waiter_max_attempts=10
    )

    event = await asyncio.wait_for(first_event(trigger), 60)

    assert event == {"status": "success", "data_deletion_job_arn": arn}
    assert sum(run_clock.pauses) <= 10 + 1e-6  # and never past the deadline


async def test_the_last_listing_of_a_quiet_wait_is_made_at_the_deadline(emulator, stage, run_clock):
    emulator.hold("training-held", "CREATE IN_PROGRESS")
    stage.version(stage.solution(), name="training-held", trained=False)
    run_clock.at(9.7, lambda: emulator.release("training-held"))
    trigger = PersonalizeDatasetGroupQuietTrigger(
        dataset_group_arn=stage.group, waiter_delay=1, waiter_max_attempts=10
    )

    event = await asyncio.wait_for(first_event(trigger), 60)

    assert event == {"status": "success", "dataset_group_arn": stage.group, "in_progress": []}


async def test_a_trigger_rebuilt_after_a_triggerer_restart_keeps_its_deadline(
    create_jobs, emulator, monkeypatch
):
    (arn,) = create_jobs(1, held=True)
    deferred = PersonalizeDataDeletionJobCompletedTrigger(
        data_deletion_job_arn=arn, waiter_delay=1, waiter_max_attempts=3
    )
    row = Trigger.from_object(deferred)  # stored as the triggerer stores it
    later = wait_bounds.wall_clock() + 3600
    monkeypatch.setattr(wait_bounds, "wall_clock", lambda: later, raising=False)  # restarted an hour later
    rebuilt = import_string(row.classpath)(**row.kwargs)
    calls = emulator.calls("DescribeDataDeletionJob")

    event = await asyncio.wait_for(first_event(rebuilt), 60)

    assert event["status"] == "timeout"
    assert emulator.calls("DescribeDataDeletionJob") - calls == 1  # one last look, not a new wait
    assert rebuilt.serialize() == deferred.serialize()


@pytest.mark.parametrize("kind", ["job", "quiet"])
async def test_a_throttling_storm_ends_the_wait_as_a_timeout_by_the_deadline_plus_one_interval(
    create_jobs, emulator, stage, kind
):
    if kind == "job":
        (arn,) = create_jobs(1, held=True)
        emulator.throttle(10**6, "DescribeDataDeletionJob")
        trigger = PersonalizeDataDeletionJobCompletedTrigger(
            data_deletion_job_arn=arn, waiter_delay=1, waiter_max_attempts=2, botocore_config=NO_RETRIES
        )
    else:
        emulator.throttle(10**6, "ListDatasets")
        trigger = PersonalizeDatasetGroupQuietTrigger(
            dataset_group_arn=stage.group, waiter_delay=1, waiter_max_attempts=2, botocore_config=NO_RETRIES
        )

    event = await asyncio.wait_for(first_event(trigger), 30)  # before: throttled polls went on for ever

    assert event["status"] == "timeout"  # the task looks at the job itself: never FAILED by throttling
    assert "deadline" in event["message"]


@pytest.mark.parametrize("delay", [0, -1, 0.5, math.nan, math.inf, "60", True, None])
def test_a_bad_waiter_delay_is_refused_naming_it(delay):
    with pytest.raises((ValueError, TypeError), match="waiter_delay"):
        PersonalizeDatasetGroupQuietTrigger(dataset_group_arn="arn:g", waiter_delay=delay)


@pytest.mark.parametrize("attempts", [0, -3, 1.5, math.nan, math.inf, "10", False])
def test_bad_waiter_max_attempts_are_refused_naming_them(attempts):
    with pytest.raises(ValueError, match="'waiter_max_attempts'"):
        PersonalizeDataDeletionJobCompletedTrigger(
            data_deletion_job_arn="arn:d", waiter_max_attempts=attempts
        )


@pytest.mark.parametrize("deadline", [math.nan, math.inf, "tomorrow"])
def test_a_bad_deadline_is_refused_naming_it(deadline):
    with pytest.raises(ValueError, match="'deadline'"):
        PersonalizeDataDeletionJobCompletedTrigger(data_deletion_job_arn="arn:d", deadline=deadline)
