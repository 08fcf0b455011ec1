"""
The evidence record of one person's erasure, for a regulator or the person: which requests, when they
were made and erased, by which run, and every deletion job per dataset group with its status and
``numDeleted``. As JSON and as CSV, one row per job.

The record never holds the user id it was looked up by: requests are named by ``request_id``.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_personalize_deletion.erasure.settings import WarehouseSettings
from airflow_provider_personalize_deletion.erasure.store import ERASED, PENDING, REJECTED

if TYPE_CHECKING:
    from airflow_provider_personalize_deletion.dashboard.queries import FoundRequests

#: The version of the record's layout.
EVIDENCE_VERSION = 1
#: The CSV's columns: one row per request and job (a request without a job has one row, job fields empty).
CSV_COLUMNS = (
    "request_id",
    "source",
    "status",
    "requested_at",
    "erased_at",
    "days_to_erasure",
    "within_deadline",
    "rejected_reason",
    "run_id",
    "run_outcome",
    "run_recorded_at",
    "dataset_group_arn",
    "dataset_group_status",
    "job_name",
    "job_arn",
    "job_status",
    "num_deleted",
    "erasure_round",
    "overlapping_activity",
    "requests_total",
    "requests_truncated",
)
#: A text cell's part that could start a spreadsheet cell, read with "," or ";" as the separator
#: (a quoted value's closing quote is no separator for ";", so the field can run on into a later
#: value): the value's start, or what follows a ",", ";" or line break in it. It is neutralised when
#: it starts, after any whitespace and quotes, with what spreadsheets run as a formula ("=", "+",
#: "-", "@", their fullwidth forms, a tab or a CR).
_FORMULA_START = re.compile(r'(^|[,;\r\n])(?=[\s"]*[=+\-@\uff1d\uff0b\uff0d\uff20\t\r])')


def evidence_record(
    found: FoundRequests,
    *,
    settings: WarehouseSettings,
    dag_id: str,
    generated_at: datetime,
    generated_by: str,
) -> dict[str, Any]:
    """
    The evidence record of the requests a lookup found.

    :param found: what :meth:`.DashboardQueries.requests_of` returned; when the user has more requests
        than it returned, the record says so (``truncated``, ``request_count`` the total).
    :param settings: where the requests and the audit trail were read.
    :param dag_id: the DAG whose runs erase the requests.
    :param generated_at: when the record was made (aware).
    :param generated_by: the Airflow user who made it.
    """
    return {
        "evidence_version": EVIDENCE_VERSION,
        "subject": "the user id entered in the lookup; it is not repeated in this record",
        "generated_at": generated_at.isoformat(),
        "generated_by": generated_by,
        "dag_id": dag_id,
        "warehouse": {
            "connection_id": settings.warehouse_conn_id,
            "requests_table": settings.requests_table,
            "audit_table": settings.audit_table,
        },
        "deadline_days": settings.overdue_days,
        "request_count": found.total,
        "truncated": found.truncated,
        "requests": [_request(request, settings.overdue_days, generated_at) for request in found.requests],
    }


def _request(request: Mapping[str, Any], deadline_days: int, now: datetime) -> dict[str, Any]:
    requested_at = datetime.fromisoformat(request["requested_at"])
    erased_at = datetime.fromisoformat(request["erased_at"]) if request["erased_at"] else None
    end = erased_at if request["status"] == ERASED and erased_at else now
    days = (end - requested_at).total_seconds() / 86400
    record = request.get("erasure_record")
    record = record if isinstance(record, Mapping) else {}  # a malformed one shows no jobs
    run = request.get("run")
    return {
        "request_id": request["request_id"],
        "source": request["source"],
        "status": request["status"],
        "requested_at": request["requested_at"],
        "erased_at": request["erased_at"],
        "days_to_erasure": round(days, 2) if request["status"] == ERASED else None,
        "days_pending": round(days, 2) if request["status"] == PENDING else None,
        "within_deadline": days <= deadline_days if request["status"] in (ERASED, PENDING) else None,
        "rejected_reason": _reason(record.get("rejected")) if request["status"] == REJECTED else None,
        "run": _run(run) if run else None,
        "dataset_groups": _groups(run, record),
    }


def _groups(run: Mapping[str, Any] | None, erasure_record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The run's jobs per dataset group; without a run's record, the jobs stored on the request."""
    if run:
        return [
            {
                "dataset_group_arn": group["dataset_group_arn"],
                "status": group["status"],
                "jobs": [
                    {
                        "job_name": job["job_name"],
                        "job_arn": job["job_arn"],
                        "status": job["status"],
                        "num_deleted": job["num_deleted"],
                        "erasure_round": job["round"],
                        "overlapping_activity": job["overlapping_activity"],
                    }
                    for job in group["jobs"]
                ],
            }
            for group in run["dataset_groups"]
        ]
    groups: dict[str, list[dict[str, Any]]] = {}
    jobs = erasure_record.get("jobs")
    for job in jobs if isinstance(jobs, list) else []:
        if not isinstance(job, Mapping):
            continue  # a malformed entry: not a job
        groups.setdefault(str(job.get("dataset_group_arn")), []).append(
            {
                "job_name": None,
                "job_arn": job.get("job_arn"),
                "status": None,
                "num_deleted": job.get("num_deleted"),
                "erasure_round": job.get("round", 0),
                "overlapping_activity": None,
            }
        )
    return [{"dataset_group_arn": arn, "status": None, "jobs": found} for arn, found in groups.items()]


def _run(run: Mapping[str, Any]) -> dict[str, Any]:
    """The run (the try of it) that erased or claimed a request; ``latest_try`` False for an earlier try."""
    return {
        **{key: run[key] for key in ("run_id", "recorded_at", "outcome")},
        "latest_try": run.get("latest_try", True),
    }


def _reason(value: Any) -> str | None:
    return None if value is None else str(value)


def evidence_csv(record: Mapping[str, Any]) -> str:
    """
    The record as CSV (:data:`CSV_COLUMNS`), one row per request and job. Every cell but a number is
    quoted, and a ``'`` is put before each part of a text cell a spreadsheet could run as a formula
    (see :data:`_FORMULA_START`), so that no cell starts a formula, read with ``,`` or ``;`` as the
    separator.

    :param record: what :func:`evidence_record` returned.
    """
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writeheader()
    for request in record["requests"]:
        run = request["run"] or {}
        base = {
            **{key: request[key] for key in CSV_COLUMNS if key in request},
            "run_id": run.get("run_id"),
            "run_outcome": run.get("outcome"),
            "run_recorded_at": run.get("recorded_at"),
            "requests_total": record["request_count"],
            "requests_truncated": record["truncated"],
        }
        jobs = [(group, job) for group in request["dataset_groups"] for job in group["jobs"]]
        for group, job in jobs or [({}, {})]:
            overlapping = job.get("overlapping_activity")
            writer.writerow(
                _cells(
                    {
                        **base,
                        "dataset_group_arn": group.get("dataset_group_arn"),
                        "dataset_group_status": group.get("status"),
                        "job_name": job.get("job_name"),
                        "job_arn": job.get("job_arn"),
                        "job_status": job.get("status"),
                        "num_deleted": job.get("num_deleted"),
                        "erasure_round": job.get("erasure_round"),
                        "overlapping_activity": len(overlapping) if isinstance(overlapping, list) else None,
                    }
                )
            )
    return out.getvalue()


def _cells(row: Mapping[str, Any]) -> dict[str, str | int | float]:
    """
    The row's cells: a number at least 0 as it is (written unquoted); anything else as text, with a
    ``'`` before each part a spreadsheet could run as a formula (a negative number too: read with
    ``;``, the first column's cell runs on into the next ones, and would not be a plain number).
    """
    cells: dict[str, str | int | float] = {}
    for key, value in row.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < math.inf:
            cells[key] = value
        else:
            text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
            cells[key] = _FORMULA_START.sub(r"\1'", text)
    return cells
