"""The erasure guard in the example DAG under dag.test(): wait for a quiet dataset group, follow up a job
that a training overlapped (exactly once, bounded), and erase in every dataset group a selector names."""

from __future__ import annotations

import json
import threading
import time

import boto3
import pytest
from botocore.config import Config

from tests.core.conftest import Stage, release_after_calls
from tests.erasure.test_example_dag import DAG_ID, _rerun, erasure_dag, task_states, xcom

pytestmark = pytest.mark.airflow_db


@pytest.fixture
def shop(local_aws, aws_conn, world) -> Stage:
    """Builds trainings and imports on the world's "shop" dataset group."""
    personalize = boto3.client(
        "personalize",
        endpoint_url=local_aws.endpoint_url,
        region_name=local_aws.region,
        config=Config(retries={"total_max_attempts": 1}),
    )
    return Stage(personalize, world.groups["shop"])


def train_during_jobs(emulator, stage: Stage, count: int) -> list[str]:
    """
    From another thread, for each of the group's next ``count`` deletion jobs: hold it IN_PROGRESS,
    train a solution version (started and ended while the job runs), release it.

    :return: the solution versions' ARNs, filled in as they are trained.
    """
    emulator.set_timings(pending_seconds=0, in_progress_seconds=2)  # a window to catch each job in
    solution = stage.solution()
    versions: list[str] = []

    def train() -> None:
        seen: set[str] = set()
        deadline = time.monotonic() + 120
        while len(seen) < count and time.monotonic() < deadline:
            for job in emulator.jobs():
                if job["datasetGroupArn"] != stage.group or job["jobName"] in seen:
                    continue
                seen.add(job["jobName"])
                emulator.hold(job["jobName"], "IN_PROGRESS")
                versions.append(stage.version(solution))
                emulator.release(job["jobName"])
            time.sleep(0.05)

    threading.Thread(target=train, daemon=True).start()
    return versions


def audited_jobs(record: dict, group: str) -> list[dict]:
    (audited,) = [item for item in record["dataset_groups"] if item["dataset_group_arn"] == group]
    return audited["jobs"]


def test_a_training_in_progress_before_the_run_is_waited_for_then_the_users_are_erased(
    run_dag, emulator, world, shop, capsys
):
    solution = shop.solution()
    emulator.hold("training-held", "CREATE IN_PROGRESS")
    training = shop.version(solution, name="training-held", trained=False)
    world.request("user-001", "user-007")
    # The create task sees the training once, defers; its trigger sees it again, then it ends.
    release_after_calls(emulator, "ListSolutionVersions", 2, "training-held")

    dag_run = run_dag(DAG_ID)

    assert dag_run.state == "success"
    assert "is not quiet" in capsys.readouterr().out  # the create task waited for the training
    assert world.statuses() == {"user-001": "erased", "user-007": "erased"}
    ((outcome, record),) = world.audit()
    assert outcome == "erased"
    assert record["follow_up_jobs"] == 0
    (job,) = audited_jobs(record, shop.group)
    assert job["overlappingActivity"] == []
    assert job["erasureRound"] == 0
    assert len(emulator.jobs()) == 2
    assert task_states(dag_run)["create_follow_up_job_1"] == {"skipped"}
    assert not {"user-001", "user-007"} & emulator.model_users(training)  # trained before: erased


def test_a_training_during_the_job_gets_one_follow_up_job_and_the_users_leave_the_model(
    emulator, world, shop, airflow_db, aws_conn
):
    dag = erasure_dag()
    world.request("user-001", "user-007")
    versions = train_during_jobs(emulator, shop, count=1)

    dag_run = dag.test()

    assert dag_run.state == "success"
    (training,) = versions
    assert world.statuses() == {"user-001": "erased", "user-007": "erased"}
    shop_jobs = [job for job in emulator.jobs() if job["datasetGroupArn"] == shop.group]
    assert [job["status"] for job in shop_jobs] == ["COMPLETED", "COMPLETED"]  # the job, its follow-up
    assert shop_jobs[0]["dataSource"] == shop_jobs[1]["dataSource"]  # the same file
    assert len(emulator.jobs()) == 3  # the other group's job was not followed up
    assert not {"user-001", "user-007"} & emulator.model_users(training)  # the follow-up erased them
    ((outcome, record),) = world.audit()
    assert outcome == "erased"
    assert record["follow_up_jobs"] == 1
    first, follow_up = audited_jobs(record, shop.group)
    assert [item["arn"] for item in first["overlappingActivity"]] == [training]
    assert (first["erasureRound"], follow_up["erasureRound"]) == (0, 1)
    assert follow_up["dataDeletionJobArn"] == shop_jobs[1]["dataDeletionJobArn"]
    assert follow_up["overlappingActivity"] == []
    (planned,) = xcom(dag_run, "plan_follow_up_jobs_1")
    assert planned["tags"]["erasure-follow-up"] == "1"
    assert task_states(dag_run)["create_follow_up_job_2"] == {"skipped"}

    # A retry of the follow-up's create task carries on with its job: no second one.
    calls = emulator.calls("CreateDataDeletionJob")
    _rerun(dag, dag_run, ["create_follow_up_job_1"])
    assert emulator.calls("CreateDataDeletionJob") == calls
    assert len(emulator.jobs()) == 3
    assert list(xcom(dag_run, "create_follow_up_job_1")) == [shop_jobs[1]["dataDeletionJobArn"]]


def test_a_job_overlapped_on_every_round_fails_the_run_after_two_follow_ups_and_marks_nothing(
    run_dag, emulator, world, shop, capsys
):
    world.request("user-001", "user-007")
    versions = train_during_jobs(emulator, shop, count=3)

    dag_run = run_dag(DAG_ID)

    assert dag_run.state == "failed"
    assert len(versions) == 3
    states = task_states(dag_run)
    assert states["record_erasure"] == {"failed"}
    assert states["create_follow_up_job_3"] == {"skipped"}  # the bound: no third follow-up
    assert set(world.statuses().values()) == {"pending"}
    shop_jobs = [job for job in emulator.jobs() if job["datasetGroupArn"] == shop.group]
    assert len(shop_jobs) == 3  # the job and two follow-ups
    ((outcome, record),) = world.audit()
    assert outcome == "failed"
    assert any("OVERLAPPED" in problem and "max_follow_up_jobs" in problem for problem in record["problems"])
    jobs = audited_jobs(record, shop.group)
    assert [job["erasureRound"] for job in jobs] == [0, 1, 2]
    overlaps = [[item["arn"] for item in job["overlappingActivity"]] for job in jobs]
    assert overlaps == [[arn] for arn in versions]
    assert "max_follow_up_jobs" in capsys.readouterr().out


def test_all_erases_in_every_active_dataset_group_and_the_audit_names_them(
    run_dag, emulator, world, monkeypatch
):
    other = emulator.create_dataset_group("other", user_ids=["user-001"])
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_DATASET_GROUP_ARNS", "all")
    world.request("user-001")

    dag_run = run_dag(DAG_ID)

    assert dag_run.state == "success"
    groups = sorted([*world.groups.values(), other])
    assert sorted(job["datasetGroupArn"] for job in emulator.jobs()) == groups
    assert "user-001" not in emulator.users(other)
    ((outcome, record),) = world.audit()
    assert outcome == "erased"
    assert record["dataset_group_selection"] == {"selector": "all", "arns": groups}
    assert xcom(dag_run, "collect_erasure_requests")["dataset_groups"]["arns"] == groups


def test_a_tag_filter_erases_in_the_tagged_dataset_groups_only(run_dag, emulator, world, monkeypatch):
    tagged = emulator.create_dataset_group("tagged", user_ids=["user-001"], tags={"erasure": "enabled"})
    emulator.create_dataset_group("off", user_ids=["user-001"], tags={"erasure": "disabled"})
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_DATASET_GROUP_ARNS", '{"erasure": "enabled"}')
    world.request("user-001")

    dag_run = run_dag(DAG_ID)

    assert dag_run.state == "success"
    assert [job["datasetGroupArn"] for job in emulator.jobs()] == [tagged]
    ((_, record),) = world.audit()
    assert record["dataset_group_selection"] == {"selector": {"erasure": "enabled"}, "arns": [tagged]}


def test_a_selector_in_the_form_still_obeys_the_allow_list(run_dag, emulator, world, monkeypatch, capsys):
    monkeypatch.setenv(
        "AIRFLOW_VAR_PERSONALIZE_ERASURE_ALLOWED_DATASET_GROUP_ARNS", json.dumps([world.groups["shop"]])
    )
    world.request("user-001")

    dag_run = run_dag(DAG_ID, conf={"dataset_group_arns": ["all"]})  # the form's field, one line

    assert dag_run.state == "failed"
    assert task_states(dag_run)["collect_erasure_requests"] == {"failed"}
    assert "must be one of the dataset groups of the Variable" in capsys.readouterr().out
    assert emulator.calls("CreateDataDeletionJob") == 0
    assert world.statuses() == {"user-001": "pending"}


def test_a_group_tagged_during_the_run_refuses_the_marks(emulator, world, airflow_db, aws_conn, monkeypatch):
    """record_erasure resolves the selector again: a group it names now, erased by no job, marks nothing."""
    dag = erasure_dag()
    tagged = emulator.create_dataset_group("tagged", user_ids=["user-001"], tags={"erasure": "enabled"})
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_DATASET_GROUP_ARNS", '{"erasure": "enabled"}')
    world.request("user-001")
    first = dag.test(mark_success_pattern="record_erasure|delete_deletion_files")
    assert [job["datasetGroupArn"] for job in emulator.jobs()] == [tagged]
    emulator.create_dataset_group("late", user_ids=["user-001"], tags={"erasure": "enabled"})

    _rerun(dag, first, ["record_erasure"])

    assert world.statuses() == {"user-001": "pending"}
    ((outcome, record),) = world.audit()
    assert outcome == "failed"
    assert "changed since the run started" in record["problems"][0]
