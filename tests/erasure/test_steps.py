"""The erasure steps outside a DAG: claims per try, and the clean-up of deletion files."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow_provider_personalize_deletion.erasure import runtime, steps
from tests.erasure.conftest import BUCKET


def collect(world, try_number: int = 1) -> dict:
    return steps.collect_erasure_requests(
        {}, "manual__1", try_number, datetime.now(timezone.utc), runtime.request_store, runtime.get_variable
    )


def test_each_try_of_collect_claims_under_its_own_key_and_folder(world):
    world.request("user-001")
    first = collect(world, try_number=1)
    world.request("user-002")
    second = collect(world, try_number=2)
    assert first["batch_key"] != second["batch_key"]
    assert first["s3_key_prefix"] != second["s3_key_prefix"]
    assert second["requests"]["claimed"] == 2
    assert world.store.count_claimed(first["batch_key"]) == 0


def test_an_invalid_request_is_set_aside_instead_of_blocking_the_run(world):
    world.request("user-001", "x" * 300)
    collected = collect(world)
    assert collected["requests"]["rejected"] == {"too_long": 1}
    assert collected["requests"]["claimed"] == 1


def test_cleanup_deletes_this_runs_files_and_only_old_files_of_earlier_runs(world, emulator):
    collected = collect(world)
    prefix = collected["s3_key_prefix"]
    earlier = "erasure-runs/0123456789abcdef/part-00000.csv"
    for key in (f"{prefix}/part-00000.csv", earlier):
        world.s3.put_object(Bucket=BUCKET, Key=key, Body=b"USER_ID\nuser-001\n")
    now = datetime.now(timezone.utc)
    result = steps.delete_deletion_files(collected, [], runtime.describer(collected), world.s3, now)
    assert result == {"deleted": 1, "stale_deleted": 0, "kept": None}
    assert world.files_left() == 1
    later = now + timedelta(hours=49)
    result = steps.delete_deletion_files(collected, [], runtime.describer(collected), world.s3, later)
    assert result["stale_deleted"] == 1
    assert world.files_left() == 0


def test_cleanup_keeps_the_files_while_a_job_may_still_read_them(world, emulator):
    from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
    from tests.erasure.conftest import ROLE_ARN

    collected = collect(world)
    location = f"s3://{BUCKET}/{collected['s3_key_prefix']}/part-00000.csv"
    world.s3.put_object(Bucket=BUCKET, Key=location.split("/", 3)[3], Body=b"USER_ID\nuser-001\n")
    emulator.hold("erase-1", "IN_PROGRESS")
    arn = PersonalizeHook().create_data_deletion_job("erase-1", world.groups["shop"], location, ROLE_ARN)
    now = datetime.now(timezone.utc)
    result = steps.delete_deletion_files(collected, [arn], runtime.describer(collected), world.s3, now)
    assert result["kept"] == "1 job(s) still running"
    assert world.files_left() == 1
