"""The evidence of find and forget: its table as the README prints it, its rows, and the run's summary."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from airflow_provider_personalize_deletion.erasure import forget_steps
from airflow_provider_personalize_deletion.erasure.forget_evidence import (
    EARLIER_TRY_REASON,
    add_to_audit,
    create_forget_table,
    forget_rows,
    forget_table_ddl,
    forget_table_exists,
    summarise,
    write_forget_row,
)
from airflow_provider_personalize_deletion.erasure.forget_plan import forget_plan_table_ddl
from airflow_provider_personalize_deletion.forget.batch import ForgetScope, forget_objects
from airflow_provider_personalize_deletion.forget.objects import ForgetObject
from airflow_provider_personalize_deletion.forget.result import ObjectResult, Outcome
from tests.erasure.test_tables_setting import README, normalised
from tests.forget.conftest import allow, forget_set
from tests.plugins.warehouse import warehouse_store

DDL_MARKER = "<!-- erasure-forget-ddl:"
PLAN_DDL_MARKER = "<!-- erasure-forget-plan-ddl:"
NOW = datetime(2026, 12, 7, tzinfo=timezone.utc)
A, B = "s3://bkt/a.json", "s3://bkt/b.json"


def readme_statement(marker: str = DDL_MARKER) -> str:
    text = README.read_text()
    block = text[text.index(marker) :]
    start = block.index("```sql\n") + len("```sql\n")
    return block[start : block.index("\n```", start)].strip().rstrip(";")


def test_the_readme_statements_are_the_ones_the_dag_runs():
    assert normalised(readme_statement()) == normalised(forget_table_ddl())
    assert normalised(readme_statement(PLAN_DDL_MARKER)) == normalised(forget_plan_table_ddl())


def record(location: str, outcome: str, removed: int = 0) -> dict:
    return {
        "location": location,
        "outcome": outcome,
        "verified": outcome in ("no_match", "forgotten"),
        "records_removed": removed,
    }


def test_a_retry_that_finds_no_match_keeps_the_first_tries_removal():
    summary = summarise([record(A, "forgotten", 2), record(A, "no_match"), record(B, "no_match")], [A, B])
    assert summary["summary"] == "removed from 1 files in S3 (0 unverified; 0 locations not scanned)"
    assert summary["records_removed"] == 2


def test_unread_unreached_and_unlisted_objects_are_unverified_never_clean():
    unread = {**record(A, "unverified"), "reason": "could not be read (S3 error AccessDenied)"}
    refused = {"prefix": "s3://gone/out/", "error": "NoSuchBucket"}
    summary = summarise([unread], [A, B], unlisted=[refused])
    assert summary["summary"] == "removed from 0 files in S3 (3 unverified; 0 locations not scanned)"
    assert (summary["not_reached"], summary["unlisted"]) == (1, 1)
    assert summary["unverified_objects"] == [
        {"location": A, "reason": "could not be read (S3 error AccessDenied)"},
        {"location": B, "reason": "not reached: no try of its task recorded it"},
        {"location": "s3://gone/out/", "reason": "its listing was refused (S3 error NoSuchBucket)"},
    ]


def test_an_intent_no_later_try_resolved_is_unverified():
    summary = summarise([record(A, "rewriting", 1)], [A])
    assert summary["summary"] == "removed from 0 files in S3 (1 unverified; 0 locations not scanned)"


def test_a_removal_whose_row_was_lost_is_recorded_by_the_retry_as_the_earlier_tries(
    s3_client, request, tmp_path, monkeypatch
):
    store = warehouse_store("sqlite", request, tmp_path, monkeypatch)
    create_forget_table(store)
    allow(monkeypatch, "s3://bkt/")
    s3_client.create_bucket(Bucket="bkt")
    s3_client.put_object(Bucket="bkt", Key="a.csv", Body=b"USER_ID\nu1\nu2\n")
    s3_client.put_object(Bucket="bkt", Key="b.csv", Body=b"USER_ID\nu3\n")
    etag_read = s3_client.head_object(Bucket="bkt", Key="a.csv")["ETag"]
    batch = [ForgetObject("bkt", "a.csv", "csv"), ForgetObject("bkt", "b.csv", "csv")]
    written = forget_steps.write_forget_row

    def dies_after_the_rewrite(store, attempt, recorded_at, item, result):
        if result.outcome is Outcome.FORGOTTEN:  # the worker is gone before the row is written
            raise SystemExit("killed")
        written(store, attempt, recorded_at, item, result)

    def try_(number: int) -> None:
        writer = forget_steps.evidence_writer(store, "dag", "run", 0, number)
        forget_objects(s3_client, batch, ForgetScope(forget_set(b"u1"), on_result=writer, on_rewrite=writer))

    monkeypatch.setattr(forget_steps, "write_forget_row", dies_after_the_rewrite)
    with pytest.raises(SystemExit):
        try_(1)
    monkeypatch.setattr(forget_steps, "write_forget_row", written)
    try_(2)

    rows = forget_rows(store, "dag", "run")
    (first,) = [row for row in rows if row["try_number"] == 1]
    etag_now = s3_client.head_object(Bucket="bkt", Key="a.csv")["ETag"]
    assert (first["outcome"], first["verified"], first["reason"]) == ("forgotten", True, EARLIER_TRY_REASON)
    assert (first["etag_before"], first["etag_after"], first["records_removed"]) == (etag_read, etag_now, 1)
    assert [row["outcome"] for row in rows if row["try_number"] == 2] == ["no_match", "no_match"]
    summary = summarise(rows, [A.replace(".json", ".csv"), B.replace(".json", ".csv")])
    assert summary["summary"] == "removed from 1 files in S3 (0 unverified; 0 locations not scanned)"
    assert summary["records_removed"] == 1


def test_an_object_unverified_then_rewritten_on_the_retry_is_verified():
    summary = summarise([record(A, "unverified"), record(A, "forgotten", 1)], [A])
    assert summary["summary"] == "removed from 1 files in S3 (0 unverified; 0 locations not scanned)"


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_rows_are_kept_per_try_and_the_summary_joins_the_audit_record(kind, request, tmp_path, monkeypatch):
    store = warehouse_store(kind, request, tmp_path, monkeypatch)
    store.create_tables()
    assert not forget_table_exists(store)
    create_forget_table(store)
    assert forget_table_exists(store)
    item = ForgetObject("bkt", "a.json", "jsonl")
    rewritten = ObjectResult(A, Outcome.FORGOTTEN, etag_before='"1"', etag_after='"2"', records_removed=1)
    write_forget_row(store, ("dag", "run", 0, 1, 0), NOW, item, rewritten)
    write_forget_row(store, ("dag", "run", 0, 2, 0), NOW, item, ObjectResult(A, Outcome.NO_MATCH))
    write_forget_row(store, ("other", "run", 0, 1, 0), NOW, item, ObjectResult(A, Outcome.UNVERIFIED))

    rows = forget_rows(store, "dag", "run")

    assert [(row["try_number"], row["outcome"], row["verified"]) for row in rows] == [
        (1, "forgotten", True),
        (2, "no_match", True),
    ]
    assert (rows[0]["etag_before"], rows[0]["etag_after"], rows[0]["records_removed"]) == ('"1"', '"2"', 1)
    store.write_audit("run", NOW, "erased", {"outcome": "erased"})
    assert add_to_audit(store, "run", summarise(rows, [A]))
    assert not add_to_audit(store, "backlog-run", summarise(rows, [A]))
    (saved,) = store.hook.get_records(f"SELECT record FROM {store.audit_table}")
    audit = json.loads(saved[0])
    assert audit["outcome"] == "erased"
    assert (
        audit["find_and_forget"]["summary"]
        == "removed from 1 files in S3 (0 unverified; 0 locations not scanned)"
    )


def test_an_intent_is_not_completed_by_an_object_that_lost_other_records_meanwhile(
    s3_client, request, tmp_path, monkeypatch
):
    """
    Try 1 read 3 records, meant to remove 1, and stopped (killed before its check restored a bad rewrite,
    or another writer replaced the object). Try 2 reads 1 record and no match: not the verified result of
    that removal, so the intent stays unverified, never clean.
    """
    store = warehouse_store("sqlite", request, tmp_path, monkeypatch)
    create_forget_table(store)
    allow(monkeypatch, "s3://bkt/")
    s3_client.create_bucket(Bucket="bkt")
    item = ForgetObject("bkt", "a.csv", "csv")
    s3_client.put_object(Bucket="bkt", Key="a.csv", Body=b"USER_ID\nu1\nu2\nu3\n")
    etag_read = s3_client.head_object(Bucket="bkt", Key="a.csv")["ETag"]
    intent = ObjectResult(
        "s3://bkt/a.csv",
        Outcome.REWRITING,
        etag_before=etag_read,
        records_before=3,
        records_removed=1,
        reason="being rewritten: the try stopped before its result was recorded",
    )
    write_forget_row(store, ("dag", "run", 0, 1, 0), NOW, item, intent)
    s3_client.put_object(Bucket="bkt", Key="a.csv", Body=b"USER_ID\nu2\n")  # u3 is lost, not only u1

    writer = forget_steps.evidence_writer(store, "dag", "run", 0, 2)
    forget_objects(s3_client, [item], ForgetScope(forget_set(b"u1"), on_result=writer, on_rewrite=writer))

    rows = forget_rows(store, "dag", "run")
    assert [(row["try_number"], row["outcome"]) for row in rows] == [(1, "rewriting"), (2, "no_match")]
    summary = summarise(rows, ["s3://bkt/a.csv"])
    assert summary["summary"] == "removed from 0 files in S3 (1 unverified; 0 locations not scanned)"
    assert summary["unverified_objects"] == [{"location": "s3://bkt/a.csv", "reason": intent.reason}]


def test_an_intent_whose_object_a_later_try_read_unchanged_was_never_written():
    """Try 1 was killed after its intent, before writing: try 2 read the same ETag and rewrote it."""
    intent = {**record(A, "rewriting", 1), "etag_before": '"1"'}
    summary = summarise([intent, {**record(A, "forgotten", 1), "etag_before": '"1"'}], [A])
    assert summary["summary"] == "removed from 1 files in S3 (0 unverified; 0 locations not scanned)"


def test_an_intent_followed_by_another_etag_is_unverified_even_when_the_last_row_is_clean():
    intent = {**record(A, "rewriting", 1), "etag_before": '"1"'}
    summary = summarise([intent, {**record(A, "no_match"), "etag_before": '"2"'}], [A])
    assert summary["summary"] == "removed from 0 files in S3 (1 unverified; 0 locations not scanned)"
