"""The verification DAG under dag.test(): erased users found again are requested again, never named."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config

from airflow_provider_personalize_deletion.erasure.deadlines import Deadline
from airflow_provider_personalize_deletion.erasure.verification import (
    EXPORT_NOT_ENCRYPTED,
    run_folder,
    verification_prefix,
)
from tests.erasure.conftest import BUCKET, ROLE_ARN

pytestmark = pytest.mark.airflow_db

ERASURE = "personalize_gdpr_erasure"
VERIFICATION = "personalize_erasure_verification"
SCHEMA_ARN = "arn:aws:personalize:us-east-1:123456789012:schema/interactions"
ERASED = "user-007"
KMS_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0b3c2a4e-verification"


@pytest.fixture
def personalize(local_aws, aws_conn):
    return boto3.client(
        "personalize",
        endpoint_url=local_aws.endpoint_url,
        region_name=local_aws.region,
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.fixture
def interactions(personalize, world, emulator) -> str:
    """The shop group's Interactions dataset, holding a record of every user the group holds."""
    arn = personalize.create_dataset(
        name="shop-interactions", schemaArn=SCHEMA_ARN, datasetGroupArn=world.groups["shop"],
        datasetType="Interactions",
    )["datasetArn"]  # fmt: skip
    users = sorted(emulator.users(world.groups["shop"]))
    emulator.seed_records(arn, [{"USER_ID": user, "ITEM_ID": "i1", "TIMESTAMP": "1"} for user in users])
    return arn


def reimport(personalize, s3, dataset: str, *user_ids: str, name: str = "reimport") -> None:
    """A bulk import that still holds these users (INCREMENTAL: everyone else stays)."""
    s3.create_bucket(Bucket="lake")
    body = "USER_ID,ITEM_ID,TIMESTAMP\n" + "".join(f"{user},i2,2\n" for user in user_ids)
    s3.put_object(Bucket="lake", Key=f"{name}.csv", Body=body.encode())
    personalize.create_dataset_import_job(
        jobName=name, datasetArn=dataset, dataSource={"dataLocation": f"s3://lake/{name}.csv"},
        roleArn=ROLE_ARN, importMode="INCREMENTAL",
    )  # fmt: skip


def requests(world) -> list[tuple[str, str, str, dict]]:
    rows = world.store.hook.get_records(
        f"SELECT user_id, source, status, details FROM {world.store.requests_table} ORDER BY requested_at"
    )
    return [
        (user, source, status, json.loads(details) if details else {})
        for user, source, status, details in rows
    ]


def verification_rows(world) -> list[dict]:
    rows = world.store.hook.get_records(
        "SELECT dataset_group_arn, dataset_arn, outcome, users_found, requests_added, export_job_arn, reason "
        "FROM erasure_verification ORDER BY run_id, dataset_group_arn, dataset_arn"
    )
    names = ("group", "dataset", "outcome", "users_found", "requests_added", "export_job_arn", "reason")
    return [dict(zip(names, row, strict=True)) for row in rows]


def xcoms_of(dag_run) -> str:
    values = []
    for ti in dag_run.get_task_instances():
        values.append(json.dumps(ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index), default=str))
    return " ".join(values)


def export_files(world) -> list[str]:
    return [key for key in world.objects() if key.startswith(verification_prefix("erasure-runs"))]


def test_a_reimported_erased_user_is_requested_again_and_the_next_erasure_deletes_them(
    run_dag, emulator, world, interactions, personalize, capsys
):
    world.request(ERASED)
    assert run_dag(ERASURE).state == "success"
    assert ERASED not in emulator.users(world.groups["shop"])
    reimport(personalize, world.s3, interactions, ERASED, "user-001")
    capsys.readouterr()

    found = run_dag(VERIFICATION)

    assert found.state == "success"
    ((user, source, _status, details),) = [row for row in requests(world) if row[2] == "pending"]
    assert (user, source) == (ERASED, "reappeared")
    assert details["reappeared"]["dataset_arn"] == interactions
    assert details["reappeared"]["dataset_group_arn"] == world.groups["shop"]
    assert "dataset-export-job/" in details["reappeared"]["export_job_arn"]
    ((row,),) = [[row for row in verification_rows(world) if row["dataset"] == interactions]]
    assert (row["outcome"], row["users_found"], row["requests_added"]) == ("found_again", 1, 1)
    assert ERASED not in capsys.readouterr().out
    assert ERASED not in xcoms_of(found)
    assert export_files(world) == []

    assert run_dag(ERASURE).state == "success"
    assert ERASED not in {record["USER_ID"] for record in emulator.records(interactions)}
    again = run_dag(VERIFICATION)
    assert again.state == "success"
    latest = [row for row in verification_rows(world) if row["dataset"] == interactions]
    assert sorted(row["outcome"] for row in latest) == ["found_again", "verified_absent"]
    assert [row[2] for row in requests(world)] == ["erased", "erased"]


def test_a_put_events_only_reappearance_is_found(run_dag, emulator, world, interactions):
    world.request(ERASED)
    assert run_dag(ERASURE).state == "success"
    emulator.put_events(world.groups["shop"], ERASED, ["i9"])

    assert run_dag(VERIFICATION).state == "success"

    assert [(row[0], row[1]) for row in requests(world) if row[2] == "pending"] == [(ERASED, "reappeared")]


def test_a_rotated_key_fails_loudly_and_creates_no_request(
    run_dag, emulator, world, interactions, monkeypatch
):
    world.request(ERASED)
    assert run_dag(ERASURE).state == "success"
    reimport(personalize_client(emulator), world.s3, interactions, ERASED)
    monkeypatch.setenv("AIRFLOW__PERSONALIZE_DELETION__FINGERPRINT_KEY", "rotated-key-" + "7c" * 16)

    dag_run = run_dag(VERIFICATION)

    assert dag_run.state == "failed"
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states["check_suppression_list"] == "failed"
    assert [row for row in requests(world) if row[2] == "pending"] == []
    assert emulator.calls("CreateDatasetExportJob") == 0


def test_a_failed_export_is_reported_not_verified_and_its_files_are_deleted(
    run_dag, emulator, world, interactions, monkeypatch
):
    world.request(ERASED)
    assert run_dag(ERASURE).state == "success"
    emulator.deny_path(f"s3://{BUCKET}/{verification_prefix('erasure-runs')}/")

    dag_run = run_dag(VERIFICATION)

    assert dag_run.state == "failed"
    ((row,),) = [[row for row in verification_rows(world) if row["dataset"] == interactions]]
    assert row["outcome"] == "not_verified"
    assert row["reason"].startswith("export CREATE FAILED: Access denied")
    assert export_files(world) == []


def test_the_export_files_are_gone_after_success_and_stale_ones_of_a_killed_run_too(
    run_dag, emulator, world, interactions
):
    killed = run_folder("erasure-runs", "killed-run") + "0123456789ab/part-00000.csv"
    world.put_old_object(killed, hours=72, deletion_file=False)
    recent = run_folder("erasure-runs", "running-elsewhere") + "0123456789ab/part-00000.csv"
    world.put_old_object(recent, hours=1, deletion_file=False)
    foreign = verification_prefix("erasure-runs") + "/README.txt"
    world.put_old_object(foreign, hours=72, deletion_file=False)

    assert run_dag(VERIFICATION).state == "success"

    assert export_files(world) == sorted([recent, foreign])


def test_a_group_with_a_deletion_job_running_is_skipped_as_not_verified(
    run_dag, emulator, world, interactions, personalize
):
    world.s3.put_object(Bucket=BUCKET, Key="manual/erase.csv", Body=b"USER_ID\nuser-002\n")
    emulator.hold("manual-erase", "IN_PROGRESS")
    personalize.create_data_deletion_job(
        jobName="manual-erase", datasetGroupArn=world.groups["shop"],
        dataSource={"dataLocation": f"s3://{BUCKET}/manual/erase.csv"}, roleArn=ROLE_ARN,
    )  # fmt: skip

    dag_run = run_dag(VERIFICATION)

    assert dag_run.state == "failed"
    rows = {row["group"]: row for row in verification_rows(world)}
    assert (rows[world.groups["shop"]]["outcome"], rows[world.groups["shop"]]["reason"]) == (
        "not_verified",
        "deletion running",
    )
    assert emulator.calls("CreateDatasetExportJob") == 0


def personalize_client(emulator):
    return boto3.client("personalize", endpoint_url=emulator.endpoint_url, region_name="us-east-1")


def test_export_files_s3_reports_unencrypted_are_not_read_not_verified_and_deleted(
    run_dag, emulator, world, interactions, personalize
):
    world.request(ERASED)
    assert run_dag(ERASURE).state == "success"
    reimport(personalize, world.s3, interactions, ERASED)
    world.s3.delete_bucket_encryption(Bucket=BUCKET)  # moto then reports no ServerSideEncryption

    dag_run = run_dag(VERIFICATION)

    assert dag_run.state == "failed"
    ((row,),) = [[row for row in verification_rows(world) if row["dataset"] == interactions]]
    assert (row["outcome"], row["reason"]) == ("not_verified", EXPORT_NOT_ENCRYPTED)
    assert [row for row in requests(world) if row[2] == "pending"] == []
    assert export_files(world) == []


def test_the_kms_key_setting_goes_to_every_export_job(run_dag, emulator, world, interactions, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_EXPORT_KMS_KEY_ARN", KMS_KEY_ARN)

    assert run_dag(VERIFICATION).state == "success"

    ((row,),) = [[row for row in verification_rows(world) if row["dataset"] == interactions]]
    assert row["outcome"] == "verified_absent"
    job = personalize_client(emulator).describe_dataset_export_job(datasetExportJobArn=row["export_job_arn"])
    assert job["datasetExportJob"]["jobOutput"]["s3DataDestination"]["kmsKeyArn"] == KMS_KEY_ARN


@pytest.mark.parametrize(
    "tampered",
    [
        {"s3_path": "s3://someone-elses-bucket/open/"},
        {"s3_path": f"s3://{BUCKET}/erasure-runs-verification/0123456789abcdef/x/"},
        {"aws_conn_id": "another_account"},
    ],
    ids=["another-bucket", "another-runs-folder", "another-connection"],
)
def test_an_export_plan_written_by_hand_exports_nothing(
    run_dag, emulator, world, interactions, monkeypatch, tampered
):
    """The export's arguments are mapped from the plan's XCom, which anyone allowed to write XComs
    controls: stand-in for such a write, the plan returns other arguments."""
    from airflow_provider_personalize_deletion.erasure import verification_steps

    plan = verification_steps.plan_dataset_exports
    monkeypatch.setattr(
        verification_steps,
        "plan_dataset_exports",
        lambda *args: [{**item, **tampered} for item in plan(*args)],
    )

    dag_run = run_dag(VERIFICATION)

    assert dag_run.state == "failed"
    assert {ti.task_id: ti.state for ti in dag_run.get_task_instances()}["export_dataset"] == "failed"
    assert emulator.calls("CreateDatasetExportJob") == 0
    ((row,),) = [[row for row in verification_rows(world) if row["dataset"] == interactions]]
    assert row["outcome"] == "not_verified"


def test_groups_without_a_dataset_holding_user_ids_fail_the_run_saying_so(run_dag, world, capsys):
    capsys.readouterr()

    dag_run = run_dag(VERIFICATION)

    assert dag_run.state == "failed"
    output = capsys.readouterr()
    assert "have no dataset holding USER_ID" in output.out + output.err
    assert "reasons in the verification table" not in output.out + output.err
    assert verification_rows(world) == []


def test_an_export_never_starts_while_a_deletion_job_started_after_the_plan_runs(
    run_dag, emulator, world, interactions, personalize, monkeypatch
):
    """The plan saw the group quiet; a deletion job starts before the export is created (as after a wait
    for a slot): the export waits until it ended, then runs."""
    import threading
    import time

    from airflow_provider_personalize_deletion.erasure import verification_steps

    world.s3.put_object(Bucket=BUCKET, Key="manual/erase.csv", Body=b"USER_ID\nuser-002\n")
    plan = verification_steps.plan_dataset_exports
    exports_while_running: list[int] = []

    def end_the_deletion_once_the_export_acted(listings: int) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the export task created, or looked twice and waited
            exports = emulator.calls("CreateDatasetExportJob")
            if exports or emulator.calls("ListDataDeletionJobs") >= listings + 2:
                break
            time.sleep(0.2)
        exports_while_running.append(emulator.calls("CreateDatasetExportJob"))
        emulator.release("manual-erase")

    def plan_then_a_deletion_starts(*args):
        planned = plan(*args)
        emulator.hold("manual-erase", "IN_PROGRESS")
        personalize.create_data_deletion_job(
            jobName="manual-erase", datasetGroupArn=world.groups["shop"],
            dataSource={"dataLocation": f"s3://{BUCKET}/manual/erase.csv"}, roleArn=ROLE_ARN,
        )  # fmt: skip
        listings = emulator.calls("ListDataDeletionJobs")
        threading.Thread(target=end_the_deletion_once_the_export_acted, args=(listings,), daemon=True).start()
        return planned

    monkeypatch.setattr(verification_steps, "plan_dataset_exports", plan_then_a_deletion_starts)

    dag_run = run_dag(VERIFICATION)

    assert exports_while_running == [0]
    assert dag_run.state == "success"
    ((row,),) = [[row for row in verification_rows(world) if row["dataset"] == interactions]]
    assert row["outcome"] == "verified_absent"


def test_scan_results_rewritten_in_their_xcom_are_never_recorded_as_verified(
    run_dag, emulator, world, interactions, personalize, monkeypatch
):
    """The record step reads the scan's XCom, which anyone allowed to write XComs controls: stand-in for
    such a write, the scan's results (its MAC, if any, kept) claim the dataset holding an erased user
    was verified absent."""
    from airflow_provider_personalize_deletion.erasure import verification_steps

    world.request(ERASED)
    assert run_dag(ERASURE).state == "success"
    reimport(personalize, world.s3, interactions, ERASED)
    find = verification_steps.find_erased_users_in_exports

    def claim_verified_absent(*args):
        found = find(*args)
        for row in found["results"] if isinstance(found, dict) else found:
            row.update(outcome="verified_absent", users_found=0, requests_added=0)
        return found

    monkeypatch.setattr(verification_steps, "find_erased_users_in_exports", claim_verified_absent)

    dag_run = run_dag(VERIFICATION)

    assert dag_run.state == "failed"
    ((row,),) = [[row for row in verification_rows(world) if row["dataset"] == interactions]]
    assert row["outcome"] == "not_verified"
    assert "MAC" in row["reason"]


def test_an_action_interactions_dataset_is_not_verified_and_its_group_never_shown_clean(
    run_dag, emulator, world, interactions, personalize
):
    """It holds USER_ID but the service cannot export it: left out, the group would look clean."""
    from datetime import datetime, timezone

    from airflow_provider_personalize_deletion.dashboard.queries import DashboardQueries
    from airflow_provider_personalize_deletion.erasure.verification import NOT_EXPORTABLE

    actions = personalize.create_dataset(
        name="shop-action-interactions", schemaArn=SCHEMA_ARN, datasetGroupArn=world.groups["shop"],
        datasetType="Action_Interactions",
    )["datasetArn"]  # fmt: skip

    dag_run = run_dag(VERIFICATION)

    assert dag_run.state == "failed"
    rows = {row["dataset"]: row for row in verification_rows(world)}
    assert (rows[actions]["outcome"], rows[actions]["reason"]) == ("not_verified", NOT_EXPORTABLE)
    assert rows[interactions]["outcome"] == "verified_absent"
    store = world.store
    queries = DashboardQueries(store.hook, store.requests_table, store.audit_table)
    groups = queries.summary(datetime.now(timezone.utc), Deadline())["verification"]["dataset_groups"]
    (shop,) = [group for group in groups if group["dataset_group_arn"] == world.groups["shop"]]
    assert (shop["status"], shop["reasons"]) == ("not_verified", [NOT_EXPORTABLE])


def test_a_dataset_left_out_of_the_plan_is_recorded_not_verified_never_passed_over(
    run_dag, emulator, world, interactions, personalize, monkeypatch
):
    """The export tasks are mapped from the plan's XCom, which anyone allowed to write XComs controls:
    stand-in for such a write, the plan leaves out the dataset holding an erased user found again."""
    from airflow_provider_personalize_deletion.erasure import verification_steps
    from airflow_provider_personalize_deletion.erasure.verification import LEFT_OUT

    world.request(ERASED)
    assert run_dag(ERASURE).state == "success"
    reimport(personalize, world.s3, interactions, ERASED)
    plan = verification_steps.plan_dataset_exports
    monkeypatch.setattr(
        verification_steps,
        "plan_dataset_exports",
        lambda *args: [item for item in plan(*args) if item["dataset_arn"] != interactions],
    )

    dag_run = run_dag(VERIFICATION)

    assert dag_run.state == "failed"
    ((row,),) = [[row for row in verification_rows(world) if row["dataset"] == interactions]]
    assert (row["outcome"], row["reason"]) == ("not_verified", LEFT_OUT)
