"""
What the dashboard shows of a run's audit record, bounded whatever the record holds.

A view shows at most :data:`MAX_GROUPS_PER_RUN` dataset groups and :data:`MAX_JOBS_PER_GROUP` jobs per
group, and says what it leaves out (``dataset_groups_total`` and ``dataset_groups_truncated``; per
group ``jobs_total`` and ``jobs_truncated``). A record longer than :data:`MAX_RECORD_BYTES` is not read
at all: its view says ``record_too_large`` with the record's size, and shows no group.

Every text a view shows, of the record or of a column, is capped: names, ids, statuses and outcomes at
:data:`MAX_NAME_CHARS` characters, problems and failure reasons at :data:`MAX_MESSAGE_CHARS`; a longer
one is cut there and ends with :data:`TEXT_CUT`, and the view says ``texts_cut``.

A part of the record that is not shaped as the DAG writes it (a record that is not an object, a group
or job that is not one, a text or count of another type, a count out of range, a timestamp that is no
date) is left out (None, or 0 for a count the DAG always writes), never an error.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from airflow_provider_personalize_deletion.forget.locations import BLOCKING_REASONS, NO_USER_REASONS, REASONS

#: An audit record (or a request's erasure record) longer than this, in bytes of its JSON text, is not
#: read: a DAG run on 500 dataset groups with two follow-up rounds each writes about 0.9 MB.
MAX_RECORD_BYTES = 1024 * 1024
#: Dataset groups a run's view shows, at most.
MAX_GROUPS_PER_RUN = 100
#: Jobs a dataset group's view shows, at most (the DAG writes one per file and round).
MAX_JOBS_PER_GROUP = 20
#: Characters of a name, id, status, outcome or timestamp a view shows, at most (an ARN is at most 256).
MAX_NAME_CHARS = 256
#: Characters of a problem, a job's failure reason or a request's rejection reason, at most.
MAX_MESSAGE_CHARS = 1024
#: Problems a run's view shows, at most; and request counts (the DAG writes four).
MAX_PROBLEMS = MAX_COUNTS = 20
#: Unverified objects of a run's find and forget its view shows, at most (with their reasons).
MAX_UNVERIFIED_SHOWN = 20
#: Locations a run's find and forget did not scan that its view shows, at most (with their reasons).
MAX_NOT_SCANNED_SHOWN = 20
#: What ends a text cut at its cap.
TEXT_CUT = "…[cut]"
#: How a cut text ends in JSON text: the mark, escaped, then the string's closing quote.
_CUT_IN_JSON = json.dumps(TEXT_CUT)[1:]
#: Whole numbers a view shows: a count of a record beyond these is malformed.
_INT_RANGE = range(-(2**63), 2**63)


def run_view(
    run_id: str, recorded_at: Any, outcome: str, record: Any, *, latest_try: bool = True
) -> dict[str, Any]:
    """
    What the dashboard shows of a run's audit record: its outcome, request counts, problems, and per
    dataset group (at most :data:`MAX_GROUPS_PER_RUN`) its status and jobs (status, ``numDeleted``,
    round, what overlapped them).

    :param run_id: the DAG run's id.
    :param recorded_at: when the record was written.
    :param outcome: ``erased``, ``failed``, ``nothing_to_erase``.
    :param record: the audit record (JSON text, or parsed).
    :param latest_try: False for the record of an earlier try of the run (kept under ``earlier_records``).
    """
    record = mapping(parse_json(record) if isinstance(record, str) else record)
    requests = mapping(record.get("requests"))
    groups = [group for group in as_list(record.get("dataset_groups")) if isinstance(group, Mapping)]
    view = {
        "run_id": name(run_id),
        "recorded_at": timestamp(recorded_at),
        "outcome": name(outcome),
        "latest_try": latest_try,
        "record_too_large": False,
        "record_unread": False,
        "record_bytes": None,
        "requests": {
            key: value
            for key, value in list(requests.items())[:MAX_COUNTS]
            if len(key) <= MAX_NAME_CHARS and _is_int(value)
        },
        "problems": [
            message(problem)
            for problem in as_list(record.get("problems"))[:MAX_PROBLEMS]
            if isinstance(problem, str)
        ],
        "follow_up_jobs": as_int(record.get("follow_up_jobs")),
        "earlier_tries": len(as_list(record.get("earlier_records"))),
        "dataset_groups_total": len(groups),
        "dataset_groups_truncated": len(groups) > MAX_GROUPS_PER_RUN,
        "dataset_groups": [_group_view(group) for group in groups[:MAX_GROUPS_PER_RUN]],
        "find_and_forget": forget_view(record.get("find_and_forget")),
        "deletion_file": deletion_file_view(record.get("export"), record.get("deletion_file_check")),
    }
    return {**view, "texts_cut": texts_cut(view)}


def deletion_file_view(export: Any, check: Any = None) -> dict[str, Any] | None:
    """
    The run's deletion file, from its audit record: how many distinct ids it held (``id_count``), in
    how many files, their keyed fingerprint (HMAC under the fingerprint key: it tells nothing of the
    ids without the key) and when they were written (the ``export`` member); and whether they were
    deleted (``deleted``), from what ``record_erasure`` listed itself in S3 after the clean-up ran
    (the ``deletion_file_check`` member, :func:`.erasure.steps.check_deletion_files`): True when no
    file was left, False with the reason when some were (``kept_because``), None when unknown (a
    record without the check, or a listing that failed). None when the run wrote no file.

    :param export: the ``export`` member.
    :param check: the ``deletion_file_check`` member.
    """
    export = mapping(export)
    if not export:
        return None
    check = mapping(check)
    files_left = count(check.get("files_left"))
    files_left = files_left if files_left is not None and files_left >= 0 else None
    deleted, kept = None, None
    if files_left == 0:
        deleted = True
    elif files_left is not None:
        deleted = False
        kept = (
            "cleanup_files is off"
            if check.get("cleanup_files") is False
            else f"{files_left} deletion file(s) were still in S3 when the run recorded (a job still "
            "running, or the clean-up failed; a later run deletes them once stale)"
        )
    return {
        "id_count": count(export.get("id_count")),
        "file_count": count(export.get("file_count")),
        "fingerprint": name(export.get("fingerprint")),
        "written_at": timestamp(export.get("written_at")),
        "deleted": deleted,
        "files_left": files_left,
        "checked_at": timestamp(check.get("checked_at")),
        "kept_because": kept,
    }


def forget_view(summary: Any) -> dict[str, Any] | None:
    """
    A run's find and forget, from its audit record's ``find_and_forget`` member
    (:func:`.erasure.forget_evidence.summarise`): None when the run has none (off, or not run yet).

    :param summary: the member.
    :return: ``summary`` ("removed from N files in S3 (M unverified; K locations not scanned)"),
        ``files_rewritten``, ``unverified``, ``records_removed``, ``dry_run``, and the first
        :data:`MAX_UNVERIFIED_SHOWN` ``unverified_objects`` (``location``, ``reason``),
        ``unverified_objects_truncated`` when the run has more unverified objects than shown;
        ``not_scanned`` (None in a record written before it was kept), ``not_scanned_holding_users``, and
        the first :data:`MAX_NOT_SCANNED_SHOWN` ``not_scanned_locations`` (:func:`not_scanned_view`),
        ``not_scanned_locations_truncated``; ``clean`` True only when the record says so (an older record,
        which does not, is never shown clean).
    """
    summary = mapping(summary)
    if not summary:
        return None
    listed = [item for item in as_list(summary.get("unverified_objects")) if isinstance(item, Mapping)]
    shown = [
        {"location": message(item.get("location")), "reason": message(item.get("reason"))}
        for item in listed[:MAX_UNVERIFIED_SHOWN]
    ]
    unverified = count(summary.get("unverified"))
    return {
        "summary": name(summary.get("summary")),
        "files_rewritten": count(summary.get("files_rewritten")),
        "unverified": unverified,
        "records_removed": count(summary.get("records_removed")),
        "dry_run": summary.get("dry_run") is True,
        "unverified_objects": shown,
        "unverified_objects_truncated": unverified is None or unverified > len(shown),
        **not_scanned_view(summary),
    }


def not_scanned_view(summary: Mapping[str, Any]) -> dict[str, Any]:
    """
    The locations a run's find and forget did not scan, from its summary.

    :param summary: the audit record's ``find_and_forget`` member.
    :return: ``not_scanned``, ``not_scanned_holding_users`` (counts, None when not recorded),
        ``not_scanned_locations`` (``location``, ``reason`` code, ``explanation``, ``holds_users``,
        ``blocking``), ``not_scanned_locations_truncated``, ``clean``.
    """
    listed = [item for item in as_list(summary.get("not_scanned_locations")) if isinstance(item, Mapping)]
    not_scanned = count(summary.get("not_scanned"))
    shown = []
    for item in listed[:MAX_NOT_SCANNED_SHOWN]:
        reason = name(item.get("reason"))
        shown.append(
            {
                "location": message(item.get("location")),
                "reason": reason,
                "explanation": REASONS.get(reason or "", "unknown reason"),
                "holds_users": reason not in NO_USER_REASONS,
                "blocking": reason in BLOCKING_REASONS,
            }
        )
    return {
        "not_scanned": not_scanned,
        "not_scanned_holding_users": count(summary.get("not_scanned_holding_users")),
        "not_scanned_locations": shown,
        "not_scanned_locations_truncated": not_scanned is None or not_scanned > len(shown),
        "clean": summary.get("clean") is True,
    }


def unread_view(run_id: str, recorded_at: Any, outcome: str, record_bytes: int) -> dict[str, Any]:
    """
    The view of a run whose record is not read: longer than :data:`MAX_RECORD_BYTES`
    (``record_too_large``), or under an id longer than :data:`MAX_NAME_CHARS`, which cannot name it
    once cut. Its groups, counts and problems are unknown (``dataset_groups_total`` None).

    :param record_bytes: the record's length, in bytes.
    """
    view = run_view(run_id, recorded_at, outcome, None)
    return {
        **view,
        "record_too_large": record_bytes > MAX_RECORD_BYTES,
        "record_unread": True,
        "record_bytes": record_bytes,
        "dataset_groups_total": None,
        "dataset_groups_truncated": True,
    }


def try_views(
    run_id: str, recorded_at: Any, outcome: str, record: Any, claims: Collection[str]
) -> dict[str, dict[str, Any]]:
    """
    The views of the tries of a run whose export read one of ``claims``, by claim: the latest try
    (the record itself), then the earlier tries it keeps under ``earlier_records`` (each with its own
    outcome and jobs, ``latest_try`` False); the first try that read a claim is its view.

    :param record: the run's audit record, parsed.
    :param claims: the claims looked for (the views of other tries are not made).
    """
    record = mapping(record)
    found: dict[str, dict[str, Any]] = {}
    claim = _claim(record)
    if claim is not None and claim in claims:
        found[claim] = run_view(run_id, recorded_at, outcome, record)
    for earlier in as_list(record.get("earlier_records")):
        earlier = mapping(earlier)
        claim = _claim(earlier)
        if claim is not None and claim in claims and claim not in found:
            found[claim] = run_view(
                run_id,
                earlier.get("recorded_at", recorded_at),  # malformed: left out by the view
                earlier.get("outcome", "unknown"),
                {**earlier, "earlier_records": []},
                latest_try=False,
            )
    return found


def reappearance_view(details: Any) -> dict[str, Any] | None:
    """
    Where a reappeared user was found again, from their request's ``details`` (JSON text, or parsed):
    the dataset group, the dataset, the export job and when; None when it holds no such object.

    :param details: the request's ``details`` column.
    """
    found = (parse_json(details) if isinstance(details, str) else mapping(details)) or {}
    where = mapping(mapping(found).get("reappeared"))
    if not where:
        return None
    view = {key: name(where.get(key)) for key in ("dataset_group_arn", "dataset_arn", "export_job_arn")}
    return {**view, "found_at": timestamp(where.get("found_at"))}


def _group_view(group: Mapping[str, Any]) -> dict[str, Any]:
    jobs = [job for job in as_list(group.get("jobs")) if isinstance(job, Mapping)]
    return {
        "dataset_group_arn": name(group.get("dataset_group_arn")),
        "status": name(group.get("status")),
        "follow_up_jobs": as_int(group.get("follow_up_jobs")),
        "jobs_total": len(jobs),
        "jobs_truncated": len(jobs) > MAX_JOBS_PER_GROUP,
        "jobs": [_job_view(job) for job in jobs[:MAX_JOBS_PER_GROUP]],
    }


def _job_view(job: Mapping[str, Any]) -> dict[str, Any]:
    overlapping = job.get("overlappingActivity")
    return {
        "job_name": name(job.get("jobName")),
        "job_arn": name(job.get("dataDeletionJobArn")),
        "status": name(job.get("status")),
        "num_deleted": count(job.get("numDeleted")),
        "round": as_int(job.get("erasureRound")),
        "created_at": timestamp(job.get("creationDateTime")),
        # The service's time of the job's last change: when it completed, for a COMPLETED job.
        "completed_at": timestamp(job.get("lastUpdatedDateTime"))
        if job.get("status") == "COMPLETED"
        else None,
        "overlapping_activity": [
            {key: name(item.get(key)) for key in ("kind", "arn", "status") if key in item}
            for item in overlapping
            if isinstance(item, Mapping)
        ]
        if isinstance(overlapping, list)
        else None,
        "failure_reason": message(job.get("failureReason")),
    }


def _claim(record: Mapping[str, Any]) -> str | None:
    """The claim the export of one try of a run read (a claim is 32 characters: a longer text is none)."""
    claim = text(mapping(record.get("export")).get("claim"))
    return claim if claim is not None and len(claim) <= MAX_NAME_CHARS else None


def mapping(value: Any) -> Mapping[str, Any]:
    """A JSON object of a record; anything else (a malformed record) as an empty one."""
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    """A JSON array of a record; anything else (a malformed record) as an empty one."""
    return value if isinstance(value, list) else []


def text(value: Any) -> str | None:
    """A string of a record; anything else as None."""
    return value if isinstance(value, str) else None


def clip(value: Any, limit: int) -> str | None:
    """
    A string of a record or a column, at most ``limit`` characters: a longer one cut there, ending with
    :data:`TEXT_CUT`; anything else as None.
    """
    if not isinstance(value, str):
        return None
    return value if len(value) <= limit else value[:limit] + TEXT_CUT


def name(value: Any) -> str | None:
    """A name, id, status or outcome, at most :data:`MAX_NAME_CHARS` characters (:func:`clip`)."""
    return clip(value, MAX_NAME_CHARS)


def message(value: Any) -> str | None:
    """A problem or a reason, at most :data:`MAX_MESSAGE_CHARS` characters (:func:`clip`)."""
    return clip(value, MAX_MESSAGE_CHARS)


def texts_cut(shown: Any) -> bool:
    """
    Whether any text of a view (or of anything made of views) was cut by :func:`clip`: its JSON holds
    :data:`TEXT_CUT` closing a string (a text that ends as a cut one counts as cut).
    """
    return _CUT_IN_JSON in json.dumps(shown)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value in _INT_RANGE


def as_int(value: Any) -> int:
    """A count of a record the DAG always writes; anything but a whole number (malformed) as 0."""
    return value if _is_int(value) else 0


def count(value: Any) -> int | None:
    """A count of a record that may be unknown (``numDeleted`` of a running job); malformed as None."""
    return value if _is_int(value) else None


def moment(value: Any) -> datetime:
    """A timestamp as SQLite (text, UTC) or PostgreSQL (a naive datetime, UTC) returns it, aware."""
    return aware(datetime.fromisoformat(value) if isinstance(value, str) else value)


def valid_moment(value: Any) -> datetime | None:
    """A timestamp of a column or a record, aware; None when it is no date (malformed)."""
    if isinstance(value, str) and len(value) <= MAX_NAME_CHARS:
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    try:
        return aware(value)
    except OverflowError:  # an offset that moves it out of the years 1 to 9999
        return None


def timestamp(value: Any) -> str | None:
    """A timestamp of a column or a record in ISO 8601, aware; None when it is no date (malformed)."""
    found = valid_moment(value)
    return None if found is None else found.isoformat()


def aware(value: datetime) -> datetime:
    """A datetime in UTC; a naive one is taken as UTC."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def parse_json(value: Any) -> Any:
    """JSON text parsed; None for anything else, or text that does not parse."""
    if not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return None


__all__: Sequence[str] = (
    "MAX_GROUPS_PER_RUN",
    "MAX_JOBS_PER_GROUP",
    "MAX_MESSAGE_CHARS",
    "MAX_NAME_CHARS",
    "MAX_RECORD_BYTES",
    "MAX_UNVERIFIED_SHOWN",
    "TEXT_CUT",
    "deletion_file_view",
    "forget_view",
    "reappearance_view",
    "run_view",
    "try_views",
    "unread_view",
)
