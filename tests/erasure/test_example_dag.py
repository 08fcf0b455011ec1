"""The example erasure DAG under dag.test(): each outcome a compliance officer cares about."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest

from airflow_provider_personalize_deletion.erasure.suppression import SuppressionList
from airflow_provider_personalize_deletion.utils.fingerprint_key import (
    FINGERPRINT_KEY_ENV,
    LEGACY_FINGERPRINT_KEY_VARIABLE,
    fingerprint_key,
)
from tests.conftest import TEST_FINGERPRINT_KEY
from tests.erasure.conftest import BUCKET

pytestmark = pytest.mark.airflow_db

DAG_ID = "personalize_gdpr_erasure"


def task_states(dag_run) -> dict[str, set[str]]:
    states: dict[str, set[str]] = {}
    for ti in dag_run.get_task_instances():
        states.setdefault(ti.task_id, set()).add(ti.state)
    return states


def xcom(dag_run, task_id: str):
    (ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == task_id]
    return ti.xcom_pull(task_ids=task_id)


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
    assert record["requests"]["suppressed"] == 3
    assert record["requests"]["overdue"] == 1
    assert record["export"]["id_count"] == 3
    assert world.files_left() == 0
    suppressed = SuppressionList(world.store.hook).contains(
        fingerprint_key(), ["user-001", "user-007", "user-012", "user-002"]
    )
    assert suppressed == [True, True, True, False]


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
    world.request("x" * 300)  # a real run would set it aside
    dag_run = run_dag(DAG_ID, conf={"dry_run": True, "user_ids": ["user-015"]})
    assert dag_run.state == "success"
    assert emulator.calls() == 0
    assert world.files_left() == 0
    assert world.statuses() == {"user-002": "pending", "x" * 300: "pending"}
    assert world.audit() == []
    record = xcom(dag_run, "record_erasure")
    assert record["outcome"] == "dry_run"
    assert record["requests"]["pending"] == 1
    assert record["requests"]["overdue"] == 1
    assert record["requests"]["would_add_ad_hoc"] == 1
    assert record["requests"]["would_reject"] == {"too_long": 1}


def test_a_dry_run_writes_nothing_anywhere(run_dag, emulator, world):
    world.store.hook.run(["DROP TABLE erasure_requests", "DROP TABLE erasure_audit"])
    stale = "erasure-runs/0123456789abcdef/part-00000.csv"
    world.put_old_object(stale, hours=72)
    upload = world.s3.create_multipart_upload(Bucket=BUCKET, Key=stale.replace("00000", "00001"))
    dag_run = run_dag(DAG_ID, conf={"dry_run": True, "user_ids": ["user-015", "user-016"]})
    assert dag_run.state == "success"
    assert not world.store.tables_exist()
    assert world.objects() == [stale]
    uploads = world.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert [item["UploadId"] for item in uploads] == [upload["UploadId"]]
    assert emulator.calls() == 0
    assert xcom(dag_run, "collect_erasure_requests")["requests"]["tables_missing"] is True


def test_a_conf_key_outside_the_form_refuses_the_run_before_it_touches_anything(
    run_dag, emulator, world, capsys
):
    world.s3.create_bucket(Bucket="other-team-data")
    foreign = "warehouse/exports/0123456789abcdef/part-00000.csv"
    world.put_old_object(foreign, hours=72, bucket="other-team-data")
    world.request("user-003")
    hostile = {
        "dry_run": True,
        "bucket": "other-team-data",
        "key_prefix": "warehouse/exports",
        "stale_file_hours": 25,
    }
    dag_run = run_dag(DAG_ID, conf=hostile)
    assert dag_run.state == "failed"
    assert task_states(dag_run)["collect_erasure_requests"] == {"failed"}
    assert "refused key(s): bucket, key_prefix, stale_file_hours" in capsys.readouterr().out
    assert world.objects("other-team-data") == [foreign]
    assert world.objects() == []
    assert world.statuses() == {"user-003": "pending"}
    assert world.audit() == []
    assert emulator.calls() == 0


def test_a_cleared_collect_step_alone_marks_nothing_its_jobs_did_not_read(emulator, world, airflow_db):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.taskinstance import clear_task_instances
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag(DAG_ID)
    world.request("user-001", "user-002")
    first = dag.test(mark_success_pattern="record_erasure|delete_deletion_files")
    assert {job["status"] for job in emulator.jobs()} == {"COMPLETED"}
    world.request("user-003")
    for task_id in ("collect_erasure_requests", "record_erasure"):
        with create_session() as session:
            (ti,) = [ti for ti in first.get_task_instances(session=session) if ti.task_id == task_id]
            clear_task_instances([ti], session)
            ti.try_number += 1
            ti.state = TaskInstanceState.SCHEDULED
            session.commit()
            _run_task(ti=ti, task=dag.task_dict[task_id], run_triggerer=True)
    assert world.statuses() == {"user-001": "pending", "user-002": "pending", "user-003": "pending"}
    assert "user-003" in emulator.users(world.groups["shop"])
    ((outcome, record),) = world.audit()
    assert outcome == "failed"
    assert "claim" in record["problems"][0]
    states = task_states(first)
    assert states["record_erasure"] == {"failed"}


def test_the_fingerprint_is_keyed_with_the_setting_and_no_variable_is_made(run_dag, emulator, world, capsys):
    from airflow.models.variable import Variable

    world.request("user-004")
    dag_run = run_dag(DAG_ID)
    assert dag_run.state == "success"  # record_erasure read the same key: the fingerprints matched
    fingerprint = xcom(dag_run, "export_user_ids")["fingerprint"]
    expected = hmac.new(TEST_FINGERPRINT_KEY.encode(), b"user-004\n", hashlib.sha256).hexdigest()
    assert fingerprint == f"hmac-sha256:{expected}"
    logs = "".join(capsys.readouterr())
    assert expected not in logs
    assert TEST_FINGERPRINT_KEY not in logs
    assert Variable.get(LEGACY_FINGERPRINT_KEY_VARIABLE, default_var=None) is None


@pytest.mark.parametrize("dry_run", [False, True], ids=["real", "dry"])
def test_a_missing_fingerprint_key_fails_the_collect_step_before_it_claims_or_calls_aws(
    run_dag, emulator, world, capsys, monkeypatch, dry_run
):
    monkeypatch.delenv(FINGERPRINT_KEY_ENV)
    world.request("user-004")
    dag_run = run_dag(DAG_ID, conf={"dry_run": dry_run})
    assert dag_run.state == "failed"
    assert task_states(dag_run)["collect_erasure_requests"] == {"failed"}
    setting = "The fingerprint key is not set: set the Airflow setting [personalize_deletion] fingerprint_key"
    assert setting in capsys.readouterr().out
    assert emulator.calls() == 0
    assert world.objects() == []
    assert world.statuses() == {"user-004": "pending"}
    assert world.claimed() == 0
    assert world.audit() == []


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


def _clear_and_resume(dag, dag_run, task_ids: set[str]):
    """Clear these tasks of a finished run (every map index) and run the DAG run on, as a scheduler would."""
    from airflow.models.dagbag import DBDagBag
    from airflow.models.taskinstance import clear_task_instances
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState

    with create_session() as session:
        dag_run = session.merge(dag_run)
        tis = [ti for ti in dag_run.get_task_instances(session=session) if ti.task_id in task_ids]
        clear_task_instances(tis, session, dag_run_state=DagRunState.RUNNING)
        session.commit()
    idle = 0
    while True:
        with create_session() as session:
            dag_run = session.merge(dag_run)
            dag_run.dag = DBDagBag().get_dag_for_run(dag_run, session)
            schedulable, _ = dag_run.update_state(session=session)
            for ti in schedulable:
                ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
            session.commit()
            scheduled = [
                ti
                for ti in dag_run.get_task_instances(session=session)
                if ti.state == TaskInstanceState.SCHEDULED
            ]
            if dag_run.state != DagRunState.RUNNING:
                return dag_run
            if not scheduled:  # a pass may only expand a mapped task or skip one level: a few more
                idle += 1
                if idle > 6:
                    return dag_run
                continue
            idle = 0
        for ti in scheduled:
            _run_task(ti=ti, task=dag.task_dict[ti.task_id], run_triggerer=True)


def test_a_failed_job_cleared_after_the_fix_is_replaced_and_the_audit_links_both(
    emulator, world, airflow_db, monkeypatch
):
    from airflow.dag_processing.dagbag import DagBag

    # The files are kept, so that the jobs can be cleared without the export (a cleared export
    # writes new files, read by new jobs, with no FAILED job to link).
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_CLEANUP_FILES", "false")
    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag(DAG_ID)
    world.request("user-041", "user-042")
    emulator.fail_job(None, "Access denied reading the input")  # the next job: one group's
    failed_run = dag.test()
    assert failed_run.state == "failed"
    (failed_job,) = [job for job in emulator.jobs() if job["status"] == "FAILED"]

    # The role's permissions fixed, the operator clears the run from the jobs on.
    cleared = {
        "plan_deletion_jobs",
        "create_deletion_job",
        "wait_for_deletion",
        "record_erasure",
        "delete_deletion_files",
        # downstream of record_erasure, as "clear with downstream" takes them
        "find_files_to_forget",
        "forget_erased_users_in_files",
        "record_find_and_forget",
        "append_to_ledger",
    }
    dag_run = _clear_and_resume(dag, failed_run, cleared)

    assert dag_run.state == "success"
    assert world.statuses() == {"user-041": "erased", "user-042": "erased"}
    replacements = [job for job in emulator.jobs() if job["jobName"].startswith(failed_job["jobName"] + "-g")]
    assert [job["status"] for job in replacements] == ["COMPLETED"]
    assert "user-041" not in emulator.users(failed_job["datasetGroupArn"])
    ((outcome, record),) = world.audit()
    assert outcome == "erased"
    (earlier,) = record["earlier_records"]  # the failed try's record, kept inside the run's
    assert earlier["outcome"] == "failed"
    assert failed_job["dataDeletionJobArn"] in {
        job["dataDeletionJobArn"] for group in earlier["dataset_groups"] for job in group["jobs"]
    }
    audited = {job["dataDeletionJobArn"]: job for group in record["dataset_groups"] for job in group["jobs"]}
    assert audited[replacements[0]["dataDeletionJobArn"]]["supersededJobArns"] == [
        failed_job["dataDeletionJobArn"]
    ]


def test_the_forms_boolean_fields_default_to_the_variables(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag(DAG_ID)
    for name in ("dry_run", "cleanup_files"):
        param = dag.params.get_param(name)
        assert param.value is None
        assert param.schema["type"] == ["null", "boolean"]
        assert param.resolve(True) is True
        assert param.resolve(None) is None


def test_the_dry_run_variable_makes_a_run_from_the_untouched_form_a_dry_run(
    run_dag, emulator, world, monkeypatch
):
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_DRY_RUN", "true")
    world.request("user-002")
    dag_run = run_dag(DAG_ID, conf={"user_ids": ["user-015"]})  # the form as it comes
    assert dag_run.state == "success"
    assert emulator.calls() == 0
    assert world.statuses() == {"user-002": "pending"}
    assert xcom(dag_run, "record_erasure")["outcome"] == "dry_run"


def _rerun(dag, dag_run, task_ids):
    """Clear the given task instances (all map indexes) and run them again, in order."""
    from airflow.models.taskinstance import clear_task_instances
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    for task_id in task_ids:
        with create_session() as session:
            tis = [ti for ti in dag_run.get_task_instances(session=session) if ti.task_id == task_id]
            clear_task_instances(tis, session)
            for ti in tis:
                ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
            session.commit()
            for ti in tis:
                _run_task(ti=ti, task=dag.task_dict[task_id], run_triggerer=True)


def test_a_reexport_after_an_id_was_corrected_makes_new_jobs_for_the_new_files(emulator, world, airflow_db):
    """The jobs of try 1 read user-002. The warehouse corrects that request's id to user-019, and the
    export is cleared with its downstream tasks (the UI's default): the export writes new files in a
    folder of its own try, the create task makes new jobs for them (new names: new inputs), and
    user-019 is marked erased only because a job erased it."""
    dag = erasure_dag()
    world.request("user-001", "user-002")
    first = dag.test(mark_success_pattern="record_erasure|delete_deletion_files")
    jobs_before = len(emulator.jobs())
    world.store.hook.run("UPDATE erasure_requests SET user_id = 'user-019' WHERE user_id = 'user-002'")
    _rerun(
        dag,
        first,
        [
            "export_user_ids",
            "plan_deletion_jobs",
            "create_deletion_job",
            "wait_for_deletion",
            "record_erasure",
        ],
    )
    assert len(emulator.jobs()) == 2 * jobs_before  # new jobs, for the new files
    assert "user-019" not in emulator.users(world.groups["shop"])
    assert world.statuses() == {"user-001": "erased", "user-019": "erased"}


def test_a_forged_collect_xcom_decides_nothing_about_where_data_goes(
    emulator, world, airflow_db, monkeypatch
):
    """Whoever can write the collect step's XCom names another bucket, prefix, query and table: the
    tasks resolve their settings themselves, and take from it only the claim's key and time."""
    dag = erasure_dag()
    world.s3.create_bucket(Bucket="other-team-data")
    foreign = "warehouse/0123456789abcdef/1/part-00000.csv"
    world.put_old_object(foreign, hours=0, bucket="other-team-data", deletion_file=False)
    world.request("user-001")
    first = dag.test(mark_success_pattern="record_erasure|delete_deletion_files")
    collected = xcom(first, "collect_erasure_requests")
    forged = {
        **collected,
        "settings": {
            **collected["settings"],
            "bucket": "other-team-data",
            "key_prefix": "warehouse",
            "requests_table": "sqlite_master",
        },
        "s3_key_prefix": "warehouse/0123456789abcdef",
        "export_sql": "SELECT name FROM sqlite_master",
    }
    # Forged where every task reads it (the task SDK's xcom_pull): what writing the XCom would do.
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    pull = RuntimeTaskInstance.xcom_pull

    def forged_pull(self, task_ids=None, *args, **kwargs):
        if task_ids == "collect_erasure_requests" and kwargs.get("key", "return_value") == "return_value":
            return forged
        return pull(self, task_ids, *args, **kwargs)

    monkeypatch.setattr(RuntimeTaskInstance, "xcom_pull", forged_pull)
    _rerun(dag, first, ["export_user_ids", "delete_deletion_files"])
    assert world.objects("other-team-data") == [foreign]
    export = xcom(first, "export_user_ids")
    assert export["data_folder"].startswith(f"s3://{BUCKET}/erasure-runs/")
    assert export["id_count"] == 1


def erasure_dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag(DAG_ID)


def test_a_run_cleared_whole_after_its_first_jobs_call_leaves_no_deletion_file(emulator, world, airflow_db):
    """The create task died after its call (the job exists, in no XCom or task state), then the whole
    run was cleared: collect claims again, in a new folder, and new jobs read new files. Once the run
    ends, the first claim's file is gone too (the first job ended), and only this pipeline's files."""
    from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
    from tests.erasure.conftest import ROLE_ARN

    dag = erasure_dag()
    world.request("user-051", "user-052")
    first = dag.test(mark_success_pattern="create_deletion_job|record_erasure|delete_deletion_files")
    (first_file,) = world.objects()
    # What the killed create task's call left: a job reading the first claim's file.
    PersonalizeHook().create_data_deletion_job(
        "killed-create-call", world.groups["shop"], f"s3://{BUCKET}/{first_file}", ROLE_ARN
    )
    foreign = first_file.rsplit("/", 1)[0] + "/part-00099.csv"  # in that folder, not the pipeline's
    world.put_old_object(foreign, hours=0, deletion_file=False)

    dag_run = _clear_and_resume(dag, first, set(dag.task_dict))

    assert dag_run.state == "success"
    assert world.statuses() == {"user-051": "erased", "user-052": "erased"}
    assert {job["status"] for job in emulator.jobs()} == {"COMPLETED"}
    assert world.objects() == [foreign]
    assert world.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert xcom(dag_run, "delete_deletion_files")["earlier_tries_deleted"] == 1
