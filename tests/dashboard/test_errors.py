"""
The dashboard's error paths: every response, errors included, is not stored; a forged page cursor is a
400; a malformed row of the warehouse is left out of what it shows, never a failed page.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from airflow_provider_personalize_deletion.erasure.store import sql_timestamp
from tests.dashboard.conftest import PREFIX
from tests.dashboard.seed import WarehouseSeeder


def reader(api) -> TestClient:
    """The officer's client (may read and look up), answering an unhandled error with a 500."""
    client = api.login("officer")
    return TestClient(client.app, cookies=dict(client.cookies), raise_server_exceptions=False)


def cursor(*items) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(items)).encode()).decode()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/run?run_id=never-recorded", None),
        ("POST", "/api/evidence", b'{"user_id": "alice"}'),  # a body without its content type: 415
        ("GET", "/static/missing.js", None),
    ],
    ids=["unknown-run", "lookup-without-json-type", "unknown-static-file"],
)
def test_an_error_response_is_not_stored_and_has_the_pages_headers(api, sqlite_world, method, path, body):
    response = api.login("reader").request(method, PREFIX + path, content=body)
    assert 400 <= response.status_code < 500
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in response.headers["content-security-policy"]


@pytest.mark.parametrize(
    "token",
    [
        cursor("0001-01-01T00:00:00+14:00", "x"),
        cursor("9999-12-31T23:59:59-14:00", "x"),
        cursor("2024-01-01", 5),
    ],
    ids=["before-year-1-in-utc", "after-year-9999-in-utc", "run-id-not-text"],
)
def test_a_forged_runs_cursor_is_a_400(api, sqlite_world, token):
    response = reader(api).get(f"{PREFIX}/api/runs", params={"before": token})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Invalid page")


@pytest.mark.parametrize(
    "record", ['"a text"', "[1, 2]", '{"jobs": "x"}', '{"jobs": [1]}', '{"rejected": {"a": 1}}']
)
def test_a_request_with_a_malformed_erasure_record_is_shown_without_its_jobs(api, store, record):
    now = datetime.now(timezone.utc)
    WarehouseSeeder(store).rows(
        [("req-odd", "odd-user", sql_timestamp(now - timedelta(days=1)), "portal", "erased", None,
          sql_timestamp(now), record)]
    )  # fmt: skip
    response = reader(api).post(f"{PREFIX}/api/evidence", json={"user_id": "odd-user"})
    assert response.status_code == 200
    (request,) = response.json()["requests"]
    assert request["request_id"] == "req-odd" and request["dataset_groups"] == []


@pytest.mark.parametrize(
    "record",
    [
        '{"dataset_groups": [{"jobs": ["x"]}, "y"], "requests": {"erased": "z"}}',
        '{"follow_up_jobs": "two", "problems": "text"}',
        '{"requests": [1], "earlier_records": {"a": 1}}',
        "[]",
        '{"export": "abc"}',
        '{"export": {"claim": "0123456789abcdef0123456789abcdef"}, "earlier_records": ["x", 1]}',
    ],
)
def test_a_malformed_audit_record_is_shown_in_part_and_breaks_no_page(api, store, record):
    now = datetime.now(timezone.utc)
    connection = store.hook.get_conn()
    p = store.hook.placeholder
    connection.cursor().execute(
        f"INSERT INTO {store.audit_table} (run_id, recorded_at, outcome, record) VALUES ({p}, {p}, {p}, {p})",
        ("odd-run", sql_timestamp(now), "failed", record),
    )
    connection.commit()
    connection.close()
    WarehouseSeeder(store).rows(
        [
            (
                "req-x",
                "x-user",
                sql_timestamp(now - timedelta(days=1)),
                "portal",
                "pending",
                "0" * 32,
                None,
                None,
            )
        ]
    )
    client = reader(api)

    runs = client.get(f"{PREFIX}/api/runs")
    assert runs.status_code == 200
    (run,) = runs.json()["runs"]
    assert (run["run_id"], run["outcome"], run["requests"]) == ("odd-run", "failed", {})
    assert all(group["jobs"] == [] for group in run["dataset_groups"])
    assert client.get(f"{PREFIX}/api/run", params={"run_id": "odd-run"}).status_code == 200
    lookup = client.post(f"{PREFIX}/api/evidence", json={"user_id": "x-user"})
    assert lookup.status_code == 200 and lookup.json()["requests"][0]["run"] is None
