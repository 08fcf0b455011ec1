"""
A run's find and forget on the dashboard: the run's view says how many files were rewritten and names
the unverified ones with their reasons; the evidence lookup says "removed from N files in S3 (M
unverified)" for the run that erased the person. Both bounded whatever the audit record holds.
"""

from __future__ import annotations

import csv
import io
import json

from airflow_provider_personalize_deletion.dashboard.views import (
    MAX_MESSAGE_CHARS,
    MAX_NOT_SCANNED_SHOWN,
    MAX_UNVERIFIED_SHOWN,
)
from airflow_provider_personalize_deletion.erasure.forget_evidence import add_to_audit, summarise
from tests.dashboard.test_evidence import lookup
from tests.dashboard.test_queries import queries_of

REWRITTEN, UNREAD, UNREACHED = (
    "s3://batch/out/a.json.out",
    "s3://batch/out/b.json.out",
    "s3://batch/in/c.json",
)


def forget_summary() -> dict:
    """As ``record_find_and_forget`` sums a run up: one file rewritten, one unread, one never reached."""
    rows = [
        {"location": REWRITTEN, "outcome": "forgotten", "records_removed": 2, "reason": ""},
        {
            "location": UNREAD,
            "outcome": "unverified",
            "records_removed": 0,
            "reason": "could not be read (S3 error AccessDenied)",
        },
    ]
    return summarise(rows, [REWRITTEN, UNREAD, UNREACHED])


def test_a_runs_view_shows_the_files_rewritten_and_each_unverified_one_with_its_reason(store, world):
    assert add_to_audit(store, world.erased_run.run_id, forget_summary())

    view = queries_of(store).run(world.erased_run.run_id)["find_and_forget"]

    assert view["summary"] == "removed from 1 files in S3 (2 unverified; 0 locations not scanned)"
    assert (view["files_rewritten"], view["unverified"], view["records_removed"]) == (1, 2, 2)
    assert view["unverified_objects"] == [
        {"location": UNREAD, "reason": "could not be read (S3 error AccessDenied)"},
        {"location": UNREACHED, "reason": "not reached: no try of its task recorded it"},
    ]
    assert not view["unverified_objects_truncated"]
    assert queries_of(store).run(world.failed_run.run_id)["find_and_forget"] is None  # none was run


def test_a_runs_view_shows_a_bounded_number_of_unverified_files_with_capped_reasons(
    sqlite_store, sqlite_world
):
    run_id = sqlite_world.erased_run.run_id
    many = [{"location": f"s3://b/{n}", "reason": "x" * 2000} for n in range(100)]
    hostile = {
        "summary": 7,
        "unverified": 100,
        "unverified_objects": [*many, "not an object"],
        "dry_run": "yes",
    }
    assert add_to_audit(sqlite_store, run_id, hostile)

    (view,) = [run for run in queries_of(sqlite_store).runs(10)["runs"] if run["run_id"] == run_id]
    forget = view["find_and_forget"]

    assert (
        len(forget["unverified_objects"]) == MAX_UNVERIFIED_SHOWN and forget["unverified_objects_truncated"]
    )
    assert all(len(item["reason"]) < MAX_MESSAGE_CHARS + 10 for item in forget["unverified_objects"])
    assert (forget["summary"], forget["dry_run"]) == (None, False)  # malformed: left out
    assert view["texts_cut"]


def test_the_evidence_lookup_says_in_how_many_files_the_erasing_run_removed_the_person(api, store, world):
    add_to_audit(store, world.erased_run.run_id, forget_summary())
    client = api.login("officer")

    record = lookup(client, "alice").json()
    rows = list(csv.DictReader(io.StringIO(lookup(client, "alice", "csv").text)))

    erased, pending = record["requests"]
    assert erased["run"]["find_and_forget"] == {
        "summary": "removed from 1 files in S3 (2 unverified; 0 locations not scanned)",
        "files_rewritten": 1,
        "unverified": 2,
        "not_scanned": 0,
        "clean": False,
        "dry_run": False,
    }
    assert pending["run"]["find_and_forget"] is None  # its run failed: no find and forget
    assert {row["run_find_and_forget"] for row in rows if row["request_id"] == erased["request_id"]} == {
        "removed from 1 files in S3 (2 unverified; 0 locations not scanned)"
    }
    assert UNREAD not in json.dumps(record)  # the lookup names no other file


def test_a_runs_view_names_the_locations_not_scanned_and_never_shows_an_older_record_clean(
    sqlite_store, sqlite_world
):
    run_id = sqlite_world.erased_run.run_id
    left = [{"uri": f"s3://exports/out-{n}/", "reason": "location_not_allowed"} for n in range(30)]
    benign = {"uri": "s3://batch/segment-in/", "reason": "no_user_ids"}
    summary = summarise([], [], not_scanned=[benign, *left])
    assert summary["summary"] == "removed from 0 files in S3 (0 unverified; 31 locations not scanned)"
    assert add_to_audit(sqlite_store, run_id, summary)

    forget = queries_of(sqlite_store).run(run_id)["find_and_forget"]

    assert (forget["not_scanned"], forget["not_scanned_holding_users"], forget["clean"]) == (31, 30, False)
    assert len(forget["not_scanned_locations"]) == MAX_NOT_SCANNED_SHOWN
    assert forget["not_scanned_locations_truncated"]
    first, second = forget["not_scanned_locations"][:2]
    assert (first["reason"], first["holds_users"], first["blocking"]) == ("no_user_ids", False, False)
    assert (second["reason"], second["holds_users"], second["blocking"]) == (
        "location_not_allowed",
        True,
        True,
    )

    older = {key: value for key, value in summarise([], []).items() if not key.startswith(("not_", "clean"))}
    assert add_to_audit(sqlite_store, run_id, older)
    forget = queries_of(sqlite_store).run(run_id)["find_and_forget"]
    assert (forget["not_scanned"], forget["clean"]) == (None, False)  # unknown: never shown clean
