"""
Find and forget under a hostile review, under dag.test() on the emulator's jobs (the rig of
:mod:`tests.erasure.test_find_and_forget_dag`): a mapped task that fails, XComs written by hand, a
declared copy in another format than declared.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_personalize_deletion.erasure.forget_tasks import (
    BACKLOG_DAG_ID,
    FIND_TASK,
    FORGET_TASK,
    RECORD_TASK,
)
from tests.erasure.test_find_and_forget_dag import (  # noqa: F401 (jobs is a fixture)
    BATCH,
    DAG_ID,
    DECLARED_COPIES,
    ERASED,
    EXPORTS,
    IMPORTS,
    evidence,
    jobs,
    read_object,
    snapshot,
    suppress,
)

#: The emulator's jobs and their files (``jobs``) under every test; ``world`` is the same rig.
pytestmark = [pytest.mark.airflow_db, pytest.mark.usefixtures("jobs")]


def states(dag_run) -> dict[tuple[str, int], str]:
    return {(ti.task_id, ti.map_index): ti.state for ti in dag_run.get_task_instances()}


def test_a_failed_mapped_task_still_gets_its_files_counted_unverified_in_the_audit_and_the_run_fails(
    run_dag,
    world,
    s3_client,
    monkeypatch,
):
    """
    The mapped task dies (no retry) once it rewrote the first file naming the user: the record step still
    runs, puts "removed from 1 files in S3 (M unverified)" into the audit record, the files the task did
    not reach among the M, and the run fails.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from airflow_provider_personalize_deletion.forget import batch

    forget_object, done = batch.forget_object, []

    def dies_after_one_rewrite(client, bucket_name, key, *args, **kwargs):
        if done:
            raise AirflowFailException("the worker went away")
        result = forget_object(client, bucket_name, key, *args, **kwargs)
        if result.outcome == "forgotten":
            done.append(key)
        return result

    monkeypatch.setattr(batch, "forget_object", dies_after_one_rewrite)
    world.request("user-007")

    dag_run = run_dag(DAG_ID)

    assert dag_run.state == "failed"
    assert states(dag_run)[(FORGET_TASK, 0)] == "failed"
    assert states(dag_run)[(RECORD_TASK, -1)] == "failed"  # it ran: not upstream_failed
    rows = evidence(world)
    assert [row["outcome"] for row in rows].count("forgotten") == 1
    planned = {row["location"] for row in rows}
    ((_, record),) = world.audit()
    summary = record["find_and_forget"]
    unreached = [item for item in summary["unverified_objects"] if item["reason"].startswith("not reached")]
    assert summary["files_rewritten"] == 1
    assert unreached and not {item["location"] for item in unreached} & planned
    assert (
        summary["summary"]
        == f"removed from 1 files in S3 ({summary['unverified']} unverified; 1 location not scanned)"
    )
    assert summary["unverified"] == len(unreached)


def test_when_the_erasure_is_not_recorded_the_record_step_fails_the_run_even_with_find_and_forget_off(
    run_dag,
    world,
    monkeypatch,
):
    """The record step runs whatever its mapped tasks did: it must not turn a failed erasure into success."""
    from airflow.sdk.exceptions import AirflowFailException

    from airflow_provider_personalize_deletion.erasure import steps

    def fails(*args, **kwargs):
        raise AirflowFailException("the audit record could not be written")

    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_FIND_AND_FORGET", "false")
    monkeypatch.setattr(steps, "record_erasure", fails)
    world.request("user-007")

    dag_run = run_dag(DAG_ID)

    assert dag_run.state == "failed"
    assert states(dag_run)[(RECORD_TASK, -1)] in ("failed", "upstream_failed")


def test_the_backlog_run_fails_when_its_planning_fails(run_dag, world, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_FORGET_LOCATIONS", json.dumps({"locations": 3}))

    dag_run = run_dag(BACKLOG_DAG_ID)

    assert states(dag_run)[(FIND_TASK, -1)] == "failed"
    assert dag_run.state == "failed"


def test_a_forged_batch_moving_a_planned_object_to_another_mapped_task_is_refused_before_any_call(
    run_dag,
    world,
    s3_client,
    monkeypatch,
):
    """
    The plan holds one batch. A writer of XComs splits it in two: every object still lies in the plan's
    locations, but neither task holds its own planned batch (the second has none): both are refused
    before any call, and every planned file is unverified.
    """
    from airflow_provider_personalize_deletion.erasure import forget_runtime

    suppress(world, "user-007")
    planned = forget_runtime.find_files

    def split(context, backlog=False):
        (batch,) = planned(context, backlog)
        return [batch[:-1], batch[-1:]]

    monkeypatch.setattr(forget_runtime, "find_files", split)
    before = snapshot(s3_client)

    dag_run = run_dag(BACKLOG_DAG_ID)

    assert dag_run.state == "failed"
    assert states(dag_run)[(FORGET_TASK, 0)] == states(dag_run)[(FORGET_TASK, 1)] == "failed"
    assert snapshot(s3_client) == before
    assert evidence(world) == []


def test_a_forged_dry_run_result_cannot_make_the_dry_run_report_files_clean(
    run_dag,
    world,
    s3_client,
    monkeypatch,
    caplog,
):
    """
    A dry run of the backlog DAG: a writer of XComs turns the mapped task's results into no_match and
    drops objects from the planning task's batches. The report is not theirs: each file naming the user
    is unverified, never clean, and the run writes nothing anywhere.
    """
    from airflow_provider_personalize_deletion.erasure import forget_runtime
    from airflow_provider_personalize_deletion.erasure.forget_evidence import FORGET_TABLE
    from airflow_provider_personalize_deletion.operators.find_and_forget import (
        PersonalizeForgetObjectsOperator,
    )

    suppress(world, "user-007")
    planned, execute = forget_runtime.find_files, PersonalizeForgetObjectsOperator.execute

    def trimmed(context, backlog=False):
        return [batch[1:] for batch in planned(context, backlog)]

    def forged(self, context):
        return [{**record, "outcome": "no_match", "records_removed": 0} for record in execute(self, context)]

    monkeypatch.setattr(forget_runtime, "find_files", trimmed)
    monkeypatch.setattr(PersonalizeForgetObjectsOperator, "execute", forged)
    before = snapshot(s3_client)

    dag_run = run_dag(BACKLOG_DAG_ID, conf={"dry_run": True})

    assert dag_run.state == "failed"
    assert snapshot(s3_client) == before
    engine = world.store.hook.get_sqlalchemy_engine()
    assert FORGET_TABLE not in engine.dialect.get_table_names(engine.connect())
    # the two files naming the user (their records forged) and the one dropped from the batches
    assert "would be removed from 0 files in S3 (3 unverified; 1 location not scanned)" in caplog.text


def test_a_declared_copy_in_another_json_format_than_declared_is_unverified_never_clean(
    run_dag,
    world,
    s3_client,
    monkeypatch,
):
    """
    Declared as ``jsonl`` (top-level ``userId``), a copy holds batch outputs (``input.userId``); declared
    as batch output, one holds ``user_id`` lines. Neither names the user where its format says: both are
    unverified, left as they were, and the run fails.
    """
    copies = DECLARED_COPIES
    s3_client.create_bucket(Bucket=copies)
    outputs = b"".join(
        json.dumps({"input": {"userId": user}, "output": {"recommendedItems": ["i1"]}}).encode() + b"\n"
        for user in ("user-007", "user-001")
    )
    snake = b"".join(json.dumps({"user_id": user}).encode() + b"\n" for user in ("user-007", "user-001"))
    s3_client.put_object(Bucket=copies, Key="jsonl/outputs.json", Body=outputs)
    s3_client.put_object(Bucket=copies, Key="outputs/snake.json.out", Body=snake)
    monkeypatch.setenv(
        "AIRFLOW_VAR_PERSONALIZE_ERASURE_FORGET_LOCATIONS",
        json.dumps(
            {
                "locations": [
                    {"prefix": f"s3://{copies}/jsonl/", "format": "jsonl"},
                    {"prefix": f"s3://{copies}/outputs/", "format": "batch_inference_output"},
                ],
                "allowed_buckets": [BATCH, EXPORTS, IMPORTS, copies],
            }
        ),
    )
    suppress(world, "user-007")

    dag_run = run_dag(BACKLOG_DAG_ID)

    assert dag_run.state == "failed"
    rows = {row["location"]: row for row in evidence(world)}
    for key in ("jsonl/outputs.json", "outputs/snake.json.out"):
        assert rows[f"s3://{copies}/{key}"]["outcome"] == "unverified"
        assert "user-007" not in rows[f"s3://{copies}/{key}"]["reason"]
    assert read_object(s3_client, copies, "jsonl/outputs.json") == outputs
    assert ERASED in read_object(s3_client, copies, "outputs/snake.json.out")
