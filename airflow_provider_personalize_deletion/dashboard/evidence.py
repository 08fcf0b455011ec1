"""
The evidence record of one person's erasure, for a regulator or the person: which requests, when they
were made and erased, by which run, and every deletion job per dataset group with its status and
``numDeleted``. As JSON and as CSV, one row per job.

The record never holds the user id it was looked up by: requests are named by ``request_id``.

A person erased and found again later by the verification DAG is not shown as erased: ``status_now`` is
``found_again`` (pending re-erasure) while their ``reappeared`` request is pending, and ``erased`` again
once the next run erased it; the history keeps both erasures. A reappeared request says where and when
they were found (``reappeared``: dataset group, dataset, export job, ``found_at``), and an erased request
of theirs which request found them again later (``found_again_by``, among the requests returned).

The record is bounded whatever the tables hold, and says what it leaves out: each text at most
:data:`.MAX_NAME_CHARS` or :data:`.MAX_MESSAGE_CHARS` characters (``texts_cut``); each request at most
its run's first :data:`.MAX_GROUPS_PER_RUN` dataset groups and :data:`.MAX_JOBS_PER_GROUP` jobs per
group; the requests at most :data:`.MAX_ANSWER_BYTES` and :data:`MAX_EVIDENCE_JOBS` jobs of dataset
groups in all, the later requests' groups left out past that (``dataset_groups_truncated``). The
bytes count every field of each request, and each once per CSV row it fills, so the CSV is bounded too.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_personalize_deletion.dashboard.queries import (
    MAX_ANSWER_BYTES,
    MAX_DETAILS_BYTES,
    MAX_RECORD_BYTES_PER_ANSWER,
    MAX_REQUESTS_COUNTED,
    MAX_REQUESTS_PER_LOOKUP,
    MAX_RUNS_SEARCHED,
)
from airflow_provider_personalize_deletion.dashboard.views import (
    MAX_GROUPS_PER_RUN,
    MAX_JOBS_PER_GROUP,
    MAX_MESSAGE_CHARS,
    MAX_NAME_CHARS,
    MAX_RECORD_BYTES,
    as_int,
    count,
    message,
    name,
    texts_cut,
    valid_moment,
)
from airflow_provider_personalize_deletion.erasure.reappearance import REAPPEARED
from airflow_provider_personalize_deletion.erasure.settings import WarehouseSettings
from airflow_provider_personalize_deletion.erasure.store import ERASED, PENDING, REJECTED

if TYPE_CHECKING:
    from airflow_provider_personalize_deletion.dashboard.queries import FoundRequests

#: The version of the record's layout (2: its bounds, and what it leaves out, said; 3: texts capped; 4:
#: the person's status now, and where a reappeared person was found again; 5: the run's find and forget).
EVIDENCE_VERSION = 5
#: The person's status now (``status_now``): found again by a verification, their request pending (the
#: next erasure run erases them again); a request pending; every request erased (or rejected); no request.
FOUND_AGAIN, NO_REQUEST, UNKNOWN = "found_again", "no_request", "unknown"
#: Jobs the dataset groups of one record show, at most (one CSV row each).
MAX_EVIDENCE_JOBS = 2000
#: The bounds of one record, as it states them (``limits``).
LIMITS = {
    "requests": MAX_REQUESTS_PER_LOOKUP,
    "audit_records_read": MAX_RUNS_SEARCHED,
    "record_bytes": MAX_RECORD_BYTES,
    "record_bytes_read": MAX_RECORD_BYTES_PER_ANSWER,
    "details_bytes": MAX_DETAILS_BYTES,
    "requests_counted": MAX_REQUESTS_COUNTED,
    "dataset_groups_per_run": MAX_GROUPS_PER_RUN,
    "jobs_per_dataset_group": MAX_JOBS_PER_GROUP,
    "dataset_groups_bytes": MAX_ANSWER_BYTES,
    "jobs": MAX_EVIDENCE_JOBS,
    "name_chars": MAX_NAME_CHARS,
    "message_chars": MAX_MESSAGE_CHARS,
}
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
    "status_now",
    "reappeared_dataset_group_arn",
    "reappeared_dataset_arn",
    "reappeared_export_job_arn",
    "reappeared_found_at",
    "reappeared_unread",
    "found_again_by",
    "run_id",
    "run_outcome",
    "run_recorded_at",
    "run_search",
    "run_find_and_forget",
    "dataset_groups_total",
    "dataset_groups_truncated",
    "dataset_group_arn",
    "dataset_group_status",
    "dataset_group_jobs_total",
    "dataset_group_jobs_truncated",
    "job_name",
    "job_arn",
    "job_status",
    "num_deleted",
    "erasure_round",
    "overlapping_activity",
    "requests_total",
    "requests_truncated",
    "texts_cut",
)
#: What spreadsheets run as a formula at a cell's start: "=", "+", "-", "@", their fullwidth forms, a tab
#: or a CR.
_FORMULA = "=+\\-@\uff1d\uff0b\uff0d\uff20\t\r"
#: What a spreadsheet may skip before it: whitespace, quotes, zero-width characters and the BOM.
_SKIPPED = '\\s"\u200b-\u200d\u2060\ufeff'
#: A text cell's part that could start a spreadsheet cell, read with ",", ";", tab or "|" as the
#: separator (a quoted value's closing quote is no separator for the others, so the field can run on
#: into a later value): the value's start, or what follows a separator or line break in it. It is
#: neutralised when it starts, after what may be skipped, with a formula's start.
_FORMULA_START = re.compile(f"(^|[,;\t|\r\n])(?=[{_SKIPPED}]*[{_FORMULA}])")


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
        Each request says how the search for its run ended (``run_search``: ``found``, ``not_found``,
        ``incomplete`` when the lookup's budget of audit records ran out first, None without a claim).
    :param settings: where the requests and the audit trail were read.
    :param dag_id: the DAG whose runs erase the requests.
    :param generated_at: when the record was made (aware).
    :param generated_by: the Airflow user who made it.
    """
    requests = [_request(request, settings.overdue_days, generated_at) for request in found.requests]
    _link_found_again(requests)
    shown = _ShownGroups(bytes=sum(_bytes(request) for request in requests))  # each shown, one row each
    for request, request_found in zip(requests, found.requests, strict=True):
        record = request_found.get("erasure_record")
        groups = shown.of(
            request_found.get("run"),
            record if isinstance(record, Mapping) else {},  # a malformed one shows no jobs
            unread=bool(request_found.get("erasure_record_unread")),
            row_bytes=_bytes(request),
        )
        request.update(
            dataset_groups_total=groups.total,
            dataset_groups_truncated=groups.truncated,
            dataset_groups=groups.groups,
        )
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
        "status_now": status_now(found.status_counts),
        "details_column": found.details_column,
        "request_count": found.total,
        "truncated": found.truncated,
        "audit_records_read": found.audit_records_read,
        "dataset_groups_left_out": shown.left_out,
        "texts_cut": texts_cut(requests),
        "limits": LIMITS,
        "requests": requests,
    }


def status_now(counts: Mapping[tuple[str, bool], int]) -> dict[str, Any]:
    """
    The person's status now, from their requests by status and whether reappeared (all of them, not
    only those returned): ``found_again`` while a reappeared request is pending, else ``pending``,
    ``erased``, ``rejected``, ``no_request``; ``unknown`` when their requests hold no known status.

    :param counts: what :meth:`.DashboardQueries.requests_of` counted (``status_counts``).
    """

    def total(status: str, reappeared: bool | None = None) -> int:
        return sum(n for (s, again), n in counts.items() if s == status and reappeared in (None, again))

    if total(PENDING, True):
        status = FOUND_AGAIN
    else:
        present = [status for status in (PENDING, ERASED, REJECTED) if total(status)]
        status = present[0] if present else UNKNOWN if counts else NO_REQUEST
    return {
        "status": status,
        "erased_requests": total(ERASED),
        "times_found_again": sum(n for (_, again), n in counts.items() if again),
        "pending_re_erasure": total(PENDING, True),
    }


def _link_found_again(requests: list[dict[str, Any]]) -> None:
    """
    Name on each erased request the first reappeared request (among those returned) made at or after
    its erasure: the verification that found the person again (``found_again_by``).
    """
    found = [
        (moment, request["request_id"])
        for request in requests
        if request["source"] == REAPPEARED and (moment := valid_moment(request["requested_at"]))
    ]
    for request in requests:
        erased_at = valid_moment(request["erased_at"]) if request["status"] == ERASED else None
        if erased_at is not None:
            request["found_again_by"] = next((rid for moment, rid in found if moment >= erased_at), None)


def _request(request: Mapping[str, Any], deadline_days: int, now: datetime) -> dict[str, Any]:
    """A request's own fields (its groups not yet: ``dataset_groups`` empty)."""
    status = request["status"]
    requested_at = valid_moment(request["requested_at"])
    end = valid_moment(request["erased_at"]) if status == ERASED else now
    days = (end - requested_at).total_seconds() / 86400 if requested_at and end else None
    record = request.get("erasure_record")
    record = record if isinstance(record, Mapping) else {}
    run = request.get("run")
    return {
        "request_id": request["request_id"],
        "source": request["source"],
        "status": status,
        "requested_at": request["requested_at"],
        "erased_at": request["erased_at"],
        "days_to_erasure": round(days, 2) if status == ERASED and days is not None else None,
        "days_pending": round(days, 2) if status == PENDING and days is not None else None,
        "within_deadline": days <= deadline_days
        if status in (ERASED, PENDING) and days is not None
        else None,
        "rejected_reason": message(record.get("rejected")) if status == REJECTED else None,
        "reappeared": request.get("reappeared"),
        "reappeared_unread": bool(request.get("reappeared_unread")),
        "found_again_by": None,
        "run": _run(run) if run else None,
        "run_search": request.get("run_search"),
        "dataset_groups_total": 0,
        "dataset_groups_truncated": False,
        "dataset_groups": [],
    }


def _bytes(shown: Any) -> int:
    """The bytes of JSON of what is shown, every character escaped as ASCII (at least its UTF-8 length)."""
    return len(json.dumps(shown))


@dataclass(frozen=True)
class _Groups:
    """
    The dataset groups a request shows, and what it leaves out.

    :param groups: the groups shown, each with its jobs (``jobs_total``, ``jobs_truncated``).
    :param total: how many groups there are; None when unknown (a record too large to read).
    :param truncated: whether groups are left out (past the run's bound or the record's, or unread).
    """

    groups: list[dict[str, Any]]
    total: int | None
    truncated: bool

    @property
    def cost(self) -> tuple[int, int]:
        """
        The bytes of the groups, as the larger of their JSON and their CSV rows (each job's row repeats
        its group's fields), and their jobs.
        """
        size = 0
        for group in self.groups:
            header = _bytes({key: value for key, value in group.items() if key != "jobs"})
            size += sum(header + _bytes(job) for job in group["jobs"]) or header
        return size, sum(len(group["jobs"]) for group in self.groups)


@dataclass
class _ShownGroups:
    """
    The dataset groups of one evidence record, within :data:`.MAX_ANSWER_BYTES` and
    :data:`MAX_EVIDENCE_JOBS` jobs: the requests' own fields count first (each shown, in one CSV row at
    least), then requests, in order, show their groups while they fit, each job's CSV row counting its
    request's fields again; a later request's groups are left out (``dataset_groups_truncated``,
    counted in ``left_out``). A run's groups are made and measured once, whatever the number of its
    requests.

    :param bytes: the bytes counted so far.
    """

    bytes: int = 0
    jobs: int = 0
    left_out: int = 0
    _of_run: dict[int, tuple[_Groups, tuple[int, int]]] = field(default_factory=dict)

    def of(
        self,
        run: Mapping[str, Any] | None,
        erasure_record: Mapping[str, Any],
        *,
        unread: bool,
        row_bytes: int,
    ) -> _Groups:
        """
        The groups one request shows: its run's, or without a run's record those stored on it.

        :param run: the run's view (shared by the requests of one run), or None.
        :param erasure_record: the request's stored record.
        :param unread: the stored record was too large to read.
        :param row_bytes: the bytes of the request's own fields (counted already, once).
        """
        if run:
            if id(run) not in self._of_run:
                groups = _run_groups(run)
                self._of_run[id(run)] = (groups, groups.cost)
            groups, (size, jobs) = self._of_run[id(run)]
        elif unread:
            groups, (size, jobs) = _Groups([], None, True), (0, 0)
        else:
            groups = _stored_groups(erasure_record)
            size, jobs = groups.cost
        size += row_bytes * max(0, jobs - 1)  # each job's CSV row repeats the request's fields
        if self.bytes + size > MAX_ANSWER_BYTES or self.jobs + jobs > MAX_EVIDENCE_JOBS:
            self.left_out += 1
            return _Groups([], groups.total, True)
        self.bytes += size
        self.jobs += jobs
        return groups


def _run_groups(run: Mapping[str, Any]) -> _Groups:
    """The run's jobs per dataset group, as its view bounds them."""
    return _Groups(
        [
            {
                "dataset_group_arn": group["dataset_group_arn"],
                "status": group["status"],
                "jobs_total": group["jobs_total"],
                "jobs_truncated": group["jobs_truncated"],
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
        ],
        run["dataset_groups_total"],
        run["dataset_groups_truncated"],
    )


def _stored_groups(erasure_record: Mapping[str, Any]) -> _Groups:
    """The jobs stored on the request, per dataset group, bounded as a run's view."""
    groups: dict[str | None, list[Mapping[str, Any]]] = {}
    jobs = erasure_record.get("jobs")
    for job in jobs if isinstance(jobs, list) else []:
        if isinstance(job, dict):  # else a malformed entry: not a job
            groups.setdefault(name(job.get("dataset_group_arn")), []).append(job)
    return _Groups(
        [
            {
                "dataset_group_arn": arn,
                "status": None,
                "jobs_total": len(found),
                "jobs_truncated": len(found) > MAX_JOBS_PER_GROUP,
                "jobs": [
                    {
                        "job_name": None,
                        "job_arn": name(job.get("job_arn")),
                        "status": None,
                        "num_deleted": count(job.get("num_deleted")),
                        "erasure_round": as_int(job.get("round")),
                        "overlapping_activity": None,
                    }
                    for job in found[:MAX_JOBS_PER_GROUP]
                ],
            }
            for arn, found in list(groups.items())[:MAX_GROUPS_PER_RUN]
        ],
        len(groups),
        len(groups) > MAX_GROUPS_PER_RUN,
    )


def _run(run: Mapping[str, Any]) -> dict[str, Any]:
    """
    The run (the try of it) that erased or claimed a request; ``latest_try`` False for an earlier try;
    ``find_and_forget`` what its find and forget did in S3 ("removed from N files in S3 (M unverified)",
    the counts; not the objects), None when it had none.
    """
    forget = run.get("find_and_forget")
    return {
        **{key: run[key] for key in ("run_id", "recorded_at", "outcome")},
        "latest_try": run.get("latest_try", True),
        "find_and_forget": None
        if not forget
        else {key: forget[key] for key in ("summary", "files_rewritten", "unverified", "dry_run")},
    }


def evidence_csv(record: Mapping[str, Any]) -> str:
    """
    The record as CSV (:data:`CSV_COLUMNS`), one row per request and job. Every cell but a number is
    quoted, and a ``'`` is put before each part of a text cell a spreadsheet could run as a formula
    (see :data:`_FORMULA_START`), so that no cell starts a formula, read with ``,``, ``;``, tab or
    ``|`` as the separator.

    :param record: what :func:`evidence_record` returned.
    """
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writeheader()
    for request in record["requests"]:
        run = request["run"] or {}
        reappeared = request["reappeared"] or {}
        base = {
            **{key: request[key] for key in CSV_COLUMNS if key in request},
            "status_now": record["status_now"]["status"],
            "reappeared_dataset_group_arn": reappeared.get("dataset_group_arn"),
            "reappeared_dataset_arn": reappeared.get("dataset_arn"),
            "reappeared_export_job_arn": reappeared.get("export_job_arn"),
            "reappeared_found_at": reappeared.get("found_at"),
            "run_id": run.get("run_id"),
            "run_outcome": run.get("outcome"),
            "run_recorded_at": run.get("recorded_at"),
            "run_find_and_forget": (run.get("find_and_forget") or {}).get("summary"),
            "requests_total": record["request_count"],
            "requests_truncated": record["truncated"],
            "texts_cut": record.get("texts_cut"),
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
                        "dataset_group_jobs_total": group.get("jobs_total"),
                        "dataset_group_jobs_truncated": group.get("jobs_truncated"),
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
