"""
Erased stays erased, on the running Airflow with its real triggerer: an erasure run erases a user, an
unguarded import brings them back, the verification DAG (its export wait deferred in the triggerer)
requests them again, and the guarded import DAG refuses a source holding them (``fail``) or imports
everyone else (``filter``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import boto3
import pytest

from airflow_provider_personalize_deletion.erasure.guarded_import import (
    CLEANUP_TASK,
    CREATE_IMPORT_TASK,
    GUARD_TASK,
)
from tests.e2e.conftest import BYSTANDERS, ROLE_ARN, Stage
from tests.e2e.harness import AirflowDeployment, wait_until

pytestmark = pytest.mark.e2e

VERIFICATION = "personalize_erasure_verification"
GUARDED_IMPORT = "personalize_guarded_import"
EXPORT_TASK = "export_dataset"
EXPORT_TRIGGER = (
    "airflow_provider_personalize_deletion.triggers.dataset_export.PersonalizeDatasetExportJobActiveTrigger"
)
IMPORT_TRIGGER = (
    "airflow_provider_personalize_deletion.triggers.dataset_import.PersonalizeDatasetImportJobActiveTrigger"
)
SCHEMA_ARN = "arn:aws:personalize:us-east-1:123456789012:schema/interactions"
LAKE = "lake"
FILTERED = "personalize-filtered"
#: The users the lake's files hold besides the erased one.
OTHERS = BYSTANDERS[:4]
#: The guarded import DAG's Variables (``personalize_import_<name>``) this test sets.
IMPORT_VARIABLES = ("source", "dataset_arn", "role_arn", "mode", "filtered_bucket", "filtered_prefix")


@pytest.fixture(scope="module")
def dags(airflow: AirflowDeployment) -> Iterator[AirflowDeployment]:
    """The verification and guarded import DAGs, parsed from the same DAG folder and unpaused."""
    for dag_id in (VERIFICATION, GUARDED_IMPORT):
        airflow.wait_for_dag(dag_id)
    yield airflow
    for dag_id in (VERIFICATION, GUARDED_IMPORT):
        airflow.fail_unfinished_runs(dag_id)
    for name in IMPORT_VARIABLES:
        airflow.delete_variable(f"personalize_import_{name}")


def csv_of(*user_ids: str, item: str = "i2") -> bytes:
    """An import file: one interaction with ``item`` per user."""
    return ("USER_ID,ITEM_ID,TIMESTAMP\n" + "".join(f"{user},{item},2\n" for user in user_ids)).encode()


def hold_new_dataset_job(
    stage: Stage, personalize, kind: str, dataset_arn: str, known: Iterable[str] = ()
) -> str:
    """
    Hold the next dataset import or export job of a dataset in CREATE IN_PROGRESS as soon as it appears
    (it stays CREATE PENDING 2 s first, polled every 0.2 s); return its ARN.

    :param kind: ``Import`` or ``Export``.
    :param known: the ARNs of the dataset's jobs of that kind that are not new.
    """
    member = f"dataset{kind}Job"
    list_jobs = getattr(personalize, f"list_dataset_{kind.lower()}_jobs")

    def new_job() -> str | None:
        for job in list_jobs(datasetArn=dataset_arn)[f"{member}s"]:
            if job[f"{member}Arn"] not in set(known):
                assert job["status"] in ("CREATE PENDING", "CREATE IN_PROGRESS"), f"not held in time: {job}"
                stage.emulator.hold(job[f"{member}Arn"], "CREATE IN_PROGRESS")
                return job[f"{member}Arn"]
        return None

    return wait_until(new_job, 120, interval=0.2, what=f"a new dataset {kind.lower()} job")


def test_an_erased_user_brought_back_is_found_by_the_verification_and_kept_out_by_the_guarded_import(
    stage: Stage, dags: AirflowDeployment
) -> None:
    airflow, emulator = stage.airflow, stage.emulator
    personalize = boto3.client(
        "personalize", endpoint_url=stage.aws.endpoint_url, region_name=stage.aws.region
    )
    shop = stage.group_arns[0]
    dataset = personalize.create_dataset(
        name=f"shop-interactions-{stage.token}", schemaArn=SCHEMA_ARN, datasetGroupArn=shop,
        datasetType="Interactions",
    )["datasetArn"]  # fmt: skip
    erased = f"erased-{stage.token}"
    emulator.seed_records(
        dataset, [{"USER_ID": user, "ITEM_ID": "i1", "TIMESTAMP": "1"} for user in [erased, *OTHERS]]
    )

    # 1. The erasure run erases the user (and puts them on the suppression list).
    stage.request_erasure([erased])
    assert stage.run(stage.conf(group_arns=[shop])) == "success"
    assert stage.statuses([erased]) == {erased: "erased"}
    assert erased not in users_in(emulator, dataset)

    # 2. An unguarded import (a lake export that still holds them) brings them back.
    s3 = stage.s3
    s3.create_bucket(Bucket=LAKE)
    s3.put_object(Bucket=LAKE, Key="reimport.csv", Body=csv_of(erased, *OTHERS))
    emulator.set_activity_timings(pending_seconds=0, in_progress_seconds=0.5)
    unguarded = personalize.create_dataset_import_job(
        jobName=f"unguarded-{stage.token}", datasetArn=dataset, roleArn=ROLE_ARN,
        dataSource={"dataLocation": f"s3://{LAKE}/reimport.csv"}, importMode="INCREMENTAL",
    )["datasetImportJobArn"]  # fmt: skip
    wait_until(lambda: erased in users_in(emulator, dataset), 60, what="the unguarded import")
    emulator.set_activity_timings(pending_seconds=2, in_progress_seconds=4)  # the e2e jobs' timings

    # 3. The guarded import DAG in fail mode and the verification DAG run side by side (one run each).
    s3.put_object(Bucket=LAKE, Key="daily/part-1.csv", Body=csv_of(OTHERS[0], erased, OTHERS[1], item="i3"))
    s3.put_object(Bucket=LAKE, Key="daily/part-2.csv", Body=csv_of(*OTHERS[2:], item="i3"))
    s3.create_bucket(Bucket=FILTERED)
    settings = {
        "source": f"s3://{LAKE}/daily/",
        "dataset_arn": dataset,
        "role_arn": ROLE_ARN,
        "filtered_bucket": FILTERED,
        "filtered_prefix": "guarded-imports",
        "mode": "fail",
    }
    for name, value in settings.items():
        airflow.set_variable(f"personalize_import_{name}", value)
    creates = emulator.calls("CreateDatasetImportJob")
    refused = airflow.trigger({}, dag_id=GUARDED_IMPORT)
    run_id = airflow.trigger({}, dag_id=VERIFICATION)

    # 4. The verification's export wait is deferred in the triggerer; the user is requested again.
    export = hold_new_dataset_job(stage, personalize, "Export", dataset)
    (deferred,) = stage.wait_until_deferred(run_id, task_id=EXPORT_TASK, dag_id=VERIFICATION)
    assert_waits_in_the_running_triggerer(airflow, deferred, EXPORT_TRIGGER, run_id, VERIFICATION)
    emulator.release(export)
    assert airflow.wait_for_run(run_id, dag_id=VERIFICATION) == "success"
    (export_ti,) = [ti for ti in airflow.task_instances(run_id, VERIFICATION) if ti["task_id"] == EXPORT_TASK]
    assert (export_ti["state"], export_ti["try_number"]) == ("success", 1)  # resumed, not retried
    assert pending_requests(stage) == [(erased, "reappeared", shop, dataset, export)]
    assert verification_of(stage, run_id, dataset) == ("found_again", 1, 1)
    assert stage.s3_keys() == []  # the export files (and the erasure's) are deleted

    # The fail mode refused the source holding the erased user: no import job was created.
    assert airflow.wait_for_run(refused, dag_id=GUARDED_IMPORT) == "failed"
    states = airflow.task_states(refused, GUARDED_IMPORT)
    assert (states[GUARD_TASK], states[CREATE_IMPORT_TASK]) == (["failed"], ["upstream_failed"])
    assert (
        f"holds 1 record(s) of 1 suppressed user(s) (erased, on the suppression list) in 1 file(s): "
        f"s3://{LAKE}/daily/part-1.csv: 1 user(s), 1 record(s)"
    ) in task_log(airflow, refused, GUARD_TASK)
    assert emulator.calls("CreateDatasetImportJob") == creates

    # 5. Filter mode: everyone else is imported (FULL: the bulk records are replaced), the erased user not.
    airflow.set_variable("personalize_import_mode", "filter")
    filtered = airflow.trigger({}, dag_id=GUARDED_IMPORT)
    imported = hold_new_dataset_job(stage, personalize, "Import", dataset, [unguarded])
    (waiting,) = stage.wait_until_deferred(filtered, task_id=CREATE_IMPORT_TASK, dag_id=GUARDED_IMPORT)
    assert_waits_in_the_running_triggerer(airflow, waiting, IMPORT_TRIGGER, filtered, GUARDED_IMPORT)
    emulator.release(imported)
    assert airflow.wait_for_run(filtered, dag_id=GUARDED_IMPORT) == "success"
    states = airflow.task_states(filtered, GUARDED_IMPORT)
    assert [states[task] for task in (GUARD_TASK, CREATE_IMPORT_TASK, CLEANUP_TASK)] == [["success"]] * 3
    described = personalize.describe_dataset_import_job(datasetImportJobArn=imported)["datasetImportJob"]
    assert described["dataSource"]["dataLocation"].startswith(f"s3://{FILTERED}/guarded-imports/")
    # FULL: the bulk records are now the filtered copy's, every user of the source but the erased one.
    assert sorted((r["USER_ID"], r["ITEM_ID"]) for r in emulator.records(dataset)) == [
        (u, "i3") for u in OTHERS
    ]
    assert emulator.calls("CreateDatasetImportJob") == creates + 1
    assert s3.list_objects_v2(Bucket=FILTERED)["KeyCount"] == 0  # the filtered copy is deleted
    lake = sorted(item["Key"] for item in s3.list_objects_v2(Bucket=LAKE)["Contents"])
    assert lake == ["daily/part-1.csv", "daily/part-2.csv", "reimport.csv"]  # the source is untouched
    stage.assert_nothing_leaked([erased])


def users_in(emulator, dataset: str) -> set[str]:
    return {record["USER_ID"] for record in emulator.records(dataset)}


def assert_waits_in_the_running_triggerer(
    airflow: AirflowDeployment, ti: dict[str, Any], classpath: str, run_id: str, dag_id: str
) -> None:
    """The task instance is deferred, no worker runs it, and the running triggerer runs its trigger."""
    assert ti["state"] == "deferred"
    assert ti["trigger"]["classpath"] == classpath
    assert not airflow.task_processes([ti["id"]]), "a worker still runs the deferred task"
    running = [job_id for job_id, state in airflow.triggerer_jobs() if state == "running"]
    assert ti["trigger"]["triggerer_id"] in running
    map_index = ti["map_index"] if ti["map_index"] >= 0 else -1
    trigger_log = airflow.task_log_dir(run_id, ti["task_id"], map_index, dag_id) / (
        f"attempt={ti['try_number']}.log.trigger.{ti['trigger']['triggerer_id']}.log"
    )
    assert f"(ID {ti['trigger']['id']}) starting" in wait_until(trigger_log.read_text, 30, what="trigger log")


def task_log(airflow: AirflowDeployment, run_id: str, task_id: str) -> str:
    path = airflow.task_log_dir(run_id, task_id, dag_id=GUARDED_IMPORT) / "attempt=1.log"
    return wait_until(path.read_text, 30, what=f"the log of {task_id}")


def pending_requests(stage: Stage) -> list[tuple[str, str, str, str, str]]:
    """(user, source, group, dataset, export job) of each pending request."""
    rows = stage.warehouse.query(
        "SELECT user_id, source, details FROM erasure_requests WHERE status = 'pending'"
    )
    found = []
    for user, source, details in rows:
        where = json.loads(details)["reappeared"]
        found.append(
            (user, source, where["dataset_group_arn"], where["dataset_arn"], where["export_job_arn"])
        )
    return found


def verification_of(stage: Stage, run_id: str, dataset: str) -> tuple[str, int, int]:
    ((row,),) = [
        stage.warehouse.query(
            "SELECT outcome, users_found, requests_added FROM erasure_verification "
            "WHERE run_id = %s AND dataset_arn = %s",
            (run_id, dataset),
        )
    ]
    return row
