"""
Per-person evidence that says what it proves: the subject as typed (only when asked for), per request
and dataset group the jobs' own times, the deletion file (count, keyed fingerprint, deleted), whether
the group held the person, whether they were verified absent since and by which export, and where the
run's record sits in the evidence ledger.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_personalize_deletion.erasure import outcome as outcomes
from airflow_provider_personalize_deletion.erasure.store import ERASED, sql_timestamp
from airflow_provider_personalize_deletion.erasure.verification import (
    VERIFICATION_TABLE,
    verification_table_ddl,
)
from airflow_provider_personalize_deletion.ledger.warehouse import WarehouseTables, index_ddl
from tests.dashboard.conftest import PREFIX
from tests.dashboard.seed import NEWS, SHOP, Run, WarehouseSeeder, job

LOOKUP = f"{PREFIX}/api/evidence"
FINGERPRINT = "f" * 64


def erasing_run(seeder: WarehouseSeeder, run_id: str, at: datetime, shop: int, news: int, ids: int) -> Run:
    """A run that erased a file of ``ids`` ids, whose shop and news jobs deleted ``shop``/``news`` records."""
    run = Run(
        run_id,
        at,
        outcomes.ERASED,
        jobs=[
            job(SHOP, f"{run_id}-shop", "COMPLETED", shop, at - timedelta(hours=2), overlapping=[]),
            job(NEWS, f"{run_id}-news", "COMPLETED", news, at - timedelta(hours=2), overlapping=[]),
        ],
    )
    record = run.record(ids)
    record["export"].update(fingerprint=FINGERPRINT, written_at=(at - timedelta(hours=3)).isoformat())
    seeder.store.write_audit(run.run_id, run.recorded_at, run.outcome, record)
    return run


def lookup(client, user_id: str, **body):
    response = client.post(LOOKUP, json={"user_id": user_id, **body})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def seeder(sqlite_store):
    return WarehouseSeeder(sqlite_store)


def test_a_user_held_by_one_group_is_told_apart_from_one_held_by_neither(api, seeder):
    # The case: held only by the shop group, the news group's job used to show the same.
    at = datetime.now(timezone.utc) - timedelta(days=2)
    only_shop = erasing_run(seeder, "erasure-only-shop", at, shop=4, news=0, ids=1)
    neither = erasing_run(seeder, "erasure-neither", at, shop=0, news=0, ids=1)
    seeder.request("customer-0007", at - timedelta(days=1), ERASED, run=only_shop)
    seeder.request("customer-0008", at - timedelta(days=1), ERASED, run=neither)
    client = api.login("officer")

    (held,) = lookup(client, "customer-0007")["requests"]
    (not_held,) = lookup(client, "customer-0008")["requests"]

    assert [(group["dataset_group_arn"], group["held_person"]) for group in held["dataset_groups"]] == [
        (SHOP, "yes")
    ]
    assert held["dataset_groups_not_holding"] == [NEWS]
    assert not_held["dataset_groups"] == [] and sorted(not_held["dataset_groups_not_holding"]) == sorted(
        [SHOP, NEWS]
    )


def test_a_file_of_several_ids_leaves_a_group_that_deleted_records_unknown(api, seeder):
    at = datetime.now(timezone.utc) - timedelta(days=2)
    run = erasing_run(seeder, "erasure-several", at, shop=9, news=0, ids=3)
    seeder.request("customer-0009", at - timedelta(days=1), ERASED, run=run)

    (request,) = lookup(api.login("officer"), "customer-0009")["requests"]

    (shop,) = request["dataset_groups"]
    assert shop["held_person"] == "unknown" and request["dataset_groups_not_holding"] == [NEWS]
    assert shop["jobs"][0]["num_deleted_all_ids_of_file"] == 9 and "num_deleted" not in shop["jobs"][0]


def test_the_evidence_gives_the_jobs_own_times_and_the_deletion_file(api, seeder):
    at = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=2)
    run = erasing_run(seeder, "erasure-times", at, shop=1, news=1, ids=1)
    seeder.request("customer-0010", at - timedelta(days=1), ERASED, run=run)

    (request,) = lookup(api.login("officer"), "customer-0010")["requests"]

    created = at - timedelta(hours=2)
    for group in request["dataset_groups"]:
        (only,) = group["jobs"]
        assert only["created_at"] == created.isoformat()
        assert only["completed_at"] == (created + timedelta(minutes=20)).isoformat()
    deletion_file = request["run"]["deletion_file"]
    assert deletion_file["id_count"] == 1 and deletion_file["fingerprint"] == FINGERPRINT
    assert deletion_file["deleted"] is None  # the record holds no check of S3: unknown, never "deleted"


def test_the_file_is_said_deleted_from_the_record_steps_own_listing_of_s3():
    from airflow_provider_personalize_deletion.dashboard.views import deletion_file_view

    export = {"id_count": 1, "file_count": 1, "fingerprint": FINGERPRINT}
    at = "2026-12-01T10:00:00+00:00"
    gone = deletion_file_view(export, {"files_left": 0, "cleanup_files": True, "checked_at": at})
    assert gone["deleted"] is True and gone["kept_because"] is None and gone["checked_at"] == at
    left = deletion_file_view(export, {"files_left": 2, "cleanup_files": True})
    assert left["deleted"] is False and left["kept_because"].startswith("2 deletion file(s)")
    off = deletion_file_view(export, {"files_left": 1, "cleanup_files": False})
    assert off["deleted"] is False and off["kept_because"] == "cleanup_files is off"
    failed = deletion_file_view(export, {"files_left": None, "check_failed": "AccessDenied"})
    assert failed["deleted"] is None
    for malformed in (None, "not a mapping", {"files_left": -1}, {"files_left": True}):
        assert deletion_file_view(export, malformed)["deleted"] is None


def _verification_rows(store, rows):
    store.hook.run(verification_table_ddl(VERIFICATION_TABLE))
    p = store.hook.placeholder
    for row in rows:
        store.hook.run(
            f"INSERT INTO {VERIFICATION_TABLE} (run_id, recorded_at, dataset_group_arn, dataset_arn, "
            f"outcome, users_found, requests_added, export_job_arn, reason) VALUES ({', '.join([p] * 9)})",
            parameters=row,
        )


def test_the_person_is_verified_absent_by_the_first_verification_after_the_erasure(api, seeder):
    at = datetime.now(timezone.utc) - timedelta(days=3)
    run = erasing_run(seeder, "erasure-verified", at, shop=1, news=1, ids=1)
    seeder.request("customer-0011", at - timedelta(days=1), ERASED, run=run)
    before, after = sql_timestamp(at - timedelta(days=1)), sql_timestamp(at + timedelta(days=1))
    later = sql_timestamp(at + timedelta(days=2))
    _verification_rows(
        seeder.store,
        [
            ("verify-before", before, SHOP, f"{SHOP}/interactions", "found_again", 1, 1, "export-old", ""),
            ("verify-after", after, SHOP, f"{SHOP}/interactions", "verified_absent", 0, 0, "export-shop", ""),
            (
                "verify-after",
                after,
                NEWS,
                f"{NEWS}/interactions",
                "not_verified",
                0,
                0,
                "",
                "deletion running",
            ),
            ("verify-later", later, NEWS, f"{NEWS}/interactions", "verified_absent", 0, 0, "export-news", ""),
        ],
    )

    (request,) = lookup(api.login("officer"), "customer-0011")["requests"]

    checks = {group["dataset_group_arn"]: group["verification"] for group in request["dataset_groups"]}
    assert (checks[SHOP]["status"], checks[SHOP]["export_job_arns"]) == ("verified_absent", ["export-shop"])
    assert (checks[NEWS]["status"], checks[NEWS]["run_id"]) == ("not_verified", "verify-after")


def test_the_evidence_names_the_runs_place_in_the_ledger(api, seeder):
    at = datetime.now(timezone.utc) - timedelta(days=2)
    run = erasing_run(seeder, "erasure-ledgered", at, shop=1, news=1, ids=1)
    seeder.request("customer-0012", at - timedelta(days=1), ERASED, run=run)
    tables = WarehouseTables()
    seeder.store.hook.run(index_ddl(tables))
    seeder.store.hook.run(
        f"INSERT INTO {tables.index} (kind, run_id, recorded_at, claim, ledger_sequence, record_sha256, "
        "record_key) VALUES ('erasure_run', 'erasure-ledgered', '2026-01-01 00:00:00', NULL, 7, "
        f"'{'a' * 64}', 'erasure-ledger/000000000007.json')"
    )

    (request,) = lookup(api.login("officer"), "customer-0012")["requests"]

    assert request["run"]["ledger"] == {"sequence": 7, "record_sha256": "a" * 64}


def test_the_subject_is_named_only_when_the_officer_asks_for_it_in_the_export(api, seeder):
    at = datetime.now(timezone.utc) - timedelta(days=2)
    run = erasing_run(seeder, "erasure-named", at, shop=1, news=0, ids=1)
    seeder.request("=customer-0013", at - timedelta(days=1), ERASED, run=run)
    client = api.login("officer")

    plain = client.post(LOOKUP, json={"user_id": "=customer-0013"})
    bundle = client.post(LOOKUP, json={"user_id": "=customer-0013", "format": "bundle", "name_subject": True})

    assert "customer-0013" not in plain.text
    answer = bundle.json()
    assert answer["record"]["subject"] == {"user_id": "=customer-0013", "as_typed": True}
    (row,) = csv.DictReader(io.StringIO(answer["csv"]))
    assert row["subject_user_id"] == "'=customer-0013"  # as typed, no formula: a quote before the "="
    assert answer["record"]["requests"][0]["dataset_groups"][0]["held_person"] == "yes"
