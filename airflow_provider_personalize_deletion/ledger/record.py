"""
One ledger record: canonical JSON, its SHA-256, and the S3 key of its sequence number.

A record is ``{"format", "ledger", "sequence", "previous_sha256", "appended_at", "retain_until",
"protection", "entry"}``; its hash is the SHA-256 of its object's bytes, which are the canonical
JSON of the record (sorted keys, no spaces, ASCII), so one record has one hash. The first record's
``previous_sha256`` is :data:`GENESIS`. The ``entry`` is what is being recorded (:class:`Entry`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

#: The record format this package writes and reads.
FORMAT = 1
#: The ``previous_sha256`` of the first record.
GENESIS = "0" * 64
#: The largest object read as a record (a record holds one run's record and request ids: kilobytes).
MAX_RECORD_BYTES = 32 * 1024 * 1024
#: Digits of the sequence number in a record's key, so keys sort in sequence order.
SEQUENCE_DIGITS = 12
#: A record's ``protection``: under Object Lock in compliance mode until ``retain_until``, or, in a
#: bucket without Object Lock (allowed only by a setting), none.
LOCKED, NOT_TAMPER_EVIDENT = "object lock compliance", "not tamper-evident"

_RECORD_NAME = re.compile(rf"(\d{{{SEQUENCE_DIGITS}}})\.json")


@dataclass(frozen=True)
class DeletionJobClaim:
    """
    What a record says of one data deletion job, for the verifier to describe again.

    :param arn: the job's ARN.
    :param dataset_group_arn: its dataset group.
    :param status: its status when recorded.
    :param num_deleted: its ``numDeleted`` when recorded (None when it had none).
    :param created: its ``creationDateTime`` (ISO 8601) when recorded.
    :param last_updated: its ``lastUpdatedDateTime`` (ISO 8601) when recorded.
    :param data_locations: the deletion files of its run, one of which it must have read (its
        ``dataSource``); a record that marks requests erased must name them.
    """

    arn: str
    dataset_group_arn: str
    status: str
    num_deleted: int | None = None
    created: str | None = None
    last_updated: str | None = None
    data_locations: list[str] | None = None


@dataclass(frozen=True)
class ExportJobClaim:
    """
    What a record says of one dataset export job (a verification), for the verifier to describe again.

    :param arn: the export job's ARN.
    :param dataset_arn: the dataset it exported.
    :param outcome: the verification's outcome for that dataset.
    """

    arn: str
    dataset_arn: str
    outcome: str


@dataclass(frozen=True)
class Entry:
    """
    What one record holds: a warehouse record, the ids of the requests it concerns, and its claims.

    Never a user id: request ids are random (derived from nothing), the rest are ARNs, counts, keyed
    fingerprints and times.

    :param kind: ``erasure_run`` or ``verification``.
    :param run_id: the DAG run that made the warehouse record.
    :param recorded_at: when the warehouse record was made (``YYYY-MM-DD HH:MM:SS``, UTC), which
        with ``kind`` and ``run_id`` names the warehouse record.
    :param payload: the warehouse record, as the warehouse holds it.
    :param request_ids: the requests it marked erased, sorted.
    :param deletion_jobs: the deletion jobs it names.
    :param export_jobs: the dataset export jobs it names.
    """

    kind: str
    run_id: str
    recorded_at: str
    payload: Any
    request_ids: list[str] = field(default_factory=list)
    deletion_jobs: list[DeletionJobClaim] = field(default_factory=list)
    export_jobs: list[ExportJobClaim] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The entry as the record holds it."""
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Entry:
        """
        The entry a record holds.

        :param value: the record's ``entry``.
        :raises KeyError, TypeError: it is not an entry (a member missing or of another type).
        """
        texts = [value["kind"], value["run_id"], value["recorded_at"], *value["request_ids"]]
        jobs = [*value["deletion_jobs"], *value["export_jobs"]]
        texts += [job["arn"] for job in jobs]
        if not isinstance(value["request_ids"], list) or not all(isinstance(text, str) for text in texts):
            raise TypeError("an entry's names, request ids and job ARNs are text, its request ids a list")
        return cls(
            kind=value["kind"],
            run_id=value["run_id"],
            recorded_at=value["recorded_at"],
            payload=value["payload"],
            request_ids=list(value["request_ids"]),
            deletion_jobs=[DeletionJobClaim(**job) for job in value["deletion_jobs"]],
            export_jobs=[ExportJobClaim(**job) for job in value["export_jobs"]],
        )


def canonical(value: Any) -> bytes:
    """
    The canonical JSON bytes of a value: sorted keys, no whitespace, ASCII only.

    :param value: plain JSON data.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def sha256(body: bytes) -> str:
    """:param body: a record object's bytes."""
    return hashlib.sha256(body).hexdigest()


def record_key(prefix: str, sequence: int) -> str:
    """
    The S3 key of the record at ``sequence``: ``<prefix>/<sequence, 12 digits>.json``.

    :param prefix: the ledger's prefix (no trailing slash).
    :param sequence: from 0.
    """
    return f"{prefix}/{sequence:0{SEQUENCE_DIGITS}d}.json"


def key_sequence(prefix: str, key: str) -> int | None:
    """
    The sequence number a key names; None for a key that is not a record's.

    :param prefix: the ledger's prefix.
    :param key: an S3 key under it.
    """
    if not key.startswith(prefix + "/"):
        return None
    match = _RECORD_NAME.fullmatch(key[len(prefix) + 1 :])
    return int(match.group(1)) if match else None


def new_record(
    ledger: str,
    sequence: int,
    previous_sha256: str,
    appended_at: str,
    retain_until: str | None,
    entry: Entry,
) -> dict[str, Any]:
    """
    A record, ready for :func:`canonical`.

    :param ledger: the ledger's name (its prefix): a record copied into another ledger does not verify.
    :param sequence: its position, from 0.
    :param previous_sha256: the previous record's hash (:data:`GENESIS` for the first).
    :param appended_at: when it is written (ISO 8601, UTC).
    :param retain_until: the end of its Object Lock retention (ISO 8601, UTC); None without Object Lock.
    :param entry: what it records.
    """
    return {
        "format": FORMAT,
        "ledger": ledger,
        "sequence": sequence,
        "previous_sha256": previous_sha256,
        "appended_at": appended_at,
        "retain_until": retain_until,
        "protection": LOCKED if retain_until is not None else NOT_TAMPER_EVIDENT,
        "entry": entry.as_json(),
    }
