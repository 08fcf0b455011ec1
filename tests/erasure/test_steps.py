"""The erasure steps outside a DAG: claims per try, and the clean-up of deletion files."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow_provider_personalize_deletion.erasure import runtime, steps
from tests.erasure.conftest import BUCKET


def collect(world, try_number: int = 1) -> dict:
    return steps.collect_erasure_requests(
        {},
        "manual__1",
        try_number,
        datetime.now(timezone.utc),
        runtime.request_store,
        runtime.get_variable,
        conf={},
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


def test_cleanup_deletes_this_runs_files_and_only_old_deletion_files_of_earlier_runs(world, emulator):
    collected = collect(world)
    prefix = collected["s3_key_prefix"]
    earlier = "erasure-runs/0123456789abcdef/part-00000.csv"
    world.s3.put_object(Bucket=BUCKET, Key=f"{prefix}/part-00000.csv", Body=b"USER_ID\nuser-001\n")
    world.put_old_object(earlier, hours=0)
    now = datetime.now(timezone.utc)
    result = steps.delete_deletion_files(collected, [], runtime.describer(collected), world.s3, now)
    assert result == {"deleted": 1, "stale_deleted": 0, "uploads_aborted": 0, "kept": None}
    assert world.objects() == [earlier]
    later = now + timedelta(hours=49)
    result = steps.delete_deletion_files(collected, [], runtime.describer(collected), world.s3, later)
    assert result["stale_deleted"] == 1
    assert world.files_left() == 0


def test_the_sweep_deletes_only_old_objects_this_pipeline_wrote(world, emulator):
    collected = collect(world)
    retention = "erasure-runs/keep-me-retention-policy.txt"
    look_alike = "erasure-runs/0123456789abcdef/part-00001.csv"
    other_shape = "erasure-runs/0123456789abcdef/part-1.csv"
    ours = "erasure-runs/0123456789abcdef/part-00000.csv"
    world.put_old_object(retention, hours=72)
    world.put_old_object(look_alike, hours=72, deletion_file=False)
    world.put_old_object(other_shape, hours=72)
    world.put_old_object(ours, hours=72)
    now = datetime.now(timezone.utc)
    result = steps.delete_deletion_files(collected, [], runtime.describer(collected), world.s3, now)
    assert result["stale_deleted"] == 1
    assert world.objects() == sorted([retention, look_alike, other_shape])


def test_the_sweep_aborts_old_incomplete_uploads_of_deletion_files_only(world, emulator):
    collected = collect(world)
    killed = "erasure-runs/0123456789abcdef/part-00000.csv"
    foreign = "erasure-runs/other-team/upload.bin"
    for key in (killed, foreign):
        upload = world.s3.create_multipart_upload(Bucket=BUCKET, Key=key)
        world.s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x")
    now = datetime.now(timezone.utc)  # moto reports every upload as initiated in 2010
    result = steps.delete_deletion_files(collected, [], runtime.describer(collected), world.s3, now)
    assert result["uploads_aborted"] == 1
    left = [upload["Key"] for upload in world.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])]
    assert left == [foreign]


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


def test_ad_hoc_ids_never_reach_the_hook_lineage_collector(world, monkeypatch):
    from airflow.sdk import lineage, plugins_manager

    monkeypatch.setattr(
        plugins_manager, "get_hook_lineage_readers_plugins", lambda: [lineage.HookLineageReader]
    )
    lineage.get_hook_lineage_collector.cache_clear()
    try:
        collector = lineage.get_hook_lineage_collector()
        steps.collect_erasure_requests(
            {"user_ids": ["user-018", "user-019"]},
            "manual__1",
            1,
            datetime.now(timezone.utc),
            runtime.request_store,
            runtime.get_variable,
            conf={"user_ids": ["user-018", "user-019"]},
        )
        collected = collector.collected_assets
    finally:
        lineage.get_hook_lineage_collector.cache_clear()
    assert collected.extra, "the reader collects the store's other statements"
    assert "user-018" not in repr(collected)
    assert world.statuses() == {"user-018": "pending", "user-019": "pending"}


def test_a_dry_run_counts_invalid_requests_and_adds_no_ad_hoc_id(world):
    world.request("user-001", "x" * 300)
    collected = steps.collect_erasure_requests(
        {"dry_run": True, "user_ids": ["user-002"]},
        "manual__1",
        1,
        datetime.now(timezone.utc),
        runtime.request_store,
        runtime.get_variable,
        conf={"dry_run": True, "user_ids": ["user-002"]},
    )
    assert collected["requests"]["would_reject"] == {"too_long": 1}
    assert collected["requests"]["claimed"] == 0
    assert world.statuses() == {"user-001": "pending", "x" * 300: "pending"}
    assert world.store.count_claimed(collected["batch_key"]) == 0
