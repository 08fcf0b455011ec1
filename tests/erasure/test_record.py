"""record_erasure marks only what the completed jobs read: the binding of claim, export, jobs and rows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import product

import pytest

from airflow_provider_personalize_deletion.deletion_file.csv_file import MIN_FILE_BYTES
from airflow_provider_personalize_deletion.erasure import runtime, steps
from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
from airflow_provider_personalize_deletion.transfers.sql_to_s3 import SqlToPersonalizeDeletionFileOperator
from tests.conftest import TEST_FINGERPRINT_KEY
from tests.erasure.conftest import BUCKET, ROLE_ARN
from tests.erasure.test_steps import collect


def export_and_erase(world, *user_ids: str, **transfer_args) -> tuple[dict, dict, list[str]]:
    """Collect, export and run one job per group and file, as the DAG does; return what record reads."""
    world.request(*user_ids)
    collected = collect(world)
    export = SqlToPersonalizeDeletionFileOperator(
        task_id="export_user_ids",
        conn_id=collected["settings"]["warehouse_conn_id"],
        sql=collected["export_sql"],
        s3_bucket=BUCKET,
        s3_key_prefix=collected["s3_key_prefix"],
        claim=collected["batch_key"],
        **transfer_args,
    ).execute(context={})
    hook = PersonalizeHook()
    pairs = product(world.groups.values(), export["data_locations"])
    arns = [
        hook.create_data_deletion_job(f"erase-{index}", group, location, ROLE_ARN)
        for index, (group, location) in enumerate(pairs)
    ]
    return collected, export, arns


def record(world, collected, export, arns, **kwargs):
    return steps.record_erasure(
        collected,
        export,
        arns,
        runtime.describer(collected),
        world.store,
        "manual__1",
        datetime.now(timezone.utc),
        fingerprint_key=lambda: TEST_FINGERPRINT_KEY.encode(),
        **kwargs,
    )


def assert_nothing_marked(world, message: str) -> None:
    assert set(world.statuses().values()) == {"pending"}
    ((outcome, audit),) = world.audit()
    assert outcome == "failed"
    assert any(message in problem for problem in audit["problems"])


def test_the_claim_is_marked_when_the_jobs_read_exactly_its_users(world, emulator):
    collected, export, arns = export_and_erase(world, "user-001", "user-007")
    audit = record(world, collected, export, arns)
    assert audit["outcome"] == "erased"
    assert audit["export"]["claim"] == collected["batch_key"]
    assert set(world.statuses().values()) == {"erased"}


def test_an_export_of_another_claim_marks_nothing(world, emulator):
    collected, export, arns = export_and_erase(world, "user-001")
    with pytest.raises(steps.ErasureRunFailedError, match="claim"):
        record(world, collected, {**export, "claim": "0" * 32}, arns)
    assert_nothing_marked(world, "claim")


def test_a_job_that_read_another_folder_marks_nothing(world, emulator):
    collected, export, arns = export_and_erase(world, "user-001")
    old_location = f"s3://{BUCKET}/erasure-runs/0123456789abcdef/part-00000.csv"
    world.s3.put_object(Bucket=BUCKET, Key=old_location.split("/", 3)[3], Body=b"USER_ID\nuser-001\n")
    old_job = PersonalizeHook().create_data_deletion_job("old", world.groups["shop"], old_location, ROLE_ARN)
    forged = {**export, "data_locations": [*export["data_locations"], old_location]}
    with pytest.raises(steps.ErasureRunFailedError, match="not this run's"):
        record(world, collected, forged, [old_job, *arns[1:]])
    assert_nothing_marked(world, "not this run's")


def test_a_job_created_before_the_claim_marks_nothing(world, emulator):
    collected, export, arns = export_and_erase(world, "user-001")
    later = (datetime.now(timezone.utc) + timedelta(minutes=5)).isoformat()
    with pytest.raises(steps.ErasureRunFailedError, match="predates the claim"):
        record(world, {**collected, "collected_at": later}, export, arns)
    assert_nothing_marked(world, "predates the claim")


def test_the_same_job_listed_twice_does_not_stand_for_a_missing_one(world, emulator):
    many = [f"user-{number:04d}" for number in range(150)]
    collected, export, arns = export_and_erase(world, *many, max_file_bytes=MIN_FILE_BYTES)
    assert export["file_count"] == 2
    shop_first_file, _, *news = arns
    with pytest.raises(steps.ErasureRunFailedError, match="cover every dataset group"):
        record(world, collected, export, [shop_first_file, shop_first_file, *news])
    assert_nothing_marked(world, "cover every dataset group")


def test_a_request_claimed_after_the_export_marks_nothing(world, emulator):
    collected, export, arns = export_and_erase(world, "user-001", "user-002")
    world.request("user-003")
    world.store.claim_pending(collected["batch_key"])  # joins the claim the jobs never read
    with pytest.raises(steps.ErasureRunFailedError, match="fingerprints differ"):
        record(world, collected, export, arns)
    assert_nothing_marked(world, "the export wrote 2")


def test_a_failure_reason_is_redacted_in_the_audit_and_the_error(world, emulator):
    emulator.fail_job(None, 'Could not read the row "customer-4711" of the input')
    collected, export, arns = export_and_erase(world, "user-001")
    with pytest.raises(steps.ErasureRunFailedError) as error:
        record(world, collected, export, arns)
    assert "customer-4711" not in str(error.value)
    assert "customer-4711" not in repr(world.audit())
    assert "<redacted>" in str(error.value)


def test_the_failed_jobs_a_job_replaced_are_in_the_audit_next_to_it(world, emulator):
    collected, export, arns = export_and_erase(world, "user-001")
    earlier = arns[0].replace("erase-0", "erase-0-g1")
    audit = record(world, collected, export, arns, superseded={arns[0]: [earlier]})
    jobs = [job for group in audit["dataset_groups"] for job in group["jobs"]]
    assert [job["supersededJobArns"] for job in jobs] == [[earlier], []]
