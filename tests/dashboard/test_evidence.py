"""
The evidence lookup: what a privacy officer gets for a user id, as JSON and CSV, and where that id
never goes (a URL, a log, a response, the metadata database, the warehouse).
"""

from __future__ import annotations

import csv
import io
import logging
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from airflow_provider_personalize_deletion.dashboard import queries as queries_module
from airflow_provider_personalize_deletion.dashboard.evidence import (
    CSV_COLUMNS,
    evidence_csv,
    evidence_record,
)
from airflow_provider_personalize_deletion.dashboard.queries import FoundRequests
from airflow_provider_personalize_deletion.erasure.settings import WarehouseSettings
from tests.dashboard.conftest import PREFIX
from tests.dashboard.seed import NEWS, SHOP, WarehouseSeeder

LOOKUP = f"{PREFIX}/api/evidence"
#: A user id that appears nowhere else, so that finding it anywhere is a leak.
SUBJECT = "subject-4b1d6e0f-9c2a-42f5-8f0e"


def lookup(client, user_id: str, format: str = "json"):
    return client.post(LOOKUP, json={"user_id": user_id, "format": format})


def test_a_lookup_returns_each_request_with_its_run_and_jobs_per_dataset_group(api, world):
    response = lookup(api.login("officer"), "alice")

    assert response.status_code == 200
    record = response.json()
    assert record["generated_by"] == "officer" and record["dag_id"] == "personalize_gdpr_erasure"
    assert [request["request_id"] for request in record["requests"]] == world.requests["alice"]
    erased, pending = record["requests"]
    assert (erased["status"], erased["run"]["run_id"], erased["run"]["outcome"]) == (
        "erased",
        world.erased_run.run_id,
        "erased",
    )
    assert erased["days_to_erasure"] == 2.0 and erased["within_deadline"] is True
    groups = {group["dataset_group_arn"]: group for group in erased["dataset_groups"]}
    assert [(job["status"], job["num_deleted_all_ids_of_file"]) for job in groups[SHOP]["jobs"]] == [
        ("COMPLETED", 3)
    ]
    assert [job["erasure_round"] for job in groups[NEWS]["jobs"]] == [0, 1]
    assert (pending["status"], pending["run"]["outcome"], pending["erased_at"]) == ("pending", "failed", None)


def test_the_csv_export_has_one_row_per_request_and_job(api, world):
    response = lookup(api.login("officer"), "alice", "csv")

    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [
        (row["request_id"], row["job_name"], row["job_status"], row["num_deleted_all_ids_of_file"])
        for row in rows
    ] == [
        (world.requests["alice"][0], "erase-shop-a", "COMPLETED", "3"),
        (world.requests["alice"][0], "erase-news-a", "COMPLETED", "2"),
        (world.requests["alice"][0], "erase-news-a-1", "COMPLETED", "2"),
        (world.requests["alice"][1], "erase-shop-b", "FAILED", ""),
        (world.requests["alice"][1], "erase-news-b", "COMPLETED", "1"),
    ]
    assert rows[1]["overlapping_activity"] == "1" and rows[2]["erasure_round"] == "1"


def test_a_user_with_no_request_gets_an_empty_record(api, world):
    record = lookup(api.login("officer"), "nobody-asked").json()
    assert record["request_count"] == 0 and record["requests"] == [] and record["truncated"] is False


def test_a_user_with_more_requests_than_a_lookup_returns_is_told_how_many_there_are(api, store, monkeypatch):
    monkeypatch.setattr(queries_module, "MAX_REQUESTS_PER_LOOKUP", 3)
    now = datetime.now(timezone.utc)
    seeder = WarehouseSeeder(store)
    for days_ago in range(5):
        seeder.request("many-requests", now - timedelta(days=days_ago))
    client = api.login("officer")

    record = lookup(client, "many-requests").json()
    assert (record["request_count"], len(record["requests"]), record["truncated"]) == (5, 3, True)
    rows = list(csv.DictReader(io.StringIO(lookup(client, "many-requests", "csv").text)))
    assert {(row["requests_total"], row["requests_truncated"]) for row in rows} == {("5", "true")}
    assert lookup(client, "alice-not-there").json()["truncated"] is False


def test_an_id_holding_a_nul_finds_no_request(api, world):
    """PostgreSQL's text cannot hold a NUL, so no stored id has one: 0 requests, not a warehouse error."""
    response = lookup(api.login("officer"), "alice\x00")
    assert response.status_code == 200
    assert response.json()["request_count"] == 0


@pytest.mark.parametrize("format", ["json", "csv"])
def test_the_id_is_not_in_the_response_and_the_response_is_not_stored(api, world, format):
    WarehouseSeeder(world_store(world, api)).request(SUBJECT, datetime.now(timezone.utc))
    response = lookup(api.login("officer"), SUBJECT, format)

    assert response.status_code == 200 and "req-" in response.text
    assert SUBJECT not in response.text
    assert response.headers["cache-control"] == "no-store"


def world_store(world, api):
    """The store the API reads (the Variable the ``store`` fixture set)."""
    from airflow.sdk import BaseHook

    from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore

    conn_id = os.environ["AIRFLOW_VAR_PERSONALIZE_ERASURE_WAREHOUSE_CONN_ID"]
    return ErasureRequestStore(BaseHook.get_connection(conn_id).get_hook(hook_params={"log_sql": False}))


def test_a_get_with_the_id_in_the_url_is_refused_with_no_data(api, world):
    response = api.login("officer").get(LOOKUP, params={"user_id": "alice"})
    assert response.status_code == 405
    assert "req-" not in response.text and "alice" not in response.text


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": SUBJECT * 40},  # longer than the column
        {"user_id": SUBJECT, "format": "xml"},
        {"user_id": SUBJECT, "extra": SUBJECT},
        {"user_id": SUBJECT, SUBJECT: SUBJECT},
        {SUBJECT: 1},
        {"user_id": [SUBJECT]},
    ],
    ids=["too-long", "unknown-format", "extra-field", "id-as-extra-key", "id-as-only-key", "not-a-string"],
)
def test_a_refused_body_is_not_echoed(api, sqlite_world, body):
    response = api.login("officer").post(LOOKUP, json=body)
    assert response.status_code == 422
    assert SUBJECT not in response.text and response.json()["detail"][0]["loc"][0] == "body"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"user_id": "' + SUBJECT.encode() + b'\xff"}', "application/json"),
        (f'{{"user_id": "{SUBJECT}\u00e9"}}'.encode("latin-1"), "application/json; charset=latin-1"),
        (f'{{"user_id": "{SUBJECT}"}}'.encode(), "application/vnd.api+json"),
    ],
    ids=["not-utf-8", "latin-1", "json-plus-type"],
)
def test_a_body_that_does_not_parse_is_refused_unstored_and_not_echoed(
    api, sqlite_world, content, content_type
):
    response = api.login("officer").post(LOOKUP, content=content, headers={"content-type": content_type})
    assert 400 <= response.status_code < 500
    assert SUBJECT not in response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_body_that_is_not_json_is_refused_without_being_echoed(api, sqlite_world):
    response = api.login("officer").post(
        LOOKUP, content=f'{{"user_id": "{SUBJECT}"}}', headers={"content-type": "text/plain"}
    )
    assert response.status_code in (415, 422)
    assert SUBJECT not in response.text


def test_a_warehouse_error_during_a_lookup_names_no_value(api, sqlite_world):
    world_store(sqlite_world, api).hook.run("DROP TABLE erasure_requests")
    response = lookup(api.login("officer"), SUBJECT)
    assert response.status_code == 503
    assert "Looking up the requests of a user failed" in response.json()["detail"]
    assert SUBJECT not in response.text


def test_the_id_reaches_no_log_and_no_table_of_airflow(api, sqlite_world, capfd, caplog):
    WarehouseSeeder(world_store(sqlite_world, api)).request(SUBJECT, datetime.now(timezone.utc))
    reader = api.login("officer")
    with caplog.at_level(logging.DEBUG):
        for format in ("json", "csv"):
            assert lookup(reader, SUBJECT, format).status_code == 200
        assert lookup(reader, SUBJECT * 40).status_code == 422

    captured = capfd.readouterr()
    logged = captured.out + captured.err + "\n".join(record.getMessage() for record in caplog.records)
    assert "/personalize-erasure/api/evidence" in logged  # the access log was captured
    assert SUBJECT not in logged
    metadata = Path(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///"))
    for path in metadata.parent.glob(metadata.name + "*"):  # the database, its journal and WAL
        assert SUBJECT.encode() not in path.read_bytes(), path


SETTINGS = WarehouseSettings("warehouse", "erasure_requests", "erasure_audit", 30)
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def request(status: str, requested_days_ago: float, **fields):
    return {
        "request_id": fields.pop("request_id", "req-1"),
        "source": "portal",
        "status": status,
        "requested_at": (NOW - timedelta(days=requested_days_ago)).isoformat(),
        "erased_at": fields.pop("erased_at", None),
        "erasure_record": fields.pop("erasure_record", None),
        "run": None,
        **fields,
    }


def record_of(*requests):
    return evidence_record(
        FoundRequests(list(requests), len(requests)),
        settings=SETTINGS,
        dag_id="dag",
        generated_at=NOW,
        generated_by="officer",
    )


def test_a_pending_request_says_how_long_it_waits_and_whether_within_the_deadline():
    (waiting, late) = record_of(request("pending", 3), request("pending", 31))["requests"]
    assert (waiting["days_pending"], waiting["within_deadline"]) == (3.0, True)
    assert (late["days_pending"], late["within_deadline"]) == (31.0, False)


def test_a_rejected_request_says_why_and_has_no_deadline_verdict():
    (rejected,) = record_of(request("rejected", 2, erasure_record={"rejected": "too_long"}))["requests"]
    assert (rejected["rejected_reason"], rejected["within_deadline"]) == ("too_long", None)


def test_without_a_runs_record_the_jobs_stored_on_the_request_are_the_evidence():
    erased = request(
        "erased",
        5,
        erased_at=(NOW - timedelta(days=1)).isoformat(),
        erasure_record={
            "jobs": [{"dataset_group_arn": SHOP, "job_arn": "arn:job", "num_deleted": 4, "round": 0}]
        },
    )
    (found,) = record_of(erased)["requests"]
    assert found["days_to_erasure"] == 4.0
    assert (found["dataset_groups_total"], found["dataset_groups_truncated"]) == (1, False)
    assert found["dataset_groups"] == [
        {
            "dataset_group_arn": SHOP,
            "status": None,
            "held_person": "unknown",  # a stored record holds no deletion file to tell
            "jobs_total": 1,
            "jobs_truncated": False,
            "jobs": [
                {
                    "job_name": None,
                    "job_arn": "arn:job",
                    "status": None,
                    "created_at": None,
                    "completed_at": None,
                    "num_deleted_all_ids_of_file": 4,
                    "erasure_round": 0,
                    "overlapping_activity": None,
                }
            ],
            "verification": None,
        }
    ]


def test_a_csv_cell_a_spreadsheet_would_run_as_a_formula_is_quoted():
    rows = list(
        csv.DictReader(
            io.StringIO(evidence_csv(record_of(request("pending", 1, request_id="=HYPERLINK(1)"))))
        )
    )
    assert rows[0]["request_id"] == "'=HYPERLINK(1)"
    assert rows[0]["job_arn"] == "" and rows[0]["within_deadline"] == "true"
