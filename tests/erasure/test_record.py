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
from tests.erasure.test_steps import claim_of, collect, settings


def export(world, collected: dict, try_number: int = 1, **transfer_args) -> dict:
    """The export step of the DAG (its ``try_number``-th try), as ExportClaimedUsers runs it."""
    run, claim = settings(), claim_of(collected)
    return SqlToPersonalizeDeletionFileOperator(
        task_id="export_user_ids",
        conn_id=run.warehouse_conn_id,
        sql=world.store.export_sql(claim.batch_key),
        s3_bucket=BUCKET,
        s3_key_prefix=claim.export_folder(run, try_number),
        claim=claim.batch_key,
        **transfer_args,
    ).execute(context={})


def run_jobs(world, exported: dict, prefix: str = "erase") -> list[str]:
    """One job per group and file, named after the file (as the create task names its jobs)."""
    hook = PersonalizeHook()
    pairs = product(world.groups.values(), exported["data_locations"])
    return [
        hook.create_data_deletion_job(f"{prefix}-{index}", group, location, ROLE_ARN)
        for index, (group, location) in enumerate(pairs)
    ]


def export_and_erase(world, *user_ids: str, **transfer_args) -> tuple[dict, dict, list[str]]:
    """Collect, export and run one job per group and file, as the DAG does; return what record reads."""
    world.request(*user_ids)
    collected = collect(world)
    exported = export(world, collected, **transfer_args)
    return collected, exported, run_jobs(world, exported)


def record(world, collected, export, arns, **kwargs):
    run = settings()
    return steps.record_erasure(
        run,
        claim_of(collected),
        export,
        arns,
        runtime.describer(run),
        world.store,
        "manual__1",
        datetime.now(timezone.utc),
        fingerprint_key=lambda: TEST_FINGERPRINT_KEY.encode(),
        activity=runtime.activity_lister(run),
        counts=collected["requests"],
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
    old_location = f"s3://{BUCKET}/erasure-runs/0123456789abcdef/1/part-00000.csv"
    world.s3.put_object(Bucket=BUCKET, Key=old_location.split("/", 3)[3], Body=b"USER_ID\nuser-001\n")
    old_job = PersonalizeHook().create_data_deletion_job("old", world.groups["shop"], old_location, ROLE_ARN)
    forged = {**export, "data_locations": [*export["data_locations"], old_location]}
    with pytest.raises(steps.ErasureRunFailedError, match="not exactly this run's"):
        record(world, collected, forged, [old_job, *arns[1:]])
    assert_nothing_marked(world, "not exactly this run's")


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
    # The group's last job on each file is counted per file: the second file has none.
    with pytest.raises(steps.ErasureRunFailedError, match="1 deletion job"):
        record(world, collected, export, [shop_first_file, shop_first_file, *news])
    assert_nothing_marked(world, "were not created")


def test_a_request_claimed_after_the_export_marks_nothing(world, emulator):
    collected, export, arns = export_and_erase(world, "user-001", "user-002")
    world.request("user-003")
    world.store.claim_pending(collected["batch_key"])  # joins the claim the jobs never read
    with pytest.raises(steps.ErasureRunFailedError, match="fingerprints differ"):
        record(world, collected, export, arns)
    assert_nothing_marked(world, "the export wrote 2")
    assert world.audit()[0][1]["requests"]["erased"] == 0


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


def test_a_reexport_after_an_id_changed_writes_new_files_and_the_old_jobs_mark_nothing(world, emulator):
    """The jobs read user-001 and user-002; user-002's id is corrected to user-019 and the export alone
    is run again (its second try): new files in a new folder, which the old jobs did not read."""
    collected, first, old_jobs = export_and_erase(world, "user-001", "user-002")
    world.store.hook.run("UPDATE erasure_requests SET user_id = 'user-019' WHERE user_id = 'user-002'")
    second = export(world, collected, try_number=2)
    assert set(second["data_locations"]).isdisjoint(first["data_locations"])
    with pytest.raises(steps.ErasureRunFailedError, match="not this run's"):
        record(world, collected, second, old_jobs)
    assert world.statuses() == {"user-001": "pending", "user-019": "pending"}

    new_jobs = run_jobs(world, second, prefix="again")  # what the create task does with new inputs
    assert record(world, collected, second, new_jobs)["outcome"] == "erased"
    assert "user-019" not in emulator.users(world.groups["shop"])


def test_a_job_created_before_the_export_wrote_its_files_marks_nothing(world, emulator):
    collected, export, arns = export_and_erase(world, "user-001")
    later = (datetime.now(timezone.utc) + timedelta(minutes=5)).isoformat()
    with pytest.raises(steps.ErasureRunFailedError, match="predates the claim or the export's files"):
        record(world, collected, {**export, "written_at": later}, arns)
    assert_nothing_marked(world, "predates")


def test_an_id_changed_while_the_requests_are_marked_is_not_marked(world, emulator):
    """The warehouse corrects user-002 to user-019 at the moment the claim is marked (a trigger): the
    marks and the read-back are one transaction, so the change is seen, and rolled back with them."""
    collected, export, arns = export_and_erase(world, "user-001", "user-002")
    world.store.hook.run(
        "CREATE TRIGGER correct_id AFTER UPDATE OF status ON erasure_requests "
        "WHEN NEW.user_id = 'user-002' BEGIN UPDATE erasure_requests SET user_id = 'user-019' "
        "WHERE request_id = NEW.request_id; END"
    )
    with pytest.raises(steps.ErasureRunFailedError, match="nothing was marked"):
        record(world, collected, export, arns)
    assert world.statuses() == {"user-001": "pending", "user-002": "pending"}
    assert_nothing_marked(world, "fingerprints differ")


def test_a_failed_activity_listing_marks_nothing_and_the_audit_says_why(world, emulator):
    collected, export, arns = export_and_erase(world, "user-001", "user-007")
    emulator.throttle(1000, "ListSolutions")  # every try botocore makes is refused
    with pytest.raises(steps.ErasureRunFailedError, match="could not be listed") as error:
        record(world, collected, export, arns)
    assert "user-001" not in str(error.value)
    assert set(world.statuses().values()) == {"pending"}
    ((outcome, audit),) = world.audit()
    assert outcome == "failed"
    assert any("could not be listed (ThrottlingException)" in problem for problem in audit["problems"])
