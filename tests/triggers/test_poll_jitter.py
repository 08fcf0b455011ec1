"""The jitter of the triggers' pauses: within its bounds, spread, and the same after a triggerer restart."""

from __future__ import annotations

import subprocess
import sys

import pytest
from airflow.models.trigger import Trigger
from airflow.sdk._shared.module_loading import import_string

from airflow_provider_personalize_deletion.triggers.poll_jitter import POLL_JITTER, pause_before_poll
from tests.triggers.test_waiter_triggers import STORED_BEFORE_THE_UPGRADE

ARNS = [
    f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/erase-{index}" for index in range(1000)
]
QUIET = (
    "airflow_provider_personalize_deletion.triggers.personalize.PersonalizeDatasetGroupQuietTrigger",
    {
        "waiter_delay": 300,
        "waiter_max_attempts": 288,
        "aws_conn_id": "aws_default",
        "dataset_group_arn": "arn:g",
    },
)


def test_the_first_pause_is_at_most_the_jitter_and_the_others_never_longer_than_the_interval():
    for arn in ARNS:
        assert 0 <= pause_before_poll(arn, 60, 0) <= POLL_JITTER * 60
        for poll in range(1, 20):
            assert (1 - POLL_JITTER) * 60 <= pause_before_poll(arn, 60, poll) <= 60


def test_triggers_deferred_together_spread_their_polls_over_the_whole_jitter():
    first_polls = [pause_before_poll(arn, 10, 0) for arn in ARNS]
    # Each tenth of the window [0, 2 s) holds about a tenth of the first polls, none more than twice that.
    tenths = [sum(index * 0.2 <= pause < (index + 1) * 0.2 for pause in first_polls) for index in range(10)]
    assert min(tenths) >= 50 and max(tenths) <= 200
    assert len({pause_before_poll(ARNS[0], 10, poll) for poll in range(1, 50)}) == 49


def test_without_jitter_the_pauses_are_the_amazon_waiters():
    assert [pause_before_poll(ARNS[0], 10, poll, jitter=0) for poll in range(3)] == [0, 10, 10]


def test_the_pauses_are_the_same_in_another_process():
    """A triggerer restart or a hand-over rebuilds the trigger in another process, with another hash seed."""
    code = (
        "from airflow_provider_personalize_deletion.triggers.poll_jitter import pause_before_poll;"
        f"print([pause_before_poll({ARNS[7]!r}, 60, poll) for poll in range(5)])"
    )
    elsewhere = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123"},
    )
    assert elsewhere.stdout.strip() == str([pause_before_poll(ARNS[7], 60, poll) for poll in range(5)])


@pytest.mark.parametrize(("classpath", "kwargs"), [*STORED_BEFORE_THE_UPGRADE, QUIET])
def test_a_trigger_rebuilt_from_its_stored_row_pauses_as_the_one_that_deferred(classpath, kwargs):
    deferred = import_string(classpath)(**kwargs)
    row = Trigger.from_object(deferred)  # encrypted and decrypted as the triggerer does
    rebuilt = import_string(row.classpath)(**row.kwargs)
    pauses = [deferred.pause_seconds(poll) for poll in range(10)]
    assert [rebuilt.pause_seconds(poll) for poll in range(10)] == pauses
    delay = kwargs["waiter_delay"]
    assert 0 <= pauses[0] <= POLL_JITTER * delay
    assert all((1 - POLL_JITTER) * delay <= pause <= delay for pause in pauses[1:])


def test_two_triggers_of_the_same_class_and_settings_pause_differently_by_job():
    classpath, kwargs = STORED_BEFORE_THE_UPGRADE[0]
    first = import_string(classpath)(**kwargs)
    second = import_string(classpath)(**{**kwargs, "data_deletion_job_arn": "arn:other"})
    assert [first.pause_seconds(poll) for poll in range(5)] != [
        second.pause_seconds(poll) for poll in range(5)
    ]
