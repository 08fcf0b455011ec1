"""
Faults on a real Airflow, one per test, each ending with nothing lost and nothing done twice.

Every test checks the same end state: each request either erased (by exactly one job per dataset
group) or still pending for the next run; no deletion file left behind; no user id leaked.
"""

from __future__ import annotations

import os
import signal

import boto3
import pytest

from airflow_provider_personalize_deletion.utils.redaction import redact_failure_reason
from tests.e2e.conftest import BUCKET, ROLE_ARN, Stage
from tests.e2e.harness import wait_until

pytestmark = pytest.mark.e2e

#: Every Personalize API the pipeline calls.
PERSONALIZE_OPERATIONS = (
    "DescribeDatasetGroup",
    "ListDataDeletionJobs",
    "CreateDataDeletionJob",
    "DescribeDataDeletionJob",
)


def assert_erased_once(stage: Stage, user_ids: list[str], group_arns: list[str]) -> None:
    assert stage.statuses(user_ids) == dict.fromkeys(user_ids, "erased")
    for arn in group_arns:
        assert len(stage.jobs_of(arn)) == 1, stage.jobs_of(arn)
        assert not set(user_ids) & stage.emulator.users(arn)
    assert stage.s3_keys() == []


def test_worker_killed_right_after_the_create_call_retries_with_the_same_job(stage: Stage) -> None:
    user_ids = stage.user_ids(3)
    stage.request_erasure(user_ids)
    group = stage.group_arns[:1]
    # The create call's answer takes 8 s: the request is received, then the worker dies before the
    # answer comes back; the service still creates the job.
    stage.emulator.set_latency(8, "CreateDataDeletionJob")
    run_id = stage.airflow.trigger(stage.conf(group_arns=group))
    wait_until(lambda: stage.emulator.calls("CreateDataDeletionJob") == 1, 180, what="the create call")
    (creating,) = stage.airflow.wait_for_task_state(run_id, "create_deletion_job", {"running"}, 10)
    worker = stage.airflow.task_processes([creating["id"]])
    assert worker, "no process runs the create task"
    for pid in worker:  # the worker dies: its task supervisor and the task's process, if any
        os.kill(pid, signal.SIGKILL)
    stage.emulator.set_latency(0, "CreateDataDeletionJob")
    (name,) = stage.hold_jobs_as_created(1, timeout=30)  # the job the dead worker asked for

    stage.airflow.wait_for_task_state(run_id, "create_deletion_job", {"up_for_retry"}, 60)
    # The retry comes after CREATE_RETRY_DELAY_SECONDS (the e2e deployments' task policy; the DAG's
    # retry_delay is 2 minutes).
    stage.airflow.wait_for_task_state(run_id, "wait_for_deletion", {"deferred"}, 240)
    stage.wait_until_deferred(run_id)
    stage.emulator.release(name)

    assert stage.airflow.wait_for_run(run_id) == "success"
    (created,) = [ti for ti in stage.airflow.task_instances(run_id) if ti["task_id"] == "create_deletion_job"]
    assert created["try_number"] == 2
    assert stage.emulator.calls("CreateDataDeletionJob") == 1
    assert_erased_once(stage, user_ids, group)
    stage.assert_nothing_leaked(user_ids)


def test_triggerer_killed_and_restarted_while_the_sensor_is_deferred_the_run_completes(stage: Stage) -> None:
    user_ids = stage.user_ids(3)
    stage.request_erasure(user_ids)
    run_id = stage.airflow.trigger(stage.conf())
    names = stage.hold_jobs_as_created(2)
    deferred = stage.wait_until_deferred(run_id)
    old_triggerer = {ti["trigger"]["triggerer_id"] for ti in deferred}

    stage.airflow.kill("triggerer")
    for name in names:  # the jobs complete while no triggerer runs
        stage.emulator.release(name)
    stage.airflow.start("triggerer")

    assert stage.airflow.wait_for_run(run_id) == "success"
    # The restarted triggerer (a new triggerer job) ran the triggers to their end.
    new_triggerer = max(job_id for job_id, _ in stage.airflow.triggerer_jobs())
    assert new_triggerer not in old_triggerer
    for ti in deferred:
        log_dir = stage.airflow.task_log_dir(run_id, "wait_for_deletion", ti["map_index"])
        assert (log_dir / f"attempt={ti['try_number']}.log.trigger.{new_triggerer}.log").exists()
    assert_erased_once(stage, user_ids, stage.group_arns)
    stage.assert_nothing_leaked(user_ids)


def test_throttling_bursts_on_every_api_the_run_completes(stage: Stage) -> None:
    user_ids = stage.user_ids(3)
    stage.request_erasure(user_ids)
    for operation in PERSONALIZE_OPERATIONS:
        stage.emulator.throttle(2, operation)
    stage.emulator.throttle(3)

    assert stage.run(stage.conf()) == "success"

    assert stage.emulator.calls("CreateDataDeletionJob") >= 2 + len(stage.group_arns)
    assert_erased_once(stage, user_ids, stage.group_arns)
    stage.assert_nothing_leaked(user_ids)


def test_more_than_five_jobs_for_one_dataset_group_the_extra_one_waits_for_a_slot(stage: Stage) -> None:
    user_ids = stage.user_ids(3)
    stage.request_erasure(user_ids)
    group = stage.group_arns[0]
    # Another pipeline's five jobs fill the dataset group's PENDING slots.
    personalize = boto3.client(
        "personalize", endpoint_url=stage.aws.endpoint_url, region_name=stage.aws.region
    )
    others = [f"other-pipeline-{number}" for number in range(5)]
    for name in others:
        stage.emulator.hold(name, "PENDING")
        personalize.create_data_deletion_job(
            jobName=name,
            datasetGroupArn=group,
            dataSource={"dataLocation": f"s3://{BUCKET}/other-pipeline/{name}.csv"},
            roleArn=ROLE_ARN,
        )
    run_id = stage.airflow.trigger(stage.conf(group_arns=[group]))

    (waiting,) = stage.airflow.wait_for_task_state(run_id, "create_deletion_job", {"deferred"}, 180)
    assert waiting["trigger"]["classpath"].startswith("airflow.providers.standard.triggers.temporal.")
    assert [job["jobName"] for job in stage.jobs_of(group)] == others
    for other in others:
        stage.emulator.release(other)
    (name,) = stage.hold_jobs_as_created(1, ignore=others, timeout=120)
    stage.wait_until_deferred(run_id)
    stage.emulator.release(name)

    assert stage.airflow.wait_for_run(run_id) == "success"
    assert [job["jobName"] for job in stage.jobs_of(group)] == [*others, name]
    assert stage.statuses(user_ids) == dict.fromkeys(user_ids, "erased")
    stage.assert_nothing_leaked(user_ids)


def test_failed_job_fails_the_run_with_its_reason_and_the_next_run_erases_the_requests(stage: Stage) -> None:
    user_ids = stage.user_ids(3)
    stage.request_erasure(user_ids)
    reason = "Access denied to the deletion file (e2e fault)"
    run_id = stage.airflow.trigger(stage.conf())
    names = stage.hold_jobs_as_created(2)
    stage.emulator.fail_job(names[0], reason)
    stage.wait_until_deferred(run_id)
    for name in names:
        stage.emulator.release(name)

    assert stage.airflow.wait_for_run(run_id) == "failed"
    outcome, record = stage.audit(run_id)
    assert outcome == "failed"
    redacted = redact_failure_reason(reason)  # the service's text is redacted before it is stored or logged
    assert redacted != reason
    assert any(redacted in problem for problem in record["problems"])
    assert stage.statuses(user_ids) == dict.fromkeys(user_ids, "pending")
    assert stage.s3_keys() == []
    record_log = "".join(
        path.read_text() for path in stage.airflow.task_log_dir(run_id, "record_erasure").glob("*.log")
    )
    assert redacted in record_log
    assert reason not in record_log

    assert stage.run(stage.conf()) == "success"
    assert stage.statuses(user_ids) == dict.fromkeys(user_ids, "erased")
    for arn in stage.group_arns:
        assert [job["status"] for job in stage.jobs_of(arn)][-1] == "COMPLETED"
        assert not set(user_ids) & stage.emulator.users(arn)
    assert stage.s3_keys() == []
    stage.assert_nothing_leaked(user_ids)


def assert_nothing_started(stage: Stage, user_ids: list[str]) -> None:
    assert stage.emulator.jobs() == []
    assert stage.emulator.calls("CreateDataDeletionJob") == 0
    s3 = stage.s3
    for bucket in s3.list_buckets()["Buckets"]:
        assert s3.list_objects_v2(Bucket=bucket["Name"]).get("KeyCount", 0) == 0
    assert stage.statuses(user_ids) == dict.fromkeys(user_ids, "pending")


def test_warehouse_unreachable_no_job_no_file_requests_stay_pending(stage: Stage) -> None:
    user_ids = stage.user_ids(3)
    stage.request_erasure(user_ids)
    stage.airflow.set_variable("personalize_erasure_warehouse_conn_id", "warehouse_unreachable")
    try:
        run_id = stage.airflow.trigger(stage.conf())
        stage.airflow.wait_for_task_state(run_id, "collect_erasure_requests", {"up_for_retry", "failed"}, 120)
    finally:
        stage.airflow.delete_variable("personalize_erasure_warehouse_conn_id")

    assert_nothing_started(stage, user_ids)
    stage.assert_nothing_leaked(user_ids)


def test_s3_refusing_the_upload_no_job_no_file_requests_stay_pending(stage: Stage) -> None:
    user_ids = stage.user_ids(3)
    stage.request_erasure(user_ids)
    stage.s3.delete_bucket(Bucket=BUCKET)

    run_id = stage.airflow.trigger(stage.conf())
    stage.airflow.wait_for_task_state(run_id, "export_user_ids", {"up_for_retry", "failed"}, 120)

    assert_nothing_started(stage, user_ids)
    stage.assert_nothing_leaked(user_ids)
