"""The example erasure DAG under dag.test(): each outcome a compliance officer cares about."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.airflow_db

DAG_ID = "personalize_gdpr_erasure"


def task_states(dag_run) -> dict[str, set[str]]:
    states: dict[str, set[str]] = {}
    for ti in dag_run.get_task_instances():
        states.setdefault(ti.task_id, set()).add(ti.state)
    return states


def test_requests_are_erased_when_every_groups_job_completes(run_dag, emulator, world):
    world.request("user-001", "user-007")
    world.request("user-012", days_ago=45)
    dag_run = run_dag(DAG_ID)
    assert dag_run.state == "success"
    assert set(world.statuses().values()) == {"erased"}
    assert {job["status"] for job in emulator.jobs()} == {"COMPLETED"}
    assert len(emulator.jobs()) == 2
    assert "user-007" not in emulator.users(world.groups["shop"])
    assert "user-007" not in emulator.users(world.groups["news"])
    ((outcome, record),) = world.audit()
    assert outcome == "erased"
    assert record["requests"]["erased"] == 3
    assert record["requests"]["overdue"] == 1
    assert record["export"]["id_count"] == 3
    assert world.files_left() == 0


def test_a_failed_group_fails_the_run_keeps_requests_pending_and_the_next_run_erases_them(
    run_dag, emulator, world
):
    world.request("user-008", "user-009")
    emulator.fail_job(None, "Insufficient privileges to read the input")
    failed_run = run_dag(DAG_ID)
    assert failed_run.state == "failed"
    assert task_states(failed_run)["record_erasure"] == {"failed"}
    assert set(world.statuses().values()) == {"pending"}
    ((outcome, record),) = world.audit()
    assert outcome == "failed"
    assert any("Insufficient privileges" in problem for problem in record["problems"])

    next_run = run_dag(DAG_ID)
    assert next_run.state == "success"
    assert set(world.statuses().values()) == {"erased"}
    assert [outcome for outcome, _ in world.audit()] == ["failed", "erased"]


def test_nothing_to_erase_skips_the_deletion_and_succeeds(run_dag, emulator, world):
    dag_run = run_dag(DAG_ID)
    assert dag_run.state == "success"
    states = task_states(dag_run)
    assert states["export_user_ids"] == {"skipped"}
    assert states["create_deletion_job"] == {"skipped"}
    assert emulator.jobs() == []
    assert [outcome for outcome, _ in world.audit()] == ["nothing_to_erase"]


def test_a_dry_run_counts_and_changes_nothing(run_dag, emulator, world):
    world.request("user-002", days_ago=40)
    dag_run = run_dag(DAG_ID, conf={"dry_run": True})
    assert dag_run.state == "success"
    assert emulator.calls() == 0
    assert world.files_left() == 0
    assert world.statuses() == {"user-002": "pending"}
    ((outcome, record),) = world.audit()
    assert outcome == "dry_run"
    assert record["requests"]["pending"] == 1
    assert record["requests"]["overdue"] == 1


def test_ad_hoc_user_ids_from_the_trigger_form_are_erased(run_dag, emulator, world):
    dag_run = run_dag(DAG_ID, conf={"user_ids": ["user-015", "user-016"]})
    assert dag_run.state == "success"
    assert world.statuses() == {"user-015": "erased", "user-016": "erased"}
    assert not {"user-015", "user-016"} & emulator.users(world.groups["news"])


def test_no_user_id_reaches_xcom_or_the_task_logs(run_dag, world, capsys):
    secret_ids = ["user-017", 'o"brien, jr']
    world.request(*secret_ids)
    dag_run = run_dag(DAG_ID)
    assert dag_run.state == "success"
    output = capsys.readouterr()
    xcoms = [repr(ti.xcom_pull(task_ids=ti.task_id)) for ti in dag_run.get_task_instances()]
    for user_id in secret_ids:
        assert user_id not in output.out + output.err
        assert not any(user_id in value for value in xcoms)


def test_a_bad_dataset_group_is_refused_before_any_aws_call(run_dag, emulator, world, capsys):
    world.request("user-003")
    dag_run = run_dag(DAG_ID, conf={"dataset_group_arns": ["shop"]})
    assert dag_run.state == "failed"
    assert task_states(dag_run)["collect_erasure_requests"] == {"failed"}
    assert "dataset_group_arns[0]" in capsys.readouterr().out
    assert emulator.calls() == 0
    assert world.statuses() == {"user-003": "pending"}
