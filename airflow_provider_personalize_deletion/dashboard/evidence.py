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

from airflow_provider_personalize_deletion.dashboard.evidence_reads import (
    MAX_PERSON_VERIFICATION_ROWS,
    verified_after,
)
from airflow_provider_personalize_deletion.dashboard.queries import (
    DECIDED,
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
    timestamp,
    valid_moment,
)
from airflow_provider_personalize_deletion.erasure.deadlines import Deadline
from airflow_provider_personalize_deletion.erasure.decisions import REASON_CODES
from airflow_provider_personalize_deletion.erasure.reappearance import REAPPEARED
from airflow_provider_personalize_deletion.erasure.settings import WarehouseSettings
from airflow_provider_personalize_deletion.erasure.store import ERASED, PENDING, REJECTED
from airflow_provider_personalize_deletion.ledger.warehouse import ERASURE_RUN, VERIFICATION

if TYPE_CHECKING:
    from airflow_provider_personalize_deletion.dashboard.queries import FoundRequests

#: The version of the record's layout (2: its bounds, and what it leaves out, said; 3: texts capped; 4:
#: the person's status now, and where a reappeared person was found again; 5: the run's find and forget;
#: 6: the subject as typed, the jobs' own times, the deletion file, whether each group held the person
#: and whether they were verified absent since, the ledger positions, a lookup's near misses; 7: the deadline
#: rule, each request's due date and extension, a refused or unfulfillable request's reason code; 8: the
#: deletion file said deleted from what the record step listed in S3, ``files_left`` and ``checked_at``,
#: never the clean-up task's XCom).
EVIDENCE_VERSION = 8
#: The person's status now (``status_now``): found again by a verification, their request pending (the
#: next erasure run erases them again); a request pending; every request erased (or rejected); no request.
FOUND_AGAIN, NO_REQUEST, UNKNOWN = "found_again", "no_request", "unknown"
#: Whether a dataset group held the person when its job ran (``held_person``): known only from the counts
#: the service reports per job (``numDeleted``, the records deleted of every id of the deletion file):
#: ``no`` when the group's jobs deleted no record at all, ``yes`` when the file held this person's id only
#: and a record was deleted, else ``unknown``.
HELD, NOT_HELD = "yes", "no"
#: Whether the person was verified absent from a group since their erasure (``verification.status``): every
#: dataset of the group's first verification since verified absent; found again by it (their reappeared
#: request names its export); a dataset not verified; others found by it, and whether this person is among
#: them is not recorded; no verification of the group since (``unknown`` when the rows read hit their bound).
VERIFIED_ABSENT, NOT_VERIFIED, OTHERS_FOUND, NOT_VERIFIED_SINCE = (
    "verified_absent",
    "not_verified",
    "others_found",
    "no_verification_since",
)
#: What the subject says when the lookup's caller did not ask for it in the record.
SUBJECT_NOT_NAMED = "the user id entered in the lookup; it is not repeated in this record"
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
    "verification_rows": MAX_PERSON_VERIFICATION_ROWS,
}
#: The CSV's columns: one row per request and job (a request without a job has one row, job fields empty).
CSV_COLUMNS = (
    "subject_user_id",
    "request_id",
    "source",
    "status",
    "requested_at",
    "erased_at",
    "days_to_erasure",
    "due_at",
    "within_deadline",
    "extension_months",
    "extension_reason",
    "extended_by",
    "extended_at",
    "rejected_reason",
    "reason_code",
    "legal_basis",
    "decided_by",
    "decided_at",
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
    "run_ledger_sequence",
    "run_ledger_record_sha256",
    "deletion_file_id_count",
    "deletion_file_count",
    "deletion_file_fingerprint",
    "deletion_file_written_at",
    "deletion_file_deleted",
    "deletion_file_files_left",
    "deletion_file_checked_at",
    "deletion_file_kept_because",
    "dataset_groups_not_holding",
    "dataset_groups_total",
    "dataset_groups_truncated",
    "dataset_group_arn",
    "dataset_group_status",
    "dataset_group_jobs_total",
    "dataset_group_jobs_truncated",
    "job_name",
    "job_arn",
    "job_status",
    "job_created_at",
    "job_completed_at",
    "num_deleted_all_ids_of_file",
    "erasure_round",
    "overlapping_activity",
    "dataset_group_held_person",
    "verification_status",
    "verification_run_id",
    "verification_recorded_at",
    "verification_export_job_arns",
    "verification_ledger_sequence",
    "verification_ledger_record_sha256",
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
    subject: str | None = None,
    near_misses: Mapping[str, bool] | None = None,
) -> dict[str, Any]:
    """
    The evidence record of the requests a lookup found.

    Per request and dataset group it gives the jobs with their own times, whether the group held the
    person (:data:`HELD`, :data:`NOT_HELD`, :data:`UNKNOWN`; a group known not to have held them is
    listed apart, ``dataset_groups_not_holding``, not among ``dataset_groups``), and whether they were
    verified absent since (``verification``); per request the run's deletion file (count, keyed
    fingerprint, whether it was deleted) and the run's place in the evidence ledger.

    :param found: what :meth:`.DashboardQueries.requests_of` returned; when the user has more requests
        than it returned, the record says so (``truncated``, ``request_count`` the total).
        Each request says how the search for its run ended (``run_search``: ``found``, ``not_found``,
        ``incomplete`` when the lookup's budget of audit records ran out first, None without a claim).
    :param settings: where the requests and the audit trail were read.
    :param dag_id: the DAG whose runs erase the requests.
    :param generated_at: when the record was made (aware).
    :param generated_by: the Airflow user who made it.
    :param subject: the user id as the caller typed it, when they asked for it in the record (their
        export); None: the record does not repeat it.
    :param near_misses: for a lookup that found nothing, :meth:`.DashboardQueries.near_misses`.
    """
    requests = [
        _request(request, settings.deadline_rule, generated_at, found.ledger) for request in found.requests
    ]
    _link_found_again(requests)
    found_by = _found_by_export(requests)
    shown = _ShownGroups(bytes=sum(_bytes(request) for request in requests))  # each shown, one row each
    for request, request_found in zip(requests, found.requests, strict=True):
        record = request_found.get("erasure_record")
        checks = _verifications(request, request_found.get("run"), found, found_by)
        groups = shown.of(
            request_found.get("run"),
            record if isinstance(record, Mapping) else {},  # a malformed one shows no jobs
            unread=bool(request_found.get("erasure_record_unread")),
            row_bytes=_bytes(request),
            extra_bytes=_bytes(checks),
        )
        request.update(
            dataset_groups_total=groups.total,
            dataset_groups_truncated=groups.truncated,
            dataset_groups_not_holding=[
                group["dataset_group_arn"] for group in groups.groups if group["held_person"] == NOT_HELD
            ],
            dataset_groups=[
                {**group, "verification": checks.get(group["dataset_group_arn"])}
                for group in groups.groups
                if group["held_person"] != NOT_HELD
            ],
        )
    return {
        "evidence_version": EVIDENCE_VERSION,
        "subject": {"user_id": subject, "as_typed": True} if subject is not None else SUBJECT_NOT_NAMED,
        "matching": "exact: the id as typed, every character and its case",
        "near_misses": dict(near_misses) if near_misses is not None else None,
        "generated_at": generated_at.isoformat(),
        "generated_by": generated_by,
        "dag_id": dag_id,
        "warehouse": {
            "connection_id": settings.warehouse_conn_id,
            "requests_table": settings.requests_table,
            "audit_table": settings.audit_table,
        },
        "deadline": {"rule": settings.deadline, "days": settings.overdue_days, "times_zone": "UTC"},
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
    ``erased``, ``refused``, ``unfulfillable``, ``rejected``, ``no_request``; ``unknown`` when their
    requests hold no known status.

    :param counts: what :meth:`.DashboardQueries.requests_of` counted (``status_counts``).
    """

    def total(status: str, reappeared: bool | None = None) -> int:
        return sum(n for (s, again), n in counts.items() if s == status and reappeared in (None, again))

    if total(PENDING, True):
        status = FOUND_AGAIN
    else:
        present = [status for status in (PENDING, ERASED, *DECIDED, REJECTED) if total(status)]
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


def _found_by_export(requests: list[dict[str, Any]]) -> set[str]:
    """The export jobs that found the person again (their reappeared requests' ``reappeared``)."""
    return {
        request["reappeared"]["export_job_arn"]
        for request in requests
        if request["reappeared"] and request["reappeared"].get("export_job_arn")
    }


def _verifications(
    request: Mapping[str, Any], run: Mapping[str, Any] | None, found: FoundRequests, found_by: set[str]
) -> dict[str, dict[str, Any]]:
    """
    Whether the person of an erased request was verified absent from each group of its run since the
    erasure, by the group's first verification after it (see :data:`VERIFIED_ABSENT`).

    :param request: the request's own fields.
    :param run: its run's view.
    :param found: what the lookup found (its verification rows, the ledger positions).
    :param found_by: the export jobs that found the person again.
    """
    if request["status"] != ERASED or not run:
        return {}
    checks = {}
    for group in run["dataset_groups"]:
        arn = group["dataset_group_arn"]
        rows = verified_after(found.verification_rows, arn, request["erased_at"]) if arn else []
        outcomes = {row.outcome for row in rows}
        if not rows:
            # none among the rows read; past the rows' bound a later one may exist
            status = (
                UNKNOWN
                if len(found.verification_rows) >= MAX_PERSON_VERIFICATION_ROWS
                else NOT_VERIFIED_SINCE
            )
        elif any(row.export_job_arn in found_by for row in rows):
            status = FOUND_AGAIN
        elif outcomes == {VERIFIED_ABSENT}:
            status = VERIFIED_ABSENT
        elif NOT_VERIFIED in outcomes or not outcomes <= {VERIFIED_ABSENT, FOUND_AGAIN}:
            status = NOT_VERIFIED
        else:
            status = OTHERS_FOUND
        run_id = rows[0].run_id if rows else None
        checks[arn] = {
            "status": status,
            "run_id": run_id,
            "recorded_at": rows[0].recorded_at if rows else None,
            "export_job_arns": [row.export_job_arn for row in rows[:MAX_JOBS_PER_GROUP]],
            "ledger": found.ledger.get((VERIFICATION, run_id)) if run_id else None,
        }
    return checks


def _held_person(group: Mapping[str, Any], deletion_file: Mapping[str, Any] | None) -> str:
    """
    Whether the group held the person (see :data:`HELD`): from its jobs' ``numDeleted`` and the file's
    ``id_count``, when every job of the group is shown and COMPLETED with a count.

    :param group: the group's view.
    :param deletion_file: the run's deletion file (its view).
    """
    jobs = group["jobs"]
    if not jobs or group["jobs_truncated"] or any(job["status"] != "COMPLETED" for job in jobs):
        return UNKNOWN
    counts = [job["num_deleted"] for job in jobs]
    if any(value is None for value in counts):
        return UNKNOWN
    if sum(counts) == 0:
        return NOT_HELD
    return HELD if deletion_file and deletion_file.get("id_count") == 1 else UNKNOWN


def _request(
    request: Mapping[str, Any],
    deadline: Deadline,
    now: datetime,
    ledger: Mapping[tuple[str, str], dict[str, Any]],
) -> dict[str, Any]:
    """
    A request's own fields (its groups not yet: ``dataset_groups`` empty): its due date by the deadline
    rule and its extension (``due_at``), whether it was erased, or is pending, within it
    (``within_deadline``), and a refused or unfulfillable request's reason code and decision.
    """
    status = request["status"]
    requested_at = valid_moment(request["requested_at"])
    end = valid_moment(request["erased_at"]) if status == ERASED else now
    days = (end - requested_at).total_seconds() / 86400 if requested_at and end else None
    extension = request.get("extension")
    due_at = deadline.due_at(requested_at, extension["months"] if extension else 0) if requested_at else None
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
        "due_at": due_at.isoformat() if due_at else None,
        "within_deadline": end <= due_at if status in (ERASED, PENDING) and end and due_at else None,
        "extension": extension,
        "rejected_reason": message(record.get("rejected")) if status == REJECTED else None,
        "decision": _decision(request.get("reason_code"), record) if status in DECIDED else None,
        "reappeared": request.get("reappeared"),
        "reappeared_unread": bool(request.get("reappeared_unread")),
        "found_again_by": None,
        "run": _run(run, ledger) if run else None,
        "run_search": request.get("run_search"),
        "dataset_groups_total": 0,
        "dataset_groups_truncated": False,
        "dataset_groups_not_holding": [],
        "dataset_groups": [],
    }


def _decision(code: Any, record: Mapping[str, Any]) -> dict[str, Any]:
    """
    Why a request was refused or is unfulfillable: its reason code (as the column holds it), the legal
    basis of a known code (None for another, written by hand), and who decided when (the decision's record).

    :param code: the request's ``reason_code``.
    :param record: its stored record (:func:`.decisions.decide_request` writes the decision there).
    """
    known = REASON_CODES.get(code) if isinstance(code, str) else None
    return {
        "reason_code": code,
        "legal_basis": known.legal_basis if known else None,
        "decided_by": name(record.get("decided_by")),
        "decided_at": timestamp(record.get("decided_at")),
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
        extra_bytes: int = 0,
    ) -> _Groups:
        """
        The groups one request shows: its run's, or without a run's record those stored on it.

        :param run: the run's view (shared by the requests of one run), or None.
        :param erasure_record: the request's stored record.
        :param unread: the stored record was too large to read.
        :param row_bytes: the bytes of the request's own fields (counted already, once).
        :param extra_bytes: the bytes of what the request adds to its groups (their verification).
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
        size += row_bytes * max(0, jobs - 1) + extra_bytes * max(1, jobs)  # each job's CSV row repeats them
        if self.bytes + size > MAX_ANSWER_BYTES or self.jobs + jobs > MAX_EVIDENCE_JOBS:
            self.left_out += 1
            return _Groups([], groups.total, True)
        self.bytes += size
        self.jobs += jobs
        return groups


def _run_groups(run: Mapping[str, Any]) -> _Groups:
    """The run's jobs per dataset group, as its view bounds them, and whether each held the person."""
    return _Groups(
        [
            {
                "dataset_group_arn": group["dataset_group_arn"],
                "status": group["status"],
                "held_person": _held_person(group, run.get("deletion_file")),
                "jobs_total": group["jobs_total"],
                "jobs_truncated": group["jobs_truncated"],
                "jobs": [
                    {
                        "job_name": job["job_name"],
                        "job_arn": job["job_arn"],
                        "status": job["status"],
                        "created_at": job["created_at"],
                        "completed_at": job["completed_at"],
                        "num_deleted_all_ids_of_file": job["num_deleted"],
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
                "held_person": UNKNOWN,
                "jobs_total": len(found),
                "jobs_truncated": len(found) > MAX_JOBS_PER_GROUP,
                "jobs": [
                    {
                        "job_name": None,
                        "job_arn": name(job.get("job_arn")),
                        "status": None,
                        "created_at": None,
                        "completed_at": None,
                        "num_deleted_all_ids_of_file": count(job.get("num_deleted")),
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


def _run(run: Mapping[str, Any], ledger: Mapping[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    """
    The run (the try of it) that erased or claimed a request; ``latest_try`` False for an earlier try;
    ``find_and_forget`` what its find and forget did in S3 ("removed from N files in S3 (M unverified; K
    locations not scanned)", the counts and ``clean``; not the objects nor the locations), None when it
    had none; ``deletion_file`` its file and whether it was deleted (:func:`.views.deletion_file_view`,
    from the run's audit record, never an XCom);
    ``ledger`` where its record sits in the evidence ledger (``sequence``, ``record_sha256``), None when
    not appended (the ledger is off, or the append is pending).

    :param run: the run's view.
    :param ledger: the ledger positions read.
    """
    forget = run.get("find_and_forget")
    return {
        **{key: run[key] for key in ("run_id", "recorded_at", "outcome")},
        "latest_try": run.get("latest_try", True),
        "deletion_file": run.get("deletion_file"),
        "ledger": ledger.get((ERASURE_RUN, run["run_id"])),
        "find_and_forget": None
        if not forget
        else {
            key: forget[key]
            for key in ("summary", "files_rewritten", "unverified", "not_scanned", "clean", "dry_run")
        },
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
        deletion_file = run.get("deletion_file") or {}
        run_ledger = run.get("ledger") or {}
        extension = request["extension"] or {}
        decision = request["decision"] or {}
        subject = record["subject"]
        base = {
            **{key: request[key] for key in CSV_COLUMNS if key in request},
            "subject_user_id": subject["user_id"] if isinstance(subject, Mapping) else None,
            "extension_months": extension.get("months"),
            "extension_reason": extension.get("reason"),
            "extended_by": extension.get("extended_by"),
            "extended_at": extension.get("extended_at"),
            **{key: decision.get(key) for key in ("reason_code", "legal_basis", "decided_by", "decided_at")},
            "run_ledger_sequence": run_ledger.get("sequence"),
            "run_ledger_record_sha256": run_ledger.get("record_sha256"),
            "deletion_file_id_count": deletion_file.get("id_count"),
            "deletion_file_count": deletion_file.get("file_count"),
            "deletion_file_fingerprint": deletion_file.get("fingerprint"),
            "deletion_file_written_at": deletion_file.get("written_at"),
            "deletion_file_deleted": deletion_file.get("deleted"),
            "deletion_file_files_left": deletion_file.get("files_left"),
            "deletion_file_checked_at": deletion_file.get("checked_at"),
            "deletion_file_kept_because": deletion_file.get("kept_because"),
            "dataset_groups_not_holding": len(request["dataset_groups_not_holding"]),
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
            verification = group.get("verification") or {}
            verification_ledger = verification.get("ledger") or {}
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
                        "job_created_at": job.get("created_at"),
                        "job_completed_at": job.get("completed_at"),
                        "num_deleted_all_ids_of_file": job.get("num_deleted_all_ids_of_file"),
                        "erasure_round": job.get("erasure_round"),
                        "overlapping_activity": len(overlapping) if isinstance(overlapping, list) else None,
                        "dataset_group_held_person": group.get("held_person"),
                        "verification_status": verification.get("status"),
                        "verification_run_id": verification.get("run_id"),
                        "verification_recorded_at": verification.get("recorded_at"),
                        "verification_export_job_arns": " ".join(verification.get("export_job_arns") or [])
                        or None,
                        "verification_ledger_sequence": verification_ledger.get("sequence"),
                        "verification_ledger_record_sha256": verification_ledger.get("record_sha256"),
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
