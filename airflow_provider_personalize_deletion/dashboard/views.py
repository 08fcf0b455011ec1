"""
What the dashboard shows of a run's audit record, bounded whatever the record holds.

A view shows at most :data:`MAX_GROUPS_PER_RUN` dataset groups and :data:`MAX_JOBS_PER_GROUP` jobs per
group, and says what it leaves out (``dataset_groups_total`` and ``dataset_groups_truncated``; per
group ``jobs_total`` and ``jobs_truncated``). A record longer than :data:`MAX_RECORD_BYTES` is not read
at all: its view says ``record_too_large`` with the record's size, and shows no group.

A part of the record that is not shaped as the DAG writes it (a record that is not an object, a group
or job that is not one, a count that is not a number) is left out, never an error.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

#: An audit record (or a request's erasure record) longer than this, in bytes of its JSON text, is not
#: read: a DAG run on 500 dataset groups with two follow-up rounds each writes about 0.9 MB.
MAX_RECORD_BYTES = 1024 * 1024
#: Dataset groups a run's view shows, at most.
MAX_GROUPS_PER_RUN = 100
#: Jobs a dataset group's view shows, at most (the DAG writes one per file and round).
MAX_JOBS_PER_GROUP = 20


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
    return {
        "run_id": run_id,
        "recorded_at": moment(recorded_at).isoformat(),
        "outcome": outcome,
        "latest_try": latest_try,
        "record_too_large": False,
        "record_bytes": None,
        "requests": {key: value for key, value in requests.items() if _is_int(value)},
        "problems": [str(problem) for problem in as_list(record.get("problems"))],
        "follow_up_jobs": as_int(record.get("follow_up_jobs")),
        "earlier_tries": len(as_list(record.get("earlier_records"))),
        "dataset_groups_total": len(groups),
        "dataset_groups_truncated": len(groups) > MAX_GROUPS_PER_RUN,
        "dataset_groups": [_group_view(group) for group in groups[:MAX_GROUPS_PER_RUN]],
    }


def unread_view(run_id: str, recorded_at: Any, outcome: str, record_bytes: int) -> dict[str, Any]:
    """
    The view of a run whose record is longer than :data:`MAX_RECORD_BYTES`: not read, so its groups,
    counts and problems are unknown (``dataset_groups_total`` None).

    :param record_bytes: the record's length, in bytes.
    """
    return {
        **run_view(run_id, recorded_at, outcome, None),
        "record_too_large": True,
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
                text(earlier.get("recorded_at")) or recorded_at,
                text(earlier.get("outcome")) or "unknown",
                {**earlier, "earlier_records": []},
                latest_try=False,
            )
    return found


def _group_view(group: Mapping[str, Any]) -> dict[str, Any]:
    jobs = [job for job in as_list(group.get("jobs")) if isinstance(job, Mapping)]
    return {
        "dataset_group_arn": text(group.get("dataset_group_arn")),
        "status": text(group.get("status")),
        "follow_up_jobs": as_int(group.get("follow_up_jobs")),
        "jobs_total": len(jobs),
        "jobs_truncated": len(jobs) > MAX_JOBS_PER_GROUP,
        "jobs": [_job_view(job) for job in jobs[:MAX_JOBS_PER_GROUP]],
    }


def _job_view(job: Mapping[str, Any]) -> dict[str, Any]:
    overlapping = job.get("overlappingActivity")
    return {
        "job_name": job.get("jobName"),
        "job_arn": job.get("dataDeletionJobArn"),
        "status": job.get("status"),
        "num_deleted": job.get("numDeleted"),
        "round": as_int(job.get("erasureRound")),
        "overlapping_activity": [
            {key: item.get(key) for key in ("kind", "arn", "status") if key in item}
            for item in overlapping or []
            if isinstance(item, Mapping)
        ]
        if isinstance(overlapping, list)
        else None,
        "failure_reason": job.get("failureReason"),
    }


def _claim(record: Mapping[str, Any]) -> str | None:
    """The claim the export of one try of a run read."""
    return text(mapping(record.get("export")).get("claim"))


def mapping(value: Any) -> Mapping[str, Any]:
    """A JSON object of a record; anything else (a malformed record) as an empty one."""
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    """A JSON array of a record; anything else (a malformed record) as an empty one."""
    return value if isinstance(value, list) else []


def text(value: Any) -> str | None:
    """A string of a record; anything else as None."""
    return value if isinstance(value, str) else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def as_int(value: Any) -> int:
    """A count of a record; anything but a whole number (a malformed record) as 0."""
    return value if _is_int(value) else 0


def moment(value: Any) -> datetime:
    """A timestamp as SQLite (text, UTC) or PostgreSQL (a naive datetime, UTC) returns it, aware."""
    return aware(datetime.fromisoformat(value) if isinstance(value, str) else value)


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
    "MAX_RECORD_BYTES",
    "run_view",
    "try_views",
    "unread_view",
)
