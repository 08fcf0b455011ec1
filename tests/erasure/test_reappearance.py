"""Suppressed users found again become pending requests, once each, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone

import pytest

from airflow_provider_personalize_deletion.erasure.columns import MissingColumnError
from airflow_provider_personalize_deletion.erasure.reappearance import (
    Reappearance,
    add_batch,
    add_reappeared_requests,
)
from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore
from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from tests.erasure.test_suppression import erase
from tests.plugins.warehouse import warehouse_store

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=timezone.utc)
ARN = "arn:aws:personalize:us-east-1:123456789012"
FOUND = Reappearance(
    f"{ARN}:dataset-group/shop", f"{ARN}:dataset/shop/INTERACTIONS", f"{ARN}:dataset-export-job/verify-1"
)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path, monkeypatch) -> ErasureRequestStore:
    store = warehouse_store(request.param, request, tmp_path, monkeypatch, sqlite_conn_id="store_warehouse")
    store.create_tables()
    return store


def reappeared(store: ErasureRequestStore) -> list[tuple]:
    return sorted(
        store.hook.get_records(
            "SELECT user_id, status, details FROM erasure_requests WHERE source = 'reappeared'"
        )
    )


def test_each_user_found_again_gets_a_pending_request_that_says_where(store):
    store.add_requests(["u1", "u2"], "portal", NOW)
    erase(store, "run-1", ["u1", "u2"])
    counts = add_reappeared_requests(store, (user for user in ["u1", "u2", "u1"]), FOUND, NOW)
    assert counts == {"read": 3, "added": 2}
    rows = reappeared(store)
    assert [(user, status) for user, status, _ in rows] == [("u1", "pending"), ("u2", "pending")]
    assert json.loads(rows[0][2]) == {
        "reappeared": {
            "dataset_group_arn": FOUND.dataset_group_arn,
            "dataset_arn": FOUND.dataset_arn,
            "export_job_arn": FOUND.export_job_arn,
            "found_at": NOW.isoformat(),
        }
    }


def test_a_user_with_a_pending_request_gets_no_second_one(store):
    store.add_requests(["u1"], "portal", NOW)
    assert add_reappeared_requests(store, ["u1", "u2"], FOUND, NOW, batch_size=1) == {"read": 2, "added": 1}
    assert add_reappeared_requests(store, ["u1", "u2"], FOUND, NOW) == {"read": 2, "added": 0}
    assert [row[0] for row in reappeared(store)] == ["u2"]


def test_a_second_intake_waits_for_the_first_on_postgresql_and_adds_nothing(request, tmp_path, monkeypatch):
    """Without the lock the second intake would not see the first one's uncommitted requests."""
    store = warehouse_store("postgres", request, tmp_path, monkeypatch)
    store.create_tables()
    first = store.hook.get_conn()
    add_batch(first, store, ["u1", "u2"], "{}", "2026-12-05 08:00:00")  # not committed yet
    result: dict = {}
    second = threading.Thread(
        target=lambda: result.update(add_reappeared_requests(store, ["u1", "u2"], FOUND, NOW))
    )
    second.start()
    second.join(timeout=1.0)
    assert second.is_alive()  # waiting for the first intake's transaction
    first.commit()
    first.close()
    second.join(timeout=10)
    assert result == {"read": 2, "added": 0}
    assert [row[0] for row in reappeared(store)] == ["u1", "u2"]


def test_a_wrong_arn_is_refused_naming_the_field():
    with pytest.raises(PersonalizeValidationError, match="'dataset_arn'"):
        Reappearance(FOUND.dataset_group_arn, "not-an-arn", FOUND.export_job_arn)


def test_a_requests_table_without_the_details_column_is_refused_with_the_statement_that_adds_it(store):
    store.hook.run("DROP TABLE erasure_requests")
    store.hook.run(
        "CREATE TABLE erasure_requests (request_id VARCHAR(64) PRIMARY KEY, user_id VARCHAR(1024), "
        "requested_at TIMESTAMP NOT NULL, source VARCHAR(64) NOT NULL, status VARCHAR(16) NOT NULL, "
        "batch_key VARCHAR(32), erased_at TIMESTAMP, erasure_record TEXT)"
    )
    with pytest.raises(MissingColumnError, match="ALTER TABLE erasure_requests ADD COLUMN details TEXT"):
        add_reappeared_requests(store, ["u1"], FOUND, NOW)
    store.hook.run("ALTER TABLE erasure_requests ADD COLUMN details TEXT")
    assert add_reappeared_requests(store, ["u1"], FOUND, NOW) == {"read": 1, "added": 1}


@pytest.mark.parametrize("batch_size", [0, -1])
def test_a_batch_size_below_one_is_refused_not_a_silent_intake_of_nothing(store, batch_size):
    with pytest.raises(ValueError, match="'batch_size': must be at least 1"):
        add_reappeared_requests(store, ["u1"], FOUND, NOW, batch_size=batch_size)
    assert reappeared(store) == []
