"""The guarded import DAG under dag.test(), after an erasure run filled the suppression list: a refused
import, a filtered one, the control without the guard, a lost or rotated key, look-alike sources, and
no id in any log or XCom."""

from __future__ import annotations

import json
import os

import pytest

from airflow_provider_personalize_deletion.erasure.guarded_import import (
    CLEANUP_TASK,
    CREATE_IMPORT_TASK,
    GUARD_REPORT_XCOM_KEY,
    GUARD_TASK,
)
from airflow_provider_personalize_deletion.utils.fingerprint_key import FINGERPRINT_KEY_ENV
from tests.core.conftest import SCHEMA_ARN
from tests.erasure.conftest import ROLE_ARN
from tests.erasure.test_example_dag import DAG_ID as ERASURE_DAG_ID
from tests.erasure.test_example_dag import task_states

pytestmark = pytest.mark.airflow_db

DAG_ID = "personalize_guarded_import"
LAKE = "lake"
FILTERED = "personalize-filtered"
ERASED = "user-001"
# Personalize's CSV as exported by real tools: a BOM, CRLF, quoted fields with commas, escaped quotes and
# line breaks; the erased user's records are quoted, unquoted, and one spans two lines.
SOURCE = (
    b"\xef\xbb\xbfUSER_ID,ITEM_ID,TIMESTAMP,NOTE\r\n"
    b'user-002,i1,1,"plain"\r\n'
    b'user-001,i2,2,"first, with a comma"\r\n'
    b'"user-003",i3,3,"a \\"quote\\" and\r\na line break"\r\n'
    b'"user-001",i4,4,"two\nlines"\r\n'
    b"user-004,i5,5,\r\n"
)
FILTERED_SOURCE = (
    b"\xef\xbb\xbfUSER_ID,ITEM_ID,TIMESTAMP,NOTE\r\n"
    b'user-002,i1,1,"plain"\r\n'
    b'"user-003",i3,3,"a \\"quote\\" and\r\na line break"\r\n'
    b"user-004,i5,5,\r\n"
)


@pytest.fixture
def erased(run_dag, world, personalize_dataset):
    """The erasure DAG erased user-001 (the suppression list holds them) from the shop group."""
    world.request(ERASED)
    assert run_dag(ERASURE_DAG_ID).state == "success"
    return ERASED


@pytest.fixture
def personalize_dataset(world, local_aws):
    import boto3

    personalize = boto3.client(
        "personalize", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region
    )
    return personalize.create_dataset(
        name="shop-interactions", schemaArn=SCHEMA_ARN, datasetGroupArn=world.groups["shop"],
        datasetType="Interactions",
    )["datasetArn"]  # fmt: skip


@pytest.fixture
def lake(world, personalize_dataset, monkeypatch):
    """The import's bucket and the DAG's Variables; returns a writer of source objects."""
    world.s3.create_bucket(Bucket=LAKE)
    world.s3.create_bucket(Bucket=FILTERED)
    variables = {
        "dataset_arn": personalize_dataset,
        "role_arn": ROLE_ARN,
        "filtered_bucket": FILTERED,
        "filtered_prefix": "guarded-imports",
    }
    for name, value in variables.items():
        monkeypatch.setenv(f"AIRFLOW_VAR_PERSONALIZE_IMPORT_{name.upper()}", value)

    def put(key: str, body: bytes = SOURCE) -> str:
        world.s3.put_object(Bucket=LAKE, Key=key, Body=body)
        return f"s3://{LAKE}/{key}"

    return put


def set_source(monkeypatch, location: str, mode: str = "fail") -> None:
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_IMPORT_SOURCE", location)
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_IMPORT_MODE", mode)


def run_import(mark_success: str | None = None):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag(DAG_ID)
    return dag.test(mark_success_pattern=mark_success) if mark_success else dag.test()


def xcom(dag_run, task_id: str, key: str = "return_value"):
    (ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == task_id]
    return ti.xcom_pull(task_ids=task_id, key=key)


def users_in(emulator, dataset: str) -> set[str]:
    return {record["USER_ID"] for record in emulator.records(dataset)}


def test_without_the_guard_a_re_import_brings_the_erased_user_back(
    erased, emulator, world, personalize_dataset, lake
):
    from airflow_provider_personalize_deletion.operators.dataset_import import (
        PersonalizeCreateDatasetImportJobOperator,
    )
    from tests.core.conftest import task_context

    assert erased not in emulator.users(world.groups["shop"])
    PersonalizeCreateDatasetImportJobOperator(
        task_id="unguarded", dataset_arn=personalize_dataset, data_location=lake("daily/in.csv"),
        role_arn=ROLE_ARN, wait_for_completion=True,
    ).execute(task_context())  # fmt: skip
    assert erased in users_in(emulator, personalize_dataset)
    assert erased in emulator.users(world.groups["shop"])


def test_fail_mode_refuses_the_import_naming_counts_and_files_and_the_user_stays_erased(
    erased, emulator, world, personalize_dataset, lake, monkeypatch, capsys
):
    lake("daily/part-1.csv")
    lake("daily/part-2.csv", b"USER_ID,ITEM_ID,TIMESTAMP\nuser-005,i9,9\n")
    set_source(monkeypatch, f"s3://{LAKE}/daily/")
    dag_run = run_import()
    assert dag_run.state == "failed"
    states = task_states(dag_run)
    assert states[GUARD_TASK] == {"failed"}
    assert states[CREATE_IMPORT_TASK] == {"upstream_failed"}
    logs = capsys.readouterr().out
    assert (
        f"holds 2 record(s) of 1 suppressed user(s) (erased, on the suppression list) in 1 file(s): "
        f"s3://{LAKE}/daily/part-1.csv: 1 user(s), 2 record(s)"
    ) in logs
    assert emulator.calls("CreateDatasetImportJob") == 0
    assert erased not in emulator.users(world.groups["shop"])
    assert world.objects(FILTERED) == []


def test_filter_mode_imports_everyone_else_from_a_byte_for_byte_copy_without_the_erased_user(
    erased, emulator, world, personalize_dataset, lake, monkeypatch, capsys
):
    lake("daily/part-1.csv")
    lake("daily/part-2.csv", b"USER_ID,ITEM_ID,TIMESTAMP\nuser-005,i9,9\n")
    set_source(monkeypatch, f"s3://{LAKE}/daily/", mode="filter")
    dag_run = run_import(mark_success=CLEANUP_TASK)  # the copy is kept to be read here
    assert dag_run.state == "success"
    location = xcom(dag_run, GUARD_TASK)
    assert location.startswith(f"s3://{FILTERED}/guarded-imports/") and location.endswith("/1/")
    prefix = location.removeprefix(f"s3://{FILTERED}/")
    copies = {
        key: world.s3.get_object(Bucket=FILTERED, Key=key)["Body"].read() for key in world.objects(FILTERED)
    }
    assert copies == {
        f"{prefix}part-1.csv": FILTERED_SOURCE,
        f"{prefix}part-2.csv": b"USER_ID,ITEM_ID,TIMESTAMP\nuser-005,i9,9\n",
    }
    assert users_in(emulator, personalize_dataset) == {"user-002", "user-003", "user-004", "user-005"}
    assert erased not in emulator.users(world.groups["shop"])
    assert xcom(dag_run, GUARD_TASK, GUARD_REPORT_XCOM_KEY) == {
        "location": location,
        "mode": "filter",
        "files": 2,
        "records": 6,
        "suppressed_records": 2,
        "files_rewritten": 1,
    }
    assert_no_id_in(capsys.readouterr(), dag_run)


def test_the_filtered_copies_are_deleted_once_the_import_ended_and_nothing_else(
    erased, emulator, world, lake, monkeypatch
):
    set_source(monkeypatch, lake("daily/part-1.csv"), mode="filter")
    world.s3.put_object(Bucket=FILTERED, Key="guarded-imports/keep-me.csv", Body=b"not ours")
    dag_run = run_import()
    assert dag_run.state == "success"
    assert xcom(dag_run, CLEANUP_TASK) == 1
    assert world.objects(FILTERED) == ["guarded-imports/keep-me.csv"]
    assert world.objects(LAKE) == ["daily/part-1.csv"]


@pytest.mark.parametrize("change", ["rotated", "lost"])
def test_a_rotated_or_lost_key_fails_the_guard_before_any_import(
    erased, emulator, world, lake, monkeypatch, capsys, change
):
    set_source(monkeypatch, lake("daily/part-1.csv"), mode="filter")
    if change == "rotated":
        monkeypatch.setenv(FINGERPRINT_KEY_ENV, "a-new-fingerprint-key-" + "7b" * 16)
    else:
        monkeypatch.delenv(FINGERPRINT_KEY_ENV)
    dag_run = run_import()
    assert dag_run.state == "failed"
    assert task_states(dag_run)[GUARD_TASK] == {"failed"}
    logs = capsys.readouterr().out
    expected = "SuppressionKeyError" if change == "rotated" else "The fingerprint key is not set"
    assert expected in logs
    assert emulator.calls("CreateDatasetImportJob") == 0
    assert world.objects(FILTERED) == []


def test_the_guard_reads_what_the_import_reads_never_a_look_alike(
    erased, emulator, world, personalize_dataset, lake, monkeypatch
):
    lake("data", b"USER_ID,ITEM_ID,TIMESTAMP\nuser-002,i1,1\n")
    lake("data_old/part-1.csv")  # holds the erased user: neither the guard nor the import reads it
    set_source(monkeypatch, f"s3://{LAKE}/data")
    assert run_import().state == "success"
    assert users_in(emulator, personalize_dataset) == {"user-002"}

    lake("folder/part-1.csv", b"USER_ID,ITEM_ID,TIMESTAMP\nuser-003,i1,1\n")
    lake("folder_old/part-1.csv")
    set_source(monkeypatch, f"s3://{LAKE}/folder/")
    assert run_import().state == "success"
    assert users_in(emulator, personalize_dataset) == {"user-003"}

    lake("folder/sub/part-2.csv")  # a sub-folder the import reads too: the guard checks it
    dag_run = run_import()
    assert dag_run.state == "failed"
    assert task_states(dag_run)[GUARD_TASK] == {"failed"}
    assert erased not in users_in(emulator, personalize_dataset)


def test_filter_mode_copies_every_sub_folder_the_import_reads_and_no_look_alike(
    erased, emulator, world, personalize_dataset, lake, monkeypatch
):
    lake("daily/", b"")  # folder markers, as the S3 console writes them
    lake("daily/2026/", b"")
    lake("daily/2026/12/part-1.csv")
    lake("daily/2026/12/07/part-2.csv", b"USER_ID,ITEM_ID,TIMESTAMP\nuser-005,i9,9\n")
    lake("daily_old/part-1.csv", b"USER_ID,ITEM_ID,TIMESTAMP\nuser-006,i9,9\n")
    set_source(monkeypatch, f"s3://{LAKE}/daily/", mode="filter")
    dag_run = run_import(mark_success=CLEANUP_TASK)
    assert dag_run.state == "success"
    prefix = xcom(dag_run, GUARD_TASK).removeprefix(f"s3://{FILTERED}/")
    assert world.objects(FILTERED) == [f"{prefix}2026/12/07/part-2.csv", f"{prefix}2026/12/part-1.csv"]
    assert users_in(emulator, personalize_dataset) == {"user-002", "user-003", "user-004", "user-005"}


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (b"ITEM_ID,TIMESTAMP\ni1,1\n", "has no USER_ID column in its header row"),
        (b"", "is empty"),
        (b'USER_ID,ITEM_ID\n"user-002,i1\n', "is not valid CSV"),
    ],
)
def test_a_source_that_breaks_a_rule_fails_the_guard_naming_the_file(
    erased, emulator, lake, monkeypatch, capsys, body, rule
):
    set_source(monkeypatch, lake("daily/broken.csv", body))
    dag_run = run_import()
    assert task_states(dag_run)[GUARD_TASK] == {"failed"}
    assert f"s3://{LAKE}/daily/broken.csv" in capsys.readouterr().out
    assert emulator.calls("CreateDatasetImportJob") == 0


def assert_no_id_in(captured, dag_run) -> None:
    """No user id of the source in the run's logs or any of its XComs."""
    logs = captured.out + captured.err
    xcoms = json.dumps([xcom(dag_run, ti.task_id) for ti in dag_run.get_task_instances()], default=str)
    for user in ("user-001", "user-002", "user-003", "user-004", "user-005"):
        assert user not in logs
        assert user not in xcoms


@pytest.mark.parametrize("forged", ["fail-another-file", "filter-the-raw-source", "filter-an-earlier-try"])
def test_a_location_the_guard_did_not_hand_on_is_never_imported(
    erased, emulator, world, personalize_dataset, lake, monkeypatch, forged
):
    """The create task imports what the guard's XCom holds, which anyone allowed to write XComs
    controls: stand-in for such a write, the guard returns another location."""
    from airflow_provider_personalize_deletion.erasure import import_guard

    unguarded = lake("daily/part-1.csv")  # holds the erased user
    mode = forged.split("-", 1)[0]
    set_source(monkeypatch, lake("daily/clean.csv", b"USER_ID,ITEM_ID,TIMESTAMP\nuser-002,i1,1\n"), mode)
    guard, destination = import_guard.guard_source, import_guard.filtered_destination
    forged_location = unguarded
    if forged == "filter-an-earlier-try":  # try 1 left a copy (here: unfiltered), the guard ran as try 2
        monkeypatch.setattr(import_guard, "filtered_destination", lambda *a: destination(*a[:3], a[3] + 1))

        def earlier_copy(client, location, *args):
            forged_location = destination(FILTERED, "guarded-imports", args[-1].split("/")[-3], 1)
            key = forged_location.removeprefix(f"s3://{FILTERED}/") + "part-1.csv"
            client.copy_object(
                Bucket=FILTERED, Key=key, CopySource={"Bucket": LAKE, "Key": "daily/part-1.csv"}
            )
            result = guard(client, location, *args)
            return import_guard.GuardResult(forged_location, mode, result.files, result.records)

        monkeypatch.setattr(import_guard, "guard_source", earlier_copy)
    else:
        monkeypatch.setattr(
            import_guard,
            "guard_source",
            lambda *args: import_guard.GuardResult(forged_location, mode, guard(*args).files, 1),
        )

    dag_run = run_import()

    assert dag_run.state == "failed"
    assert task_states(dag_run)[CREATE_IMPORT_TASK] == {"failed"}
    assert emulator.calls("CreateDatasetImportJob") == 0
    assert erased not in users_in(emulator, personalize_dataset)
