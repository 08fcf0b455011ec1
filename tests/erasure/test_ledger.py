"""
The example DAG writes the evidence ledger: each run's audit record is appended after the warehouse
commit, the verifier (``personalize-erasure-verify``, no Airflow) passes on it, no user id is in it,
no Variable or run conf moves it, a failed append is pending until the next run, and a warehouse
changed afterwards no longer matches.
"""

from __future__ import annotations

import os

import pytest

from airflow_provider_personalize_deletion.ledger.chain import walk_chain
from airflow_provider_personalize_deletion.ledger.command import main as verify
from airflow_provider_personalize_deletion.ledger.listing import list_key_versions
from tests.erasure import test_verification_dag
from tests.erasure.conftest import USERS
from tests.erasure.test_example_dag import task_states
from tests.plugins.ledger import LEDGER_PREFIX

pytestmark = pytest.mark.airflow_db
#: The verification DAG's fixtures: a dataset to export.
personalize, interactions = test_verification_dag.personalize, test_verification_dag.interactions

DAG_ID = "personalize_gdpr_erasure"
#: Variables a task of any DAG could write to point the ledger elsewhere.
REDIRECT = {
    "personalize_erasure_ledger_bucket": "attacker-bucket",
    "personalize_erasure_ledger_prefix": "elsewhere",
    "personalize_erasure_ledger_aws_conn_id": "attacker",
}


def verifier(world, ledger, capsys, *extra: str) -> tuple[int, str]:
    """Run the verifier on the ledger and the test's warehouse: its exit code and output."""
    capsys.readouterr()
    database = world.store.hook.get_uri()
    code = verify(
        [
            "--bucket",
            ledger.bucket,
            "--prefix",
            ledger.prefix,
            "--endpoint-url",
            os.environ["AWS_ENDPOINT_URL"],
            "--region",
            "us-east-1",
            "--warehouse",
            database,
            "--retention-days",
            str(ledger.retention_days),
            *extra,
        ]
    )
    return code, capsys.readouterr().out


def records(world, ledger) -> list:
    report = walk_chain(world.s3, ledger.bucket, ledger.prefix)
    assert report.breaks == []
    return report.records


def erased_request_ids(world) -> list[str]:
    rows = world.store.hook.get_records(
        f"SELECT request_id FROM {world.store.requests_table} WHERE status = 'erased' ORDER BY request_id"
    )
    return [row[0] for row in rows]


def test_an_erasure_run_appends_its_audit_record_and_the_verifier_passes(run_dag, world, ledger_on, capsys):
    world.request("user-001", "user-007")
    dag_run = run_dag(DAG_ID)
    assert dag_run.state == "success"
    assert task_states(dag_run)["append_to_ledger"] == {"success"}
    (record,) = records(world, ledger_on)
    ((outcome, audit),) = world.audit()
    assert outcome == "erased"
    assert record.entry.kind == "erasure_run"
    assert record.entry.payload == audit
    assert record.entry.request_ids == erased_request_ids(world)
    assert len(record.entry.request_ids) == 2
    assert {job.status for job in record.entry.deletion_jobs} == {"COMPLETED"}
    code, out = verifier(world, ledger_on, capsys)
    assert (code, out.splitlines()[-1]) == (
        0,
        f"OK: 1 record(s) in s3://{ledger_on.bucket}/{LEDGER_PREFIX}/, 0 break(s)",
    )
    index = world.store.hook.get_records(
        f"SELECT ledger_sequence, record_sha256 FROM {world.store.audit_table}_ledger"
    )
    assert index == [(0, record.sha256)]


def test_no_ledger_object_holds_a_user_id(run_dag, world, ledger_on, emulator):
    world.request(*USERS[:6])
    assert run_dag(DAG_ID).state == "success"
    world.request("user-019")
    emulator.fail_job(None, "Insufficient privileges to read the input")
    assert run_dag(DAG_ID).state == "failed"
    versions = list_key_versions(world.s3, ledger_on.bucket, ledger_on.prefix)
    bodies = [
        world.s3.get_object(Bucket=ledger_on.bucket, Key=key, VersionId=version["VersionId"])["Body"].read()
        for key, item in versions.items()
        for version in item.versions
    ]
    assert len(bodies) == 2
    for user_id in [*USERS[:6], "user-019"]:
        assert not any(user_id.encode() in body for body in bodies), "a user id is in the ledger"


def test_neither_variables_nor_run_conf_redirect_the_ledger(run_dag, world, ledger_on, s3_client):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models import Variable

    s3_client.create_bucket(
        Bucket=REDIRECT["personalize_erasure_ledger_bucket"], ObjectLockEnabledForBucket=True
    )
    writer_dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag("write_variables")
    assert writer_dag.test(run_conf=REDIRECT).state == "success"
    try:
        world.request("user-002")
        assert run_dag(DAG_ID).state == "success"
        refused = run_dag(DAG_ID, conf={"ledger_bucket": REDIRECT["personalize_erasure_ledger_bucket"]})
        assert refused.state == "failed"
    finally:
        for key in REDIRECT:
            Variable.delete(key)
    assert len(records(world, ledger_on)) == 1
    assert (
        s3_client.list_object_versions(Bucket=REDIRECT["personalize_erasure_ledger_bucket"]).get("Versions")
        is None
    )


def test_a_failed_append_is_pending_and_the_next_run_appends_it(
    run_dag, world, ledger_on, capsys, monkeypatch
):
    monkeypatch.setenv("AIRFLOW__PERSONALIZE_DELETION__LEDGER_BUCKET", "no-such-bucket")
    world.request("user-003")
    first = run_dag(DAG_ID)
    assert task_states(first)["append_to_ledger"] == {"failed"}
    assert task_states(first)["record_erasure"] == {"success"}
    assert set(world.statuses().values()) == {"erased"}, "the warehouse keeps what the run did"
    code, out = verifier(world, ledger_on, capsys)
    assert code == 1
    assert "is not in the ledger (append pending, or removed)" in out
    assert "1 request(s) marked erased in the warehouse are in no ledger record" in out

    monkeypatch.setenv("AIRFLOW__PERSONALIZE_DELETION__LEDGER_BUCKET", ledger_on.bucket)
    world.request("user-004")
    second = run_dag(DAG_ID)
    assert second.state == "success"
    assert [record.entry.run_id for record in records(world, ledger_on)] == [first.run_id, second.run_id]
    assert verifier(world, ledger_on, capsys)[0] == 0


def test_a_warehouse_changed_after_the_append_is_reported_not_repaired(run_dag, world, ledger_on, capsys):
    world.request("user-005")
    assert run_dag(DAG_ID).state == "success"
    world.request("user-006")  # pending: never erased
    hook, table = world.store.hook, world.store.requests_table
    hook.run(f"UPDATE {table} SET status = 'erased' WHERE status = 'pending'")
    hook.run(
        f"UPDATE {world.store.audit_table} SET record = REPLACE(record, '\"erased\": 1', '\"erased\": 2')"
    )
    code, out = verifier(world, ledger_on, capsys)
    assert code == 1
    assert "1 request(s) marked erased in the warehouse are in no ledger record" in out
    assert "differs from ledger record 0" in out
    assert len(records(world, ledger_on)) == 1


def test_the_ledger_is_off_while_its_bucket_is_unset(run_dag, world, s3_client):
    world.request("user-008")
    dag_run = run_dag(DAG_ID)
    assert dag_run.state == "success"
    assert task_states(dag_run)["append_to_ledger"] == {"skipped"}


def test_a_bucket_without_object_lock_fails_the_append_loudly(
    run_dag, world, ledger_on, unlocked_bucket, monkeypatch
):
    monkeypatch.setenv("AIRFLOW__PERSONALIZE_DELETION__LEDGER_BUCKET", unlocked_bucket)
    world.request("user-009")
    dag_run = run_dag(DAG_ID)
    assert task_states(dag_run)["append_to_ledger"] == {"failed"}
    assert world.s3.list_objects_v2(Bucket=unlocked_bucket).get("KeyCount") == 0


def test_a_verification_run_appends_its_rows_and_the_verifier_describes_its_exports(
    run_dag, world, ledger_on, interactions, capsys
):
    world.request("user-007")
    assert run_dag(DAG_ID).state == "success"
    verification = run_dag("personalize_erasure_verification")
    assert verification.state == "success"
    assert task_states(verification)["append_to_ledger"] == {"success"}
    erasure, verified = records(world, ledger_on)
    assert (erasure.entry.kind, verified.entry.kind) == ("erasure_run", "verification")
    assert verified.entry.run_id == verification.run_id
    assert [(job.dataset_arn, job.outcome) for job in verified.entry.export_jobs] == [
        (interactions, "verified_absent")
    ]
    code, out = verifier(world, ledger_on, capsys)
    assert code == 0, out


def test_with_create_tables_off_a_missing_index_table_fails_the_append_naming_it(
    run_dag, world, ledger_on, monkeypatch, capsys
):
    """The deployment creates the tables itself: the append creates no index table, fails naming it,
    and the record stays pending; once the README's statement ran, the next run appends both."""
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_CREATE_TABLES", "false")
    world.request("user-010")
    first = run_dag(DAG_ID)

    assert task_states(first)["append_to_ledger"] == {"failed"}
    assert not world.store.has_table(f"{world.store.audit_table}_ledger")
    assert world.s3.list_objects_v2(Bucket=ledger_on.bucket).get("KeyCount") == 0

    world.store.hook.run(ledger_readme_statement())
    world.request("user-011")
    second = run_dag(DAG_ID)
    assert task_states(second)["append_to_ledger"] == {"success"}
    assert [record.entry.run_id for record in records(world, ledger_on)] == [first.run_id, second.run_id]
    assert verifier(world, ledger_on, capsys)[0] == 0


def ledger_readme_statement() -> str:
    from tests.erasure.test_tables_setting import README

    text = README.read_text()
    block = text[text.index(LEDGER_DDL_MARKER) :]
    start = block.index("```sql\n") + len("```sql\n")
    return block[start : block.index("\n```", start)].strip().rstrip(";")


LEDGER_DDL_MARKER = "<!-- erasure-ledger-ddl:"


def test_the_append_refused_for_a_missing_index_table_names_the_table_and_the_setting(world, ledger_on):
    from datetime import datetime, timezone

    from airflow.sdk.exceptions import AirflowFailException

    from airflow_provider_personalize_deletion.erasure.ledger_steps import append_to_ledger
    from airflow_provider_personalize_deletion.erasure.settings import DEFAULTS, ErasureSettings
    from airflow_provider_personalize_deletion.ledger.warehouse import ERASURE_RUN

    settings = ErasureSettings(**{**DEFAULTS, "dataset_group_arns": (), "create_tables": False})
    with pytest.raises(AirflowFailException, match=r"create_tables.*erasure_audit_ledger"):
        append_to_ledger(settings, ERASURE_RUN, datetime.now(timezone.utc))
    assert not world.store.has_table("erasure_audit_ledger")


def test_the_readme_statement_of_the_index_table_is_the_one_the_append_runs():
    from airflow_provider_personalize_deletion.ledger.warehouse import WarehouseTables, index_ddl
    from tests.erasure.test_tables_setting import normalised

    assert normalised(ledger_readme_statement()) == normalised(index_ddl(WarehouseTables()))
