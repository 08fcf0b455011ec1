"""
Find and forget in the example DAG and the backlog DAG under dag.test(), on the emulator's jobs: batch
inference input and output and a dataset export naming an erased user; an import source that does too.
"""

from __future__ import annotations

import json
import os

import boto3
import pytest

from airflow_provider_personalize_deletion.erasure.forget_evidence import FORGET_TABLE
from airflow_provider_personalize_deletion.erasure.forget_tasks import (
    BACKLOG_DAG_ID,
    FORGET_TASK,
    RECORD_TASK,
)
from airflow_provider_personalize_deletion.erasure.suppression import entry_rows, insert_entries
from airflow_provider_personalize_deletion.forget.allowed_locations import ENV as ALLOWED_LOCATIONS_ENV
from airflow_provider_personalize_deletion.utils.fingerprint_key import fingerprint_key
from tests.core.conftest import RECIPE_ARN, SCHEMA_ARN
from tests.erasure.conftest import ROLE_ARN

pytestmark = pytest.mark.airflow_db

DAG_ID = "personalize_gdpr_erasure"
ERASED = b"user-007"
#: The batch bucket is versioned: the versions that named the user go too.
BATCH, EXPORTS, IMPORTS = "batch-jobs", "dataset-exports", "dataset-imports"
#: The buckets of these tests' declared copies (one that does not exist: its listing is refused).
COPIES, DECLARED_COPIES, GONE = "plain-copies", "declared-copies", "gone-bucket"
#: ``[personalize_deletion] forget_allowed_locations`` of these tests: every bucket they name.
ALLOWED_LOCATIONS = ", ".join(f"s3://{b}/" for b in (BATCH, EXPORTS, IMPORTS, COPIES, DECLARED_COPIES, GONE))


def batch_io(source: str, output: str) -> dict:
    return {
        "jobInput": {"s3DataSource": {"path": source}},
        "jobOutput": {"s3DataDestination": {"path": output}},
        "roleArn": ROLE_ARN,
    }


def lines(*users: str) -> bytes:
    return "".join(json.dumps({"userId": user, "itemId": f"i-{user}"}) + "\n" for user in users).encode()


@pytest.fixture
def jobs(world, local_aws, s3_client, monkeypatch):
    """
    In the shop group: an import from ``dataset-imports`` (user-007), then its export; batch inference jobs
    reading ``batch-jobs/in/`` (``a.json`` names user-007, ``b.json`` does not) into ``out/``. Every job
    has ended before the run (each described once).
    """
    personalize = boto3.client("personalize", endpoint_url=local_aws.endpoint_url, region_name="us-east-1")
    for bucket in (BATCH, EXPORTS, IMPORTS):
        s3_client.create_bucket(Bucket=bucket)
    s3_client.put_bucket_versioning(Bucket=BATCH, VersioningConfiguration={"Status": "Enabled"})
    s3_client.put_object(Bucket=BATCH, Key="in/a.json", Body=lines("user-001", "user-007", "user-002"))
    s3_client.put_object(Bucket=BATCH, Key="in/b.json", Body=lines("user-003"))
    s3_client.put_object(
        Bucket=IMPORTS,
        Key="x.csv",
        Body=b"USER_ID,ITEM_ID,TIMESTAMP\nuser-007,i1,1700000000\nuser-004,i2,1700000001\n",
    )
    shop = world.groups["shop"]
    dataset = personalize.create_dataset(
        name="shop-interactions", schemaArn=SCHEMA_ARN, datasetGroupArn=shop, datasetType="Interactions"
    )["datasetArn"]
    imported = personalize.create_dataset_import_job(
        jobName="import-1",
        datasetArn=dataset,
        dataSource={"dataLocation": f"s3://{IMPORTS}/"},
        roleArn=ROLE_ARN,
    )
    personalize.describe_dataset_import_job(datasetImportJobArn=imported["datasetImportJobArn"])
    exported = personalize.create_dataset_export_job(
        jobName="export-1",
        datasetArn=dataset,
        ingestionMode="BULK",
        roleArn=ROLE_ARN,
        jobOutput={"s3DataDestination": {"path": f"s3://{EXPORTS}/out/"}},
    )
    personalize.describe_dataset_export_job(datasetExportJobArn=exported["datasetExportJobArn"])
    solution = personalize.create_solution(name="shop-recs", datasetGroupArn=shop, recipeArn=RECIPE_ARN)
    version = personalize.create_solution_version(solutionArn=solution["solutionArn"])["solutionVersionArn"]
    personalize.describe_solution_version(solutionVersionArn=version)
    job = personalize.create_batch_inference_job(
        jobName="infer-1", solutionVersionArn=version, **batch_io(f"s3://{BATCH}/in/", f"s3://{BATCH}/out/")
    )
    personalize.describe_batch_inference_job(batchInferenceJobArn=job["batchInferenceJobArn"])
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_FIND_AND_FORGET", "true")
    monkeypatch.setenv(ALLOWED_LOCATIONS_ENV, ALLOWED_LOCATIONS)
    monkeypatch.setenv(
        "AIRFLOW_VAR_PERSONALIZE_ERASURE_FORGET_LOCATIONS",
        json.dumps({"locations": [], "allowed_buckets": [BATCH, EXPORTS, IMPORTS]}),
    )
    return world


def snapshot(s3_client) -> dict[tuple[str, str], tuple[str, object, bytes]]:
    """Every current object of the three buckets: ETag, LastModified, bytes."""
    found = {}
    for bucket in (BATCH, EXPORTS, IMPORTS):
        for item in s3_client.list_objects_v2(Bucket=bucket).get("Contents", []):
            body = s3_client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            found[(bucket, item["Key"])] = (item["ETag"], item["LastModified"], body)
    return found


def all_versions(s3_client) -> list[tuple[str, str, str]]:
    listed = []
    for bucket in (BATCH, EXPORTS, IMPORTS):
        versions = s3_client.list_object_versions(Bucket=bucket).get("Versions", [])
        listed += sorted((bucket, item["Key"], item["VersionId"]) for item in versions)
    return listed


def without_erased(body: bytes) -> bytes:
    return b"".join(line for line in body.splitlines(keepends=True) if ERASED not in line)


def evidence(world) -> list[dict]:
    columns = "location, outcome, verified, etag_before, etag_after, records_removed, try_number, reason"
    rows = world.store.hook.get_records(f"SELECT {columns} FROM {FORGET_TABLE} ORDER BY try_number, location")
    names = [name.strip() for name in columns.split(",")]
    return [dict(zip(names, row, strict=True)) for row in rows]


def suppress(world, *user_ids: str) -> None:
    rows = entry_rows(
        fingerprint_key(), [f"r{i}" for i in range(len(user_ids))], list(user_ids), "2026-01-01"
    )
    connection = world.store.hook.get_conn()
    insert_entries(connection.cursor(), world.store.suppression_table, "?", rows)
    connection.commit()
    connection.close()


def test_the_erased_users_lines_go_from_every_file_others_stay_byte_for_byte_and_a_retry_removes_nothing(
    run_dag, jobs, s3_client
):
    from airflow.models.taskinstance import clear_task_instances
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    before = snapshot(s3_client)
    naming = {where for where, (_, _, body) in before.items() if ERASED in body}
    assert naming == {
        (BATCH, "in/a.json"),
        (BATCH, "out/a.json.out"),
        (EXPORTS, "out/export-1/part-00000.csv"),
        (IMPORTS, "x.csv"),
    }
    jobs.request("user-007")

    dag_run = run_dag(DAG_ID)

    assert dag_run.state == "success"
    after = snapshot(s3_client)
    assert set(after) == set(before)
    for where, (etag, modified, body) in before.items():
        if where == (IMPORTS, "x.csv"):  # an import source: left to the re-import guard
            assert after[where] == before[where]
        elif where in naming:
            assert after[where][2] == without_erased(body) != body
        else:  # no match: never written
            assert after[where] == (etag, modified, body)
    old_versions = [key for bucket, key, _ in all_versions(s3_client) if bucket == BATCH]
    assert sorted(old_versions) == ["in/a.json", "in/b.json", "out/a.json.out", "out/b.json.out"]
    rows = {row["location"]: row for row in evidence(jobs)}
    forgotten = {f"s3://{bucket}/{key}" for bucket, key in naming if bucket != IMPORTS}
    assert {location for location, row in rows.items() if row["outcome"] == "forgotten"} == forgotten
    for location in forgotten:
        bucket, key = location.removeprefix("s3://").split("/", 1)
        assert rows[location]["etag_before"] == before[(bucket, key)][0]
        assert rows[location]["etag_after"] == after[(bucket, key)][0]
        assert rows[location]["records_removed"] == 1
        assert rows[location]["verified"]
    assert {row["outcome"] for location, row in rows.items() if location not in forgotten} == {"no_match"}
    ((_, record),) = jobs.audit()
    assert (
        record["find_and_forget"]["summary"]
        == "removed from 3 files in S3 (0 unverified; 1 location not scanned)"
    )

    # A cleared mapped task reads every file again: what it rewrote has no match, nothing goes twice.
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag(DAG_ID)
    for task_id in (FORGET_TASK, RECORD_TASK):
        with create_session() as session:
            tis = [ti for ti in dag_run.get_task_instances(session=session) if ti.task_id == task_id]
            clear_task_instances(tis, session)
            for ti in tis:
                ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
            session.commit()
            for ti in tis:
                _run_task(ti=ti, task=dag.task_dict[task_id])
    assert snapshot(s3_client) == after
    retried = [row for row in evidence(jobs) if row["try_number"] == 2]
    assert retried and {row["outcome"] for row in retried} == {"no_match"}
    ((_, record),) = jobs.audit()
    assert (
        record["find_and_forget"]["summary"]
        == "removed from 3 files in S3 (0 unverified; 1 location not scanned)"
    )
    assert record["find_and_forget"]["records_removed"] == 3


def test_only_a_recorded_erasure_is_followed_by_find_and_forget(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag(DAG_ID)
    find = dag.task_dict["find_files_to_forget"]
    assert find.upstream_task_ids == {"record_erasure"}
    assert find.trigger_rule == "all_success"  # a failed record_erasure (a failed round) forgets nothing


def test_the_backlog_dag_dry_run_counts_and_writes_nothing(run_dag, jobs, s3_client):
    suppress(jobs, "user-007")
    versions, before = all_versions(s3_client), snapshot(s3_client)

    dag_run = run_dag(BACKLOG_DAG_ID, conf={"dry_run": True})

    assert dag_run.state == "success"
    assert all_versions(s3_client) == versions
    assert snapshot(s3_client) == before
    assert FORGET_TABLE not in jobs.store.hook.get_sqlalchemy_engine().dialect.get_table_names(
        jobs.store.hook.get_sqlalchemy_engine().connect()
    )
    (ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == RECORD_TASK]
    summary = ti.xcom_pull(task_ids=RECORD_TASK)
    assert summary["summary"] == "would be removed from 3 files in S3 (0 unverified; 1 location not scanned)"


def test_the_backlog_dag_forgets_the_suppression_list_only_in_the_allowed_buckets(
    run_dag, jobs, s3_client, monkeypatch, caplog, capsys
):
    monkeypatch.setenv(
        "AIRFLOW_VAR_PERSONALIZE_ERASURE_FORGET_LOCATIONS", json.dumps({"allowed_buckets": [BATCH]})
    )
    suppress(jobs, "user-007")
    before = snapshot(s3_client)

    dag_run = run_dag(BACKLOG_DAG_ID)

    # the export and the import source were left as they were: the record step fails, after the rest
    assert dag_run.state == "failed"
    assert {ti.task_id for ti in dag_run.get_task_instances() if ti.state == "failed"} == {RECORD_TASK}
    after = snapshot(s3_client)
    export = (EXPORTS, "out/export-1/part-00000.csv")
    assert after[export] == before[export]  # outside allowed_buckets: never rewritten
    assert after[(BATCH, "in/a.json")][2] == without_erased(before[(BATCH, "in/a.json")][2])
    assert {row["location"] for row in evidence(jobs) if row["outcome"] == "forgotten"} == {
        f"s3://{BATCH}/in/a.json",
        f"s3://{BATCH}/out/a.json.out",
    }
    # the export and the import source, outside allowed_buckets
    assert "removed from 2 files in S3 (0 unverified; 2 locations not scanned)" in caplog.text
    assert (
        "2 location(s) Personalize read or wrote were not scanned (bucket_not_allowed)"
        in capsys.readouterr().out
    )


def test_a_forged_batch_naming_objects_outside_the_runs_plan_is_refused_before_any_call(
    run_dag, jobs, s3_client, monkeypatch, capsys
):
    """
    No ``allowed_buckets``: the batch an XCom carries is checked against the plan the planning task kept
    in the warehouse. A writer of XComs adds an object of another bucket, and the import source (in the
    plan, not scannable): the batch is no longer the task's planned batch, and the mapped task reads and
    writes neither, nor the planned objects of its batch.
    """
    from airflow_provider_personalize_deletion.erasure import forget_runtime

    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_FORGET_LOCATIONS", json.dumps({"locations": []}))
    suppress(jobs, "user-007")
    s3_client.create_bucket(Bucket="elsewhere")
    s3_client.put_bucket_versioning(Bucket="elsewhere", VersioningConfiguration={"Status": "Enabled"})
    s3_client.put_object(Bucket="elsewhere", Key="users.json", Body=lines("user-007", "user-001"))
    planned = forget_runtime.find_files

    def forged(context, backlog=False):
        batches = planned(context, backlog)
        forged_objects = [
            {"bucket": "elsewhere", "key": "users.json", "format": "jsonl"},
            {"bucket": IMPORTS, "key": "x.csv", "format": "csv"},
        ]
        return [[*batches[0], *forged_objects], *batches[1:]]

    monkeypatch.setattr(forget_runtime, "find_files", forged)
    versions = s3_client.list_object_versions(Bucket="elsewhere")["Versions"]
    before = snapshot(s3_client)

    dag_run = run_dag(BACKLOG_DAG_ID)

    assert dag_run.state == "failed"
    assert s3_client.list_object_versions(Bucket="elsewhere")["Versions"] == versions
    assert snapshot(s3_client) == before  # the batch's planned objects too: refused before any call
    assert not [row for row in evidence(jobs) if row["outcome"] != "no_match"]
    logs = capsys.readouterr().out
    assert "must be exactly this task's batch of the run's plan" in logs
    assert "user-007" not in logs


def test_a_trimmed_batch_and_a_forged_summary_cannot_hide_files_from_the_unverified_count(
    run_dag, jobs, s3_client, monkeypatch, caplog
):
    """
    A writer of XComs drops the file naming the user from the batches and the refused listing (a declared
    bucket that is gone) from the plan's summary: the trimmed batch is not the task's planned batch and
    is refused, and the record step counts the plan the planning task kept in the warehouse, so every
    planned file and the refused listing are unverified: the run is never reported clean.
    """
    from airflow_provider_personalize_deletion.erasure import forget_runtime
    from airflow_provider_personalize_deletion.operators.find_and_forget import FORGET_PLAN_XCOM_KEY

    monkeypatch.setenv(
        "AIRFLOW_VAR_PERSONALIZE_ERASURE_FORGET_LOCATIONS",
        json.dumps({"locations": [{"prefix": f"s3://{GONE}/copies/", "format": "jsonl"}]}),
    )
    suppress(jobs, "user-007")
    planned = forget_runtime.find_files
    hidden = {"bucket": BATCH, "key": "in/a.json", "format": "batch_inference_input"}

    def forged(context, backlog=False):
        batches = planned(context, backlog)
        summary = context["ti"].xcom_pull(task_ids=context["ti"].task_id, key=FORGET_PLAN_XCOM_KEY)
        assert hidden in batches[0] and summary["unlisted"]
        context["ti"].xcom_push(key=FORGET_PLAN_XCOM_KEY, value={**summary, "unlisted": []})
        return [[item for item in batch if item != hidden] for batch in batches]

    monkeypatch.setattr(forget_runtime, "find_files", forged)

    dag_run = run_dag(BACKLOG_DAG_ID)

    assert dag_run.state == "failed"
    (ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == RECORD_TASK]
    assert ti.state == "failed"
    assert ERASED in read_object(s3_client, BATCH, "in/a.json")  # never reached: it must not count clean
    logs = caplog.text
    assert (
        "removed from 0 files in S3 (6 unverified; 1 location not scanned)" in logs
    )  # 5 planned files and the listing
    assert "user-007" not in logs


def read_object(s3_client, bucket: str, key: str) -> bytes:
    return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()


#: An unversioned bucket of the user's own copies, declared in the Variable (the batch bucket is versioned).
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
#: One line longer than a read block (4 MiB) and a multipart part (8 MiB): the rewrite goes by parts.
HUGE_LINE = json.dumps({"userId": "user-001", "itemId": "i" * (9 * 1024 * 1024)}).encode() + b"\n"


def test_kms_gzip_empty_and_huge_line_objects_on_both_bucket_kinds_and_a_raced_one_left_to_the_next_run(
    run_dag, jobs, s3_client, local_aws, monkeypatch
):
    """
    On the versioned batch bucket and an unversioned declared one: an SSE-KMS object keeps its key, a
    gzip object without a .gz name is found by its bytes and stays gzip, an empty one is never written, a
    line over a part's size is kept byte for byte, a key with spaces and unicode is rewritten under its own
    name. Another writer replaces one object between the read
    and the write: its object stays, the run fails naming it unverified, and the backlog DAG's next run
    forgets the user there.
    """
    import gzip

    from airflow_provider_personalize_deletion.forget import batch

    s3_client.create_bucket(Bucket=COPIES)
    monkeypatch.setenv(
        "AIRFLOW_VAR_PERSONALIZE_ERASURE_FORGET_LOCATIONS",
        json.dumps(
            {
                "locations": [{"prefix": f"s3://{COPIES}/in/", "format": "jsonl"}],
                "allowed_buckets": [BATCH, EXPORTS, IMPORTS, COPIES],
            }
        ),
    )
    naming = lines("user-001", "user-007", "user-002")
    objects = {
        "in/kms.json": (naming, {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KMS_KEY}),
        "in/part-0": (gzip.compress(naming), {}),
        "in/empty.json": (b"", {}),
        "in/huge.json": (HUGE_LINE + lines("user-007") + HUGE_LINE, {}),
    }
    for bucket in (BATCH, COPIES):
        for key, (body, attributes) in objects.items():
            s3_client.put_object(Bucket=bucket, Key=key, Body=body, **attributes)
    spaced = "in/exports 2026/ünïcödé 名前 (1).json"
    s3_client.put_object(Bucket=COPIES, Key=spaced, Body=naming)
    raced, theirs = "in/raced.json", lines("user-007", "user-009")
    s3_client.put_object(Bucket=COPIES, Key=raced, Body=naming)
    other = boto3.client("s3", endpoint_url=local_aws.endpoint_url, region_name="us-east-1")
    forget_object, written = batch.forget_object, []

    def with_a_writer_meanwhile(client, bucket_name, key, *args, **kwargs):
        def write_first(params, **_):
            if params["Key"] == raced and not written:
                written.append(other.put_object(Bucket=COPIES, Key=raced, Body=theirs))

        if key == raced:
            client.meta.events.register("before-parameter-build.s3.PutObject", write_first)
        return forget_object(client, bucket_name, key, *args, **kwargs)

    monkeypatch.setattr(batch, "forget_object", with_a_writer_meanwhile)
    jobs.request("user-007")
    before = {bucket: s3_client.head_object(Bucket=bucket, Key="in/empty.json") for bucket in (BATCH, COPIES)}

    dag_run = run_dag(DAG_ID)

    assert dag_run.state == "failed"
    failed = {ti.task_id for ti in dag_run.get_task_instances() if ti.state == "failed"}
    assert failed == {RECORD_TASK}
    for bucket in (BATCH, COPIES):
        kms = s3_client.head_object(Bucket=bucket, Key="in/kms.json")
        assert (kms["ServerSideEncryption"], kms["SSEKMSKeyId"]) == ("aws:kms", KMS_KEY)
        assert read_object(s3_client, bucket, "in/kms.json") == without_erased(naming)
        stored = read_object(s3_client, bucket, "in/part-0")
        assert stored[:2] == b"\x1f\x8b" and gzip.decompress(stored) == without_erased(naming)
        empty = s3_client.head_object(Bucket=bucket, Key="in/empty.json")
        assert (empty["ETag"], empty["LastModified"]) == (
            before[bucket]["ETag"],
            before[bucket]["LastModified"],
        )
        assert read_object(s3_client, bucket, "in/huge.json") == HUGE_LINE + HUGE_LINE
        assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert read_object(s3_client, COPIES, spaced) == without_erased(naming)  # under its own name
    assert read_object(s3_client, COPIES, raced) == theirs  # the other writer's object is not overwritten
    earlier = [
        item for item in s3_client.list_object_versions(Bucket=BATCH)["Versions"] if not item["IsLatest"]
    ]
    assert earlier == []  # the versions that named the user went with the rewrite
    rows = {row["location"]: row for row in evidence(jobs)}
    assert rows[f"s3://{COPIES}/{raced}"]["outcome"] == "unverified"
    assert "changed since it was read" in rows[f"s3://{COPIES}/{raced}"]["reason"]
    ((_, record),) = jobs.audit()
    assert (
        record["find_and_forget"]["summary"]
        == "removed from 10 files in S3 (1 unverified; 1 location not scanned)"
    )
    assert rows[f"s3://{COPIES}/{spaced}"]["outcome"] == "forgotten"

    monkeypatch.setattr(batch, "forget_object", forget_object)
    next_run = run_dag(BACKLOG_DAG_ID)

    assert next_run.state == "success"
    assert read_object(s3_client, COPIES, raced) == lines("user-009")


def test_a_dry_run_switched_on_after_the_planning_does_not_turn_unverified_files_into_would_be(
    run_dag, jobs, s3_client, monkeypatch, caplog
):
    """
    The Variable ``personalize_erasure_dry_run`` turns true once the plan is recorded: the mapped tasks
    count only, and the record step, finding the recorded plan, reports every planned file unverified.
    """
    from airflow_provider_personalize_deletion.erasure import forget_runtime

    suppress(jobs, "user-007")
    planned = forget_runtime.find_files

    def then_a_dry_run(context, backlog=False):
        batches = planned(context, backlog)
        monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_DRY_RUN", "true")
        return batches

    monkeypatch.setattr(forget_runtime, "find_files", then_a_dry_run)
    before = snapshot(s3_client)

    dag_run = run_dag(BACKLOG_DAG_ID)

    assert dag_run.state == "failed"
    assert snapshot(s3_client) == before
    assert "removed from 0 files in S3 (5 unverified; 1 location not scanned)" in caplog.text
