"""
The overview's verification figures: per dataset group, the latest run of the verification DAG
(:mod:`.erasure.verification`) that checked it, and what it found, from the table ``erasure_verification``.

A group is ``clean`` when every dataset of its latest verification was verified absent, ``found_again``
with the count of users found (which are pending erasure requests again), ``not_verified`` with the
reasons when any dataset of it could not be checked (never reported clean), and ``never_verified`` when
the latest erasure run erased in it but no verification row names it. Each dataset says when it was
last verified (absent or found again) among the rows read; None when never.

Bounded as the rest of the dashboard: the newest :data:`MAX_VERIFICATION_ROWS` rows are read, at most
:data:`.MAX_GROUPS_PER_RUN` groups and :data:`.MAX_JOBS_PER_GROUP` datasets per group shown, texts read
cut in SQL and capped (``texts_cut``), a value of the wrong type left out. A missing table (no
verification ran yet) is no error: every group is ``never_verified``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_personalize_deletion.dashboard.views import (
    MAX_GROUPS_PER_RUN,
    MAX_JOBS_PER_GROUP,
    MAX_MESSAGE_CHARS,
    MAX_RECORD_BYTES,
    count,
    message,
    name,
    run_view,
    texts_cut,
    timestamp,
)
from airflow_provider_personalize_deletion.erasure.verification import (
    FOUND_AGAIN,
    NOT_VERIFIED,
    VERIFIED_ABSENT,
)
from airflow_provider_personalize_deletion.transfers.sql_cursor import database_errors

if TYPE_CHECKING:
    from airflow_provider_personalize_deletion.dashboard.queries import DashboardQueries

#: Rows of the verification table the overview reads, newest first, at most (a weekly run on 500 groups
#: of two datasets writes 1,000).
MAX_VERIFICATION_ROWS = 5000
#: A group's status: every dataset verified absent; users found again; a dataset not verified; no row.
CLEAN, NEVER_VERIFIED = "clean", "never_verified"


def latest_verifications(queries: DashboardQueries, cursor: Any) -> dict[str, Any]:
    """
    The latest verification of each dataset group, and the groups of the latest erasure run never verified.

    :param queries: the dashboard's reads (tables, dialect).
    :param cursor: the overview's cursor.
    """
    exists = table_exists(queries, queries.verification_table)
    rows = _rows(queries, cursor) if exists else []
    groups: dict[str, dict[str, Any]] = {}
    verified_at: dict[tuple[str, str], str] = {}  # (group, dataset): the latest verified time read
    for row in rows[:MAX_VERIFICATION_ROWS]:
        run_id, recorded_at, group, dataset, outcome, users_found, requests_added, export_job, reason = row
        group, dataset, outcome = name(group) or "", name(dataset) or "", name(outcome)
        when = timestamp(recorded_at)
        if outcome in (VERIFIED_ABSENT, FOUND_AGAIN) and when is not None:
            verified_at.setdefault((group, dataset), when)
        latest = groups.setdefault(group, {"run_id": name(run_id), "verified_at": when, "rows": []})
        if latest["run_id"] == name(run_id):
            latest["rows"].append(
                {
                    "dataset_arn": dataset,
                    "outcome": outcome,
                    "users_found": count(users_found),
                    "requests_added": count(requests_added),
                    "export_job_arn": name(export_job),
                    "reason": message(reason) or None,
                }
            )
    views = [_group_view(group, latest, verified_at) for group, latest in groups.items()]
    views += [_never_verified(group) for group in _erased_groups(queries, cursor) if group not in groups]
    answer = {
        "table": queries.verification_table,
        "table_exists": exists,
        "rows_read": min(len(rows), MAX_VERIFICATION_ROWS),
        "rows_truncated": len(rows) > MAX_VERIFICATION_ROWS,
        "dataset_groups_total": len(views),
        "dataset_groups_truncated": len(views) > MAX_GROUPS_PER_RUN,
        "dataset_groups": views[:MAX_GROUPS_PER_RUN],
    }
    return {**answer, "texts_cut": texts_cut(answer)}


def _rows(queries: DashboardQueries, cursor: Any) -> list[tuple[Any, ...]]:
    """The newest rows, one more than read, texts cut in SQL one character past their cap."""
    reason = f"substr(reason, 1, {MAX_MESSAGE_CHARS + 1})"
    columns = queries._columns("run_id", "recorded_at", "dataset_group_arn", "dataset_arn", "outcome")
    cursor.execute(
        f"SELECT {columns}, users_found, requests_added, {queries._columns('export_job_arn')}, {reason} "
        f"FROM {queries.verification_table} ORDER BY recorded_at DESC, run_id DESC "
        f"LIMIT {MAX_VERIFICATION_ROWS + 1}"
    )
    return list(cursor.fetchall())


def _group_view(
    group: str, latest: Mapping[str, Any], verified_at: Mapping[tuple[str, str], str]
) -> dict[str, Any]:
    """A group's latest verification: its status, the users found, the reasons, and its datasets."""
    datasets = [
        {**row, "last_verified_at": verified_at.get((group, row["dataset_arn"]))} for row in latest["rows"]
    ]
    outcomes = {row["outcome"] for row in datasets}
    if NOT_VERIFIED in outcomes or not outcomes <= {VERIFIED_ABSENT, FOUND_AGAIN}:
        status = NOT_VERIFIED
    else:
        status = FOUND_AGAIN if FOUND_AGAIN in outcomes else CLEAN
    reasons = list(dict.fromkeys(row["reason"] for row in datasets if row["outcome"] != VERIFIED_ABSENT))
    return {
        "dataset_group_arn": group,
        "status": status,
        "run_id": latest["run_id"],
        "verified_at": latest["verified_at"],
        "users_found": sum(row["users_found"] or 0 for row in datasets),
        "requests_added": sum(row["requests_added"] or 0 for row in datasets),
        "reasons": [reason for reason in reasons if reason][:MAX_JOBS_PER_GROUP],
        "datasets_total": len(datasets),
        "datasets_truncated": len(datasets) > MAX_JOBS_PER_GROUP,
        "datasets": datasets[:MAX_JOBS_PER_GROUP],
    }


def _never_verified(group: str) -> dict[str, Any]:
    return {
        "dataset_group_arn": group,
        "status": NEVER_VERIFIED,
        "run_id": None,
        "verified_at": None,
        "users_found": 0,
        "requests_added": 0,
        "reasons": [],
        "datasets_total": 0,
        "datasets_truncated": False,
        "datasets": [],
    }


def _erased_groups(queries: DashboardQueries, cursor: Any) -> list[str]:
    """The dataset groups of the latest erasure run's record (not read when too large: none)."""
    cursor.execute(
        f"SELECT {queries._record_columns(MAX_RECORD_BYTES)} FROM {queries.audit_table} "
        "ORDER BY recorded_at DESC, run_id DESC LIMIT 1"
    )
    row = cursor.fetchone()
    if row is None or row[1] is None:
        return []
    view = run_view("", None, "", row[1])
    return [group["dataset_group_arn"] for group in view["dataset_groups"] if group["dataset_group_arn"]]


@database_errors("Looking up the verification table")
def table_exists(queries: DashboardQueries, table: str) -> bool:
    from sqlalchemy import inspect

    schema, _, table_name = table.lower().rpartition(".")
    return bool(inspect(queries.hook.get_sqlalchemy_engine()).has_table(table_name, schema=schema or None))
