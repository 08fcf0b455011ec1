"""A job's lifecycle, PENDING > IN_PROGRESS > COMPLETED | FAILED, on the clock; holds and forced failures."""

from __future__ import annotations

import time

import pytest

from airflow_provider_personalize_deletion.emulator import EmulatorControlError


@pytest.fixture
def group(emulator):
    return emulator.create_dataset_group("shop", user_ids=["alice", "bob", "carol"])


@pytest.fixture
def input_csv(put_csv):
    return put_csv("erase/today.csv", ["alice", "bob"])


def test_a_job_with_zero_timings_is_completed_at_the_first_describe(
    group, input_csv, create_job, describe_job
):
    job = describe_job(create_job("erase-1", group, input_csv))

    assert (job["status"], job["numDeleted"]) == ("COMPLETED", 2)


def test_a_job_passes_through_pending_and_in_progress_on_the_clock(
    emulator, group, input_csv, create_job, describe_job
):
    emulator.set_timings(pending_seconds=0.4, in_progress_seconds=0.4)
    job_arn = create_job("erase-1", group, input_csv)

    seen = [describe_job(job_arn)["status"]]
    while seen[-1] not in ("COMPLETED", "FAILED"):
        time.sleep(0.1)
        status = describe_job(job_arn)["status"]
        if status != seen[-1]:
            seen.append(status)

    assert seen == ["PENDING", "IN_PROGRESS", "COMPLETED"]


def test_last_updated_is_the_time_of_the_last_transition(
    emulator, group, input_csv, create_job, describe_job
):
    emulator.set_timings(pending_seconds=0.2, in_progress_seconds=600)
    job_arn = create_job("erase-1", group, input_csv)
    time.sleep(0.3)

    job = describe_job(job_arn)

    assert job["status"] == "IN_PROGRESS"
    assert (job["lastUpdatedDateTime"] - job["creationDateTime"]).total_seconds() == pytest.approx(
        0.2, abs=0.01
    )


def test_users_stay_in_the_group_until_the_job_completes(emulator, group, input_csv, create_job):
    emulator.set_timings(pending_seconds=0, in_progress_seconds=600)
    create_job("erase-1", group, input_csv)

    assert emulator.users(group) == {"alice", "bob", "carol"}


def test_a_held_job_stays_in_its_status(emulator, group, input_csv, create_job, describe_job):
    emulator.hold("erase-1", "PENDING")

    job_arn = create_job("erase-1", group, input_csv)

    assert describe_job(job_arn)["status"] == "PENDING"


def test_a_job_held_in_progress_moves_on_when_released(emulator, group, input_csv, create_job, describe_job):
    emulator.hold("erase-1", "IN_PROGRESS")
    job_arn = create_job("erase-1", group, input_csv)
    held = describe_job(job_arn)["status"]

    emulator.release("erase-1")

    assert (held, describe_job(job_arn)["status"]) == ("IN_PROGRESS", "COMPLETED")


def test_a_job_cannot_be_held_in_a_final_status(emulator):
    with pytest.raises(EmulatorControlError, match="PENDING"):
        emulator.hold("erase-1", "COMPLETED")


def test_fail_job_makes_the_named_job_fail_with_the_reason(
    emulator, group, input_csv, create_job, describe_job
):
    emulator.fail_job("erase-1", "Internal service error.")

    job = describe_job(create_job("erase-1", group, input_csv))

    assert (job["status"], job["failureReason"]) == ("FAILED", "Internal service error.")


def test_fail_job_without_a_name_fails_the_next_job_only(
    emulator, group, input_csv, create_job, describe_job
):
    emulator.fail_job(None, "Internal service error.")

    first = describe_job(create_job("erase-1", group, input_csv))
    second = describe_job(create_job("erase-2", group, input_csv))

    assert (first["status"], second["status"]) == ("FAILED", "COMPLETED")


def test_a_failed_job_deletes_nobody(emulator, group, input_csv, create_job, describe_job):
    emulator.fail_job("erase-1", "Internal service error.")

    describe_job(create_job("erase-1", group, input_csv))

    assert emulator.users(group) == {"alice", "bob", "carol"}


def test_the_timings_a_job_got_at_creation_stay_its_own(emulator, group, input_csv, create_job, describe_job):
    emulator.set_timings(pending_seconds=600, in_progress_seconds=600)
    job_arn = create_job("erase-1", group, input_csv)

    emulator.set_timings(pending_seconds=0, in_progress_seconds=0)

    assert describe_job(job_arn)["status"] == "PENDING"


def test_reset_forgets_jobs_groups_and_buckets(emulator, group, input_csv, create_job, s3_client):
    create_job("erase-1", group, input_csv)

    emulator.reset()

    assert (emulator.jobs(), s3_client.list_buckets()["Buckets"]) == ([], [])
