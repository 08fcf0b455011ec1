"""
Walk a ledger and report every break of its chain; read-only (``s3:ListBucketVersions``,
``s3:GetObject``, ``s3:GetObjectRetention``, ``s3:GetBucketObjectLockConfiguration``).

Every version of every key under the prefix is listed, so that what S3 lets anyone with write access
do even under Object Lock shows: a later version of a record's key (an overwrite: the record read is
always the first version), a delete marker hiding a record, an object that is not a record. Each
record must be canonical JSON of this format and ledger, hold its key's sequence number, chain to
the record before it by SHA-256, be appended no earlier than it, and keep its compliance retention
for at least the setting's days after it was appended. An object larger than any record is never
read (its size comes from the listing).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_personalize_deletion.ledger.listing import KeyVersions, list_key_versions
from airflow_provider_personalize_deletion.ledger.record import (
    FORMAT,
    GENESIS,
    LOCKED,
    MAX_RECORD_BYTES,
    NOT_TAMPER_EVIDENT,
    Entry,
    canonical,
    key_sequence,
    sha256,
)
from airflow_provider_personalize_deletion.ledger.writer import bucket_has_object_lock


class VerificationError(RuntimeError):
    """The verifier could not check what it was asked to (credentials refused, no such bucket): no verdict."""


@dataclass(frozen=True)
class Record:
    """
    A record read from the ledger.

    :param sequence: its position (from its key).
    :param sha256: the hash of its object's bytes.
    :param body: what it holds.
    :param entry: its entry, None when it is malformed.
    """

    sequence: int
    sha256: str
    body: dict[str, Any]
    entry: Entry | None


@dataclass
class Report:
    """
    What a verification found.

    :param records: the records read, in sequence order.
    :param breaks: every break, each naming the record; any fails the verification.
    :param notes: what an auditor should know that is not a break (e.g. a ledger allowed without
        Object Lock is not tamper-evident).
    """

    records: list[Record] = field(default_factory=list)
    breaks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def walk_chain(
    s3: Any,
    bucket: str,
    prefix: str,
    *,
    allow_unlocked: bool = False,
    retention_days: int | None = None,
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> Report:
    """
    Read every record of the ledger at ``s3://<bucket>/<prefix>/`` and check the chain.

    :param s3: a boto3 S3 client.
    :param bucket: the ledger's bucket.
    :param prefix: the ledger's prefix (its name in every record).
    :param allow_unlocked: report a bucket without Object Lock as a note, not a break (a record
        without retention in a bucket with Object Lock stays a break).
    :param retention_days: the retention the setting requires after each record's ``appended_at``;
        None checks each record against its own ``retain_until`` only.
    :param max_record_bytes: a larger object is a break, and is not read.
    """
    prefix = prefix.strip("/")
    report = Report()
    locked = bucket_has_object_lock(s3, bucket)
    if not locked:
        (report.notes if allow_unlocked else report.breaks).append(
            f"the bucket {bucket} has no Object Lock: the ledger is {NOT_TAMPER_EVIDENT}"
        )
    numbered: dict[int, KeyVersions] = {}
    for key, versions in sorted(list_key_versions(s3, bucket, prefix).items()):
        sequence = key_sequence(prefix, key)
        if sequence is None:
            report.breaks.append(f"{key} is not a ledger record (forged object under the ledger's prefix)")
            continue
        if versions.delete_markers:
            report.breaks.append(f"record {sequence} is hidden by {versions.delete_markers} delete marker(s)")
        if len(versions.versions) > 1:
            report.breaks.append(
                f"record {sequence} was overwritten: its key has {len(versions.versions) - 1} later "
                "version(s) (forged; the first version is the one verified)"
            )
        if versions.first:
            numbered[sequence] = versions
    previous: Record | None = None
    expected = 0
    # Over the records present, not every number up to the highest: a key planted at sequence
    # 999999999999 is one gap, not a trillion.
    for sequence in sorted(numbered):
        if sequence > expected:
            report.breaks.append(_gap(expected, sequence - 1))
            previous = None
        expected = sequence + 1
        record = _read(s3, bucket, numbered[sequence], sequence, report, max_record_bytes)
        if record is None:
            previous = None
            continue
        _check_record(record, prefix, previous, sequence, report)
        if locked and record.body.get("protection") == LOCKED:
            _check_retention(s3, bucket, numbered[sequence], record, report, retention_days)
        elif locked:
            report.breaks.append(
                f"record {sequence} was written without Object Lock in a bucket with Object Lock: "
                "nothing protects it (forged)"
            )
        else:
            (report.notes if allow_unlocked else report.breaks).append(
                f"record {sequence} was written without Object Lock: {NOT_TAMPER_EVIDENT}"
            )
        report.records.append(record)
        previous = record
    _check_entries(report)
    return report


def _gap(first: int, last: int) -> str:
    if first == last:
        return f"record {first} is missing (a gap in the sequence: removed)"
    count = last - first + 1
    return f"records {first} to {last} are missing ({count} record(s): a gap in the sequence: removed)"


def _read(
    s3: Any, bucket: str, versions: KeyVersions, sequence: int, report: Report, max_bytes: int
) -> Record | None:
    first = versions.first
    assert first is not None
    if int(first.get("Size", 0)) > max_bytes:
        report.breaks.append(
            f"record {sequence} is {first['Size']} bytes, more than a record's {max_bytes} (forged): not read"
        )
        return None
    data = s3.get_object(Bucket=bucket, Key=versions.key, VersionId=first["VersionId"])["Body"].read()
    try:
        body = json.loads(data)
    except ValueError:
        report.breaks.append(f"record {sequence} is not JSON (changed or forged)")
        return None
    if not isinstance(body, dict) or canonical(body) != data:
        report.breaks.append(f"record {sequence} is not a record in canonical JSON (changed or forged)")
        return None
    try:
        entry: Entry | None = Entry.from_json(body["entry"])
    except (KeyError, TypeError):
        report.breaks.append(f"record {sequence} holds no valid entry (changed or forged)")
        entry = None
    return Record(sequence, sha256(data), body, entry)


def _check_record(
    record: Record, prefix: str, previous: Record | None, sequence: int, report: Report
) -> None:
    body = record.body
    if body.get("format") != FORMAT:
        report.breaks.append(f"record {sequence} has format {body.get('format')!r}, not {FORMAT}")
    if body.get("ledger") != prefix:
        report.breaks.append(
            f"record {sequence} belongs to the ledger {body.get('ledger')!r}, not {prefix!r} (replayed)"
        )
    if body.get("sequence") != sequence:
        report.breaks.append(
            f"record {sequence} holds sequence number {body.get('sequence')!r} (reordered or replayed)"
        )
    if _moment(body.get("appended_at")) is None:
        report.breaks.append(f"record {sequence} has no valid appended_at (an ISO 8601 time with its zone)")
    if sequence == 0 and body.get("previous_sha256") != GENESIS:
        report.breaks.append("record 0 does not start the chain (its previous hash is not the genesis)")
    if previous is not None:
        if body.get("previous_sha256") != previous.sha256:
            report.breaks.append(
                f"record {sequence} does not chain to record {sequence - 1}: the previous hash it holds "
                f"is not record {sequence - 1}'s (one of them changed, or the chain was reordered or forked)"
            )
        if str(body.get("appended_at")) < str(previous.body.get("appended_at")):
            report.breaks.append(f"record {sequence} was appended before record {sequence - 1} (reordered)")


def _check_retention(
    s3: Any, bucket: str, versions: KeyVersions, record: Record, report: Report, days: int | None
) -> None:
    first = versions.first
    assert first is not None
    promised, appended = (_moment(record.body.get(name)) for name in ("retain_until", "appended_at"))
    if promised is None:
        report.breaks.append(
            f"record {record.sequence} has no valid retain_until ({record.body.get('retain_until')!r}: an "
            "ISO 8601 time with its zone)"
        )
        return
    head = s3.head_object(Bucket=bucket, Key=versions.key, VersionId=first["VersionId"])
    mode, until = head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate")
    if mode != "COMPLIANCE" or until is None or until < promised:
        report.breaks.append(
            f"record {record.sequence} is not retained in compliance mode until {promised.isoformat()} "
            f"as written (mode {mode}, until {until.isoformat() if until else None})"
        )
    if days is not None and appended is not None and promised < appended + timedelta(days=days):
        report.breaks.append(
            f"record {record.sequence} is retained until {promised.isoformat()}, less than the {days} days "
            "after it was appended that the setting requires"
        )


def _moment(value: Any) -> datetime | None:
    """An aware time from a record's ISO 8601 text; None for anything else."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else None


def _check_entries(report: Report) -> None:
    """The same warehouse record twice, and a job claimed by two runs: replays."""
    seen: dict[tuple[str, str, str], int] = {}
    job_runs: dict[str, tuple[str, int]] = {}
    for record in report.records:
        entry = record.entry
        if entry is None:
            continue
        name = (entry.kind, entry.run_id, entry.recorded_at)
        if name in seen:
            report.breaks.append(
                f"record {record.sequence} repeats record {seen[name]}'s {entry.kind} record of run "
                f"{entry.run_id} recorded at {entry.recorded_at} (replayed)"
            )
        seen.setdefault(name, record.sequence)
        for arn in [job.arn for job in entry.deletion_jobs] + [job.arn for job in entry.export_jobs]:
            run, first = job_runs.setdefault(arn, (entry.run_id, record.sequence))
            if run != entry.run_id:
                report.breaks.append(
                    f"record {record.sequence} claims the job {arn} of run {run} (record {first}) for run "
                    f"{entry.run_id} (replayed)"
                )
