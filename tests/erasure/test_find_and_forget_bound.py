"""
Find and forget reads and rewrites only within ``[personalize_deletion] forget_allowed_locations``, set in
the Airflow configuration: a Variable (``personalize_erasure_forget_locations``) cannot widen it, and a
run conf selecting dataset groups cannot make the run touch their jobs' files outside it. On the
emulator's jobs (``jobs``), under dag.test().
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_personalize_deletion.erasure.forget_tasks import BACKLOG_DAG_ID, FIND_TASK, RECORD_TASK
from airflow_provider_personalize_deletion.forget.allowed_locations import ENV as ALLOWED_LOCATIONS_ENV
from tests.erasure.test_find_and_forget_dag import (  # noqa: F401 (jobs is a fixture)
    BATCH,
    COPIES,
    DAG_ID,
    ERASED,
    EXPORTS,
    IMPORTS,
    jobs,
    lines,
    snapshot,
    suppress,
    without_erased,
)

pytestmark = [pytest.mark.airflow_db, pytest.mark.usefixtures("jobs")]

EXPORT = (EXPORTS, "out/export-1/part-00000.csv")


@pytest.mark.parametrize(
    ("declared", "field"),
    [
        # allowed_buckets may only narrow the setting: naming another bucket widens nothing
        ({"allowed_buckets": [BATCH, EXPORTS]}, "personalize_erasure_forget_locations.allowed_buckets[1]"),
        # s3://<copies>/data holds data_old/ too: a look-alike of the configured folder data/
        (
            {"locations": [{"prefix": f"s3://{COPIES}/data", "format": "jsonl"}]},
            "personalize_erasure_forget_locations.locations[0].prefix",
        ),
    ],
)
def test_a_variable_reaching_outside_the_setting_fails_the_planning_and_no_file_is_touched(
    run_dag, world, s3_client, monkeypatch, capsys, declared, field
):
    monkeypatch.setenv(ALLOWED_LOCATIONS_ENV, f"s3://{BATCH}/, s3://{COPIES}/data/")
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_FORGET_LOCATIONS", json.dumps(declared))
    s3_client.create_bucket(Bucket=COPIES)
    s3_client.put_object(Bucket=COPIES, Key="data_old/users.json", Body=lines("user-007", "user-001"))
    suppress(world, "user-007")
    before = snapshot(s3_client)
    look_alike = s3_client.get_object(Bucket=COPIES, Key="data_old/users.json")["ETag"]

    dag_run = run_dag(BACKLOG_DAG_ID)

    assert dag_run.state == "failed"
    (find,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == FIND_TASK]
    assert find.state == "failed"
    assert snapshot(s3_client) == before  # the batch bucket too: refused before any AWS call
    assert s3_client.get_object(Bucket=COPIES, Key="data_old/users.json")["ETag"] == look_alike
    logs = capsys.readouterr().out
    assert f"Invalid parameter '{field}': must " in logs
    assert "[personalize_deletion] forget_allowed_locations" in logs
    assert ERASED.decode() not in logs


def test_a_run_conf_selecting_the_dataset_groups_cannot_reach_their_files_outside_the_setting(
    run_dag, world, s3_client, monkeypatch
):
    """
    The form's dataset groups (the run's conf) choose whose jobs are found; the setting bounds what is
    read of them. No ``allowed_buckets`` in the Variable: only the setting stands between the run and
    the export's bucket and the import source's. The export's file was never cleaned: the record step
    fails, and the request stays erased (its deletion job completed).
    """
    monkeypatch.setenv(ALLOWED_LOCATIONS_ENV, f"s3://{BATCH}/")
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_FORGET_LOCATIONS", json.dumps({"locations": []}))
    world.request("user-007")
    before = snapshot(s3_client)

    dag_run = run_dag(DAG_ID, conf={"dataset_group_arns": [world.groups["shop"]]})

    assert dag_run.state == "failed"
    failed = {ti.task_id for ti in dag_run.get_task_instances() if ti.state == "failed"}
    assert failed == {RECORD_TASK}
    assert world.statuses() == {"user-007": "erased"}
    after = snapshot(s3_client)
    assert after[EXPORT] == before[EXPORT]  # names the user, outside the setting: never read
    assert after[(IMPORTS, "x.csv")] == before[(IMPORTS, "x.csv")]
    assert after[(BATCH, "in/a.json")][2] == without_erased(before[(BATCH, "in/a.json")][2])
    ((_, record),) = world.audit()
    summary = record["find_and_forget"]
    assert summary["summary"] == "removed from 2 files in S3 (0 unverified; 2 locations not scanned)"
    assert summary["locations"]["location_not_allowed"] == 2  # the export and the import source
    assert not summary["clean"] and summary["not_scanned_blocking"] == 2
