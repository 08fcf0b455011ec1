"""The erasure steps outside a DAG: claims per try, and the clean-up of deletion files."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow_provider_personalize_deletion.erasure import runtime, steps
from airflow_provider_personalize_deletion.erasure.claim import Claim
from airflow_provider_personalize_deletion.transfers.s3_upload import DELETION_FILE_METADATA
from tests.erasure.conftest import BUCKET


def settings(**params):
    """The settings every task of a run resolves: its params, then the Variables, then defaults."""
    return runtime.run_settings(params, params)


def claim_of(collected: dict) -> Claim:
    return Claim.from_collected(collected)


def run_folder(collected: dict) -> str:
    return claim_of(collected).run_folder(settings())


RUN_ID = "manual__1"


def sweep(collected: dict, job_arns=(), now=None) -> dict:
    run = settings()
    now = now or datetime.now(timezone.utc)
    return steps.delete_deletion_files(
        run,
        claim_of(collected),
        list(job_arns),
        runtime.describer(run),
        runtime.s3_client(run),
        now,
        run_id=RUN_ID,
        list_jobs=runtime.job_lister(run),
    )


def collect(world, try_number: int = 1) -> dict:
    return steps.collect_erasure_requests(
        {},
        RUN_ID,
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
    assert run_folder(first) != run_folder(second)
    assert second["requests"]["claimed"] == 2
    assert world.store.count_claimed(first["batch_key"]) == 0


def test_an_invalid_request_is_set_aside_instead_of_blocking_the_run(world):
    world.request("user-001", "x" * 300)
    collected = collect(world)
    assert collected["requests"]["rejected"] == {"too_long": 1}
    assert collected["requests"]["claimed"] == 1


def test_cleanup_deletes_this_runs_files_and_only_old_deletion_files_of_earlier_runs(world, emulator):
    collected = collect(world)
    prefix = run_folder(collected)
    earlier = "erasure-runs/0123456789abcdef/1/part-00000.csv"
    for try_number in (1, 2):
        world.put_old_object(f"{prefix}/{try_number}/part-00000.csv", hours=0)
    world.put_old_object(earlier, hours=0)
    now = datetime.now(timezone.utc)
    result = sweep(collected, now=now)
    assert result == {
        "deleted": 2,
        "stale_deleted": 0,
        "earlier_tries_deleted": 0,
        "earlier_tries_kept": 0,
        "uploads_aborted": 0,
        "kept": None,
    }
    assert world.objects() == [earlier]
    later = now + timedelta(hours=49)
    result = sweep(collected, now=later)
    assert result["stale_deleted"] == 1
    assert world.files_left() == 0


def test_the_sweep_deletes_only_old_objects_this_pipeline_wrote(world, emulator):
    collected = collect(world)
    retention = "erasure-runs/keep-me-retention-policy.txt"
    look_alike = "erasure-runs/0123456789abcdef/part-00001.csv"
    other_shape = "erasure-runs/0123456789abcdef/part-1.csv"
    ours = "erasure-runs/0123456789abcdef/2/part-00000.csv"
    before_try_folders = "erasure-runs/0123456789abcdef/part-00000.csv"
    world.put_old_object(retention, hours=72)
    world.put_old_object(look_alike, hours=72, deletion_file=False)
    world.put_old_object(other_shape, hours=72)
    world.put_old_object(ours, hours=72)
    world.put_old_object(before_try_folders, hours=72)
    result = sweep(collected)
    assert result["stale_deleted"] == 2
    assert world.objects() == sorted([retention, look_alike, other_shape])


def test_the_sweep_aborts_old_incomplete_uploads_of_deletion_files_only(world, emulator):
    collected = collect(world)
    killed = "erasure-runs/0123456789abcdef/1/part-00000.csv"
    foreign = "erasure-runs/other-team/upload.bin"
    for key in (killed, foreign):
        upload = world.s3.create_multipart_upload(Bucket=BUCKET, Key=key)
        world.s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x")
    result = sweep(collected)  # moto reports every upload as initiated in 2010
    assert result["uploads_aborted"] == 1
    left = [upload["Key"] for upload in world.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])]
    assert left == [foreign]


def test_cleanup_keeps_the_files_while_a_job_may_still_read_them(world, emulator):
    from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
    from tests.erasure.conftest import ROLE_ARN

    collected = collect(world)
    location = f"s3://{BUCKET}/{run_folder(collected)}/1/part-00000.csv"
    world.put_old_object(location.split("/", 3)[3], hours=0)
    emulator.hold("erase-1", "IN_PROGRESS")
    arn = PersonalizeHook().create_data_deletion_job("erase-1", world.groups["shop"], location, ROLE_ARN)
    result = sweep(collected, [arn])
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


def test_plan_refuses_an_export_outside_the_runs_folder_before_any_job(world):
    import pytest

    world.request("user-001")
    collected = collect(world)
    run, claim = settings(), claim_of(collected)
    ours = f"s3://{BUCKET}/{claim.export_folder(run, 1)}/part-00000.csv"
    assert steps.plan_deletion_jobs(run, claim, {"claim": claim.batch_key, "data_locations": [ours]})
    forged = [
        {"claim": claim.batch_key, "data_locations": ["s3://other-team-data/warehouse/customers.csv"]},
        {"claim": claim.batch_key, "data_locations": [ours.replace(BUCKET, "other-team-data")]},
        {"claim": claim.batch_key, "data_locations": [ours.replace("/1/", "/1/../../x/1/")]},
        {"claim": claim.batch_key, "data_locations": [ours, ours.replace("/1/", "/2/")]},
        {"claim": claim.batch_key, "data_locations": [ours, ours]},
        {"claim": claim.batch_key, "data_locations": []},
        {"claim": "0" * 32, "data_locations": [ours]},
    ]
    for export in forged:
        with pytest.raises(steps.ErasureRunFailedError, match="No deletion job planned"):
            steps.plan_deletion_jobs(run, claim, export)


def test_the_claim_taken_from_the_collect_xcom_is_checked():
    import pytest

    from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError

    good = {"batch_key": "a" * 32, "collected_at": "2026-11-30T00:00:00+00:00"}
    assert Claim.from_collected({**good, "settings": {"bucket": "ignored"}}).batch_key == "a" * 32
    for forged, field in [
        ({**good, "batch_key": "a" * 31 + "'"}, "batch_key"),
        ({**good, "batch_key": "A" * 32}, "batch_key"),
        ({**good, "batch_key": "a" * 32 + "\n"}, "batch_key"),
        ({**good, "collected_at": "yesterday"}, "collected_at"),
        ({**good, "collected_at": "2026-11-30T00:00:00"}, "collected_at"),
    ]:
        with pytest.raises(PersonalizeValidationError) as raised:
            Claim.from_collected(forged)
        assert raised.value.field == field


def test_the_sweep_leaves_an_object_without_the_metadata_even_in_the_runs_own_folder(world, emulator):
    collected = collect(world)
    folder = run_folder(collected)
    foreign = f"{folder}/1/part-00000.csv"
    ours = f"{folder}/1/part-00001.csv"
    world.put_old_object(foreign, hours=0, deletion_file=False)
    world.s3.put_object(Bucket=BUCKET, Key=ours, Body=b"USER_ID\nu\n", Metadata=dict(DELETION_FILE_METADATA))
    assert sweep(collected)["deleted"] == 1
    assert world.objects() == [foreign]


def _deletion_file(world, folder: str, part: int = 0) -> str:
    key = f"{folder}/1/part-{part:05d}.csv"
    world.put_old_object(key, hours=0)
    return key


def test_a_cleared_runs_cleanup_deletes_the_files_and_uploads_of_its_earlier_collect_tries(world, emulator):
    """The whole run cleared: collect claims again (try 2), in a new folder; the first claim's file, a
    killed upload of it and its copy left by an earlier export try go with this claim's own, once no
    job runs; an object without the deletion files' metadata in that folder stays."""
    world.request("user-001")
    first = collect(world, try_number=1)
    earlier = run_folder(first)
    first_files = [_deletion_file(world, earlier), f"{earlier}/2/part-00000.csv"]
    world.put_old_object(first_files[1], hours=0)
    foreign = f"{earlier}/1/part-00009.csv"
    world.put_old_object(foreign, hours=0, deletion_file=False)
    killed = f"{earlier}/3/part-00000.csv"
    upload = world.s3.create_multipart_upload(Bucket=BUCKET, Key=killed)
    second = collect(world, try_number=2)
    _deletion_file(world, run_folder(second))
    other_run = _deletion_file(world, "erasure-runs/0123456789abcdef")  # another run's, recent: kept
    result = sweep(second)
    assert (result["deleted"], result["earlier_tries_deleted"], result["earlier_tries_kept"]) == (1, 2, 0)
    assert world.objects() == sorted([foreign, other_run])
    uploads = world.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert [item["UploadId"] for item in uploads] == []
    assert result["uploads_aborted"] >= 1 and upload["UploadId"]


def test_an_earlier_tries_file_stays_while_a_job_created_from_it_has_not_ended(world, emulator):
    """A job the killed first try created from its file, in none of this run's XComs, still running:
    that file stays (this claim's go); once the job ended, the next cleanup deletes it."""
    from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
    from tests.erasure.conftest import ROLE_ARN

    world.request("user-001")
    first = collect(world, try_number=1)
    read, unread = _deletion_file(world, run_folder(first)), _deletion_file(world, run_folder(first), 1)
    emulator.hold("orphan-1", "IN_PROGRESS")
    PersonalizeHook().create_data_deletion_job(
        "orphan-1", world.groups["shop"], f"s3://{BUCKET}/{read}", ROLE_ARN
    )
    second = collect(world, try_number=2)
    ours = _deletion_file(world, run_folder(second))
    result = sweep(second)
    assert (result["deleted"], result["earlier_tries_deleted"], result["earlier_tries_kept"]) == (1, 1, 1)
    assert world.objects() == [read]
    assert ours not in world.objects() and unread not in world.objects()
    emulator.release("orphan-1")
    wait_until_ended(emulator, "orphan-1")
    assert sweep(second)["earlier_tries_deleted"] == 1
    assert world.files_left() == 0


def test_no_earlier_tries_file_goes_while_a_job_of_this_run_runs(world, emulator):
    from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
    from tests.erasure.conftest import ROLE_ARN

    world.request("user-001")
    earlier = _deletion_file(world, run_folder(collect(world, try_number=1)))
    second = collect(world, try_number=2)
    ours = _deletion_file(world, run_folder(second))
    emulator.hold("erase-2", "IN_PROGRESS")
    arn = PersonalizeHook().create_data_deletion_job(
        "erase-2", world.groups["shop"], f"s3://{BUCKET}/{ours}", ROLE_ARN
    )
    result = sweep(second, [arn])
    assert (result["deleted"], result["earlier_tries_deleted"], result["kept"]) == (
        0,
        0,
        "1 job(s) still running",
    )
    assert world.objects() == sorted([earlier, ours])


def test_the_earlier_tries_are_those_of_the_run_before_this_claim(world):
    from airflow_provider_personalize_deletion.erasure.claim import claim_key

    now = datetime.now(timezone.utc)
    third = Claim(claim_key(RUN_ID, 3), now)
    folders = third.earlier_run_folders(settings(), RUN_ID)
    assert folders == [f"erasure-runs/{claim_key(RUN_ID, n)[:16]}" for n in (1, 2)]
    assert third.earlier_run_folders(settings(), "manual__2") == []  # another run's claim: none
    assert Claim(claim_key(RUN_ID, 1), now).earlier_run_folders(settings(), RUN_ID) == []


def wait_until_ended(emulator, job_name: str) -> None:
    import time

    for _ in range(100):
        if {job["status"] for job in emulator.jobs() if job["jobName"] == job_name} <= {
            "COMPLETED",
            "FAILED",
        }:
            return
        time.sleep(0.1)
    raise AssertionError(f"{job_name} did not end")
