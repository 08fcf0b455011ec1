"""The chain: a clean ledger verifies, and each kind of tampering is a break that names the record."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from airflow_provider_personalize_deletion.ledger.chain import walk_chain
from airflow_provider_personalize_deletion.ledger.record import (
    GENESIS,
    NOT_TAMPER_EVIDENT,
    canonical,
    new_record,
    record_key,
    sha256,
)
from airflow_provider_personalize_deletion.ledger.writer import (
    LedgerError,
    LedgerNotLockedError,
    LedgerWriter,
)
from tests.ledger.conftest import START, breaks, entry, fill
from tests.plugins.ledger import LEDGER_PREFIX


def body(writer: LedgerWriter, sequence: int) -> bytes:
    return writer.s3.get_object(Bucket=writer.bucket, Key=record_key(writer.prefix, sequence))["Body"].read()


def test_a_clean_chain_verifies(writer):
    fill(writer, 4)
    report = walk_chain(writer.s3, writer.bucket, writer.prefix)
    assert report.breaks == []
    assert [record.sequence for record in report.records] == [0, 1, 2, 3]
    assert report.records[0].body["previous_sha256"] == GENESIS
    assert report.records[3].body["previous_sha256"] == report.records[2].sha256


def test_each_record_is_locked_in_compliance_mode_for_the_retention(writer):
    now = datetime.now(timezone.utc)
    appended = writer.append(entry(0), now)
    head = writer.s3.head_object(Bucket=writer.bucket, Key=appended.key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] >= now + timedelta(days=3) - timedelta(seconds=1)


def test_object_lock_refuses_deleting_a_record(writer):
    appended = writer.append(entry(0), START)
    with pytest.raises(ClientError, match="AccessDenied"):
        writer.s3.delete_object(Bucket=writer.bucket, Key=appended.key, VersionId=appended.version_id)
    assert breaks(writer) == []


def test_a_record_overwritten_by_a_later_version_is_a_break(writer):
    fill(writer, 3)
    forged = body(writer, 1).replace(b"nothing_to_erase", b"erased")
    writer.s3.put_object(Bucket=writer.bucket, Key=record_key(writer.prefix, 1), Body=forged)
    assert breaks(writer) == [
        "record 1 was overwritten: its key has 1 later version(s) "
        "(forged; the first version is the one verified)"
    ]


def test_a_record_hidden_by_a_delete_marker_is_a_break(writer):
    fill(writer, 3)
    writer.s3.delete_object(Bucket=writer.bucket, Key=record_key(writer.prefix, 1))
    assert breaks(writer) == ["record 1 is hidden by 1 delete marker(s)"]


def test_a_changed_record_breaks_the_chain(unlocked_writer):
    fill(unlocked_writer, 3)
    changed = body(unlocked_writer, 1).replace(b"nothing_to_erase", b"erased")
    unlocked_writer.s3.put_object(
        Bucket=unlocked_writer.bucket, Key=record_key(LEDGER_PREFIX, 1), Body=changed
    )
    assert breaks(unlocked_writer, allow_unlocked=True) == [
        "record 2 does not chain to record 1: the previous hash it holds is not record 1's (one of them "
        "changed, or the chain was reordered or forked)"
    ]


def test_a_removed_record_is_a_gap(unlocked_writer):
    fill(unlocked_writer, 4)
    unlocked_writer.s3.delete_object(Bucket=unlocked_writer.bucket, Key=record_key(LEDGER_PREFIX, 2))
    assert breaks(unlocked_writer, allow_unlocked=True) == [
        "record 2 is missing (a gap in the sequence: removed)"
    ]


def test_a_removed_last_record_is_caught_by_the_warehouse_comparison_only(unlocked_writer):
    """Removing the head leaves a shorter valid chain: only the warehouse (or the index) can tell."""
    fill(unlocked_writer, 3)
    unlocked_writer.s3.delete_object(Bucket=unlocked_writer.bucket, Key=record_key(LEDGER_PREFIX, 2))
    assert breaks(unlocked_writer, allow_unlocked=True) == []


def test_a_reordered_chain_is_a_break(unlocked_writer):
    fill(unlocked_writer, 4)
    first, second = body(unlocked_writer, 1), body(unlocked_writer, 2)
    s3, bucket = unlocked_writer.s3, unlocked_writer.bucket
    s3.put_object(Bucket=bucket, Key=record_key(LEDGER_PREFIX, 1), Body=second)
    s3.put_object(Bucket=bucket, Key=record_key(LEDGER_PREFIX, 2), Body=first)
    found = breaks(unlocked_writer, allow_unlocked=True)
    assert "record 1 holds sequence number 2 (reordered or replayed)" in found
    assert "record 2 holds sequence number 1 (reordered or replayed)" in found
    assert "record 2 was appended before record 1 (reordered)" in found


def test_a_replayed_record_copied_to_the_next_key_is_a_break(writer):
    fill(writer, 3)
    writer.s3.put_object(Bucket=writer.bucket, Key=record_key(writer.prefix, 3), Body=body(writer, 0))
    found = breaks(writer)
    assert "record 3 holds sequence number 0 (reordered or replayed)" in found
    assert "record 3 does not start the chain" not in " ".join(found)
    assert any(item.startswith("record 3 does not chain to record 2") for item in found)
    assert "record 3 repeats record 0's erasure_run record of run scheduled__run-0 recorded at " in " ".join(
        found
    )


def test_a_forged_record_appended_well_formed_but_replaying_an_entry_is_a_break(writer):
    fill(writer, 2)
    writer.append(entry(0), START + timedelta(hours=5))
    assert breaks(writer) == [
        f"record 2 repeats record 0's erasure_run record of run scheduled__run-0 recorded at "
        f"{entry(0).recorded_at} (replayed)"
    ]


def test_a_record_of_another_ledger_is_a_break(writer):
    fill(writer, 1)
    head = sha256(body(writer, 0))
    foreign = new_record("other-ledger", 1, head, (START + timedelta(hours=1)).isoformat(), None, entry(1))
    writer.s3.put_object(Bucket=writer.bucket, Key=record_key(writer.prefix, 1), Body=canonical(foreign))
    found = breaks(writer)
    assert "record 1 belongs to the ledger 'other-ledger', not 'ledger/erasure' (replayed)" in found
    assert (
        "record 1 was written without Object Lock in a bucket with Object Lock: nothing protects it (forged)"
        in found
    )


def test_an_object_that_is_not_a_record_is_a_break(writer):
    fill(writer, 1)
    writer.s3.put_object(Bucket=writer.bucket, Key=f"{writer.prefix}/000000000001.json.bak", Body=b"{}")
    assert breaks(writer) == [
        f"{writer.prefix}/000000000001.json.bak is not a ledger record "
        "(forged object under the ledger's prefix)"
    ]


def test_a_record_that_is_not_canonical_json_is_a_break(unlocked_writer):
    fill(unlocked_writer, 2)
    spaced = body(unlocked_writer, 1).replace(b",", b", ")
    unlocked_writer.s3.put_object(
        Bucket=unlocked_writer.bucket, Key=record_key(LEDGER_PREFIX, 1), Body=spaced
    )
    assert breaks(unlocked_writer, allow_unlocked=True) == [
        "record 1 is not a record in canonical JSON (changed or forged)"
    ]


def test_a_shortened_retention_is_a_break(writer):
    """Real S3 refuses to shorten a compliance retention; moto does not, so the verifier checks it."""
    appended = writer.append(entry(0), datetime.now(timezone.utc))
    writer.s3.put_object_retention(
        Bucket=writer.bucket,
        Key=appended.key,
        VersionId=appended.version_id,
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": datetime.now(timezone.utc) + timedelta(hours=1)},
    )
    (found,) = breaks(writer)
    assert found.startswith("record 0 is not retained in compliance mode until ")


def test_two_writers_racing_for_the_same_sequence_do_not_fork_the_chain(s3_client, ledger_bucket):
    first = LedgerWriter(s3_client, ledger_bucket, LEDGER_PREFIX, retention_days=3)
    second = LedgerWriter(s3_client, ledger_bucket, LEDGER_PREFIX, retention_days=3)
    first.append(entry(0), START)
    read_head = first.head
    raced = []

    def head_then_lose_the_race():
        found = read_head()
        if not raced:  # the other writer appends between this head and this write
            raced.append(second.append(entry(1), START + timedelta(hours=1)))
        return found

    first.head = head_then_lose_the_race  # type: ignore[method-assign]
    appended = first.append(entry(2), START + timedelta(hours=2))
    assert (raced[0].sequence, appended.sequence) == (1, 2)
    report = walk_chain(s3_client, ledger_bucket, LEDGER_PREFIX)
    assert report.breaks == []
    assert [record.entry.run_id for record in report.records] == [
        "scheduled__run-0",
        "scheduled__run-1",
        "scheduled__run-2",
    ]


def test_concurrent_appends_from_threads_all_land_on_one_chain(s3_client, ledger_bucket):
    from concurrent.futures import ThreadPoolExecutor

    import boto3

    def append(number: int) -> int:
        client = boto3.client("s3", endpoint_url=s3_client.meta.endpoint_url, region_name="us-east-1")
        writer = LedgerWriter(client, ledger_bucket, LEDGER_PREFIX, retention_days=3, max_attempts=50)
        return writer.append(entry(number), START).sequence

    with ThreadPoolExecutor(max_workers=4) as pool:
        sequences = list(pool.map(append, range(8)))
    assert sorted(sequences) == list(range(8))
    report = walk_chain(s3_client, ledger_bucket, LEDGER_PREFIX)
    assert report.breaks == []
    assert {record.entry.run_id for record in report.records} == {f"scheduled__run-{n}" for n in range(8)}


def test_a_bucket_without_object_lock_is_refused(s3_client, unlocked_bucket):
    writer = LedgerWriter(s3_client, unlocked_bucket, LEDGER_PREFIX, retention_days=3)
    with pytest.raises(LedgerNotLockedError, match=r"ledger_allow_unlocked"):
        writer.append(entry(0), START)
    assert s3_client.list_objects_v2(Bucket=unlocked_bucket).get("KeyCount") == 0


def test_a_ledger_allowed_without_object_lock_says_not_tamper_evident(unlocked_writer):
    fill(unlocked_writer, 2)
    assert all(NOT_TAMPER_EVIDENT.encode() in body(unlocked_writer, n) for n in (0, 1))
    strict = walk_chain(unlocked_writer.s3, unlocked_writer.bucket, LEDGER_PREFIX)
    assert f"the bucket {unlocked_writer.bucket} has no Object Lock: the ledger is {NOT_TAMPER_EVIDENT}" in (
        strict.breaks
    )
    allowed = walk_chain(unlocked_writer.s3, unlocked_writer.bucket, LEDGER_PREFIX, allow_unlocked=True)
    assert allowed.breaks == []
    assert len([note for note in allowed.notes if NOT_TAMPER_EVIDENT in note]) == 3


@pytest.mark.parametrize("days", [0, 36_501])
def test_a_retention_out_of_range_is_refused_before_any_call(days):
    with pytest.raises(ValueError, match="retention_days"):
        LedgerWriter(object(), "bucket", "prefix", retention_days=days)


def forge_next(writer: LedgerWriter, sequence: int, retain_until: datetime | None, **put) -> None:
    """Write a well-formed record after ``sequence - 1``, as the pipeline's credentials can."""
    previous = sha256(body(writer, sequence - 1))
    appended_at = START + timedelta(hours=sequence)
    record = new_record(
        writer.prefix,
        sequence,
        previous,
        appended_at.isoformat(),
        retain_until.isoformat() if retain_until else None,
        entry(sequence),
    )
    writer.s3.put_object(
        Bucket=writer.bucket, Key=record_key(writer.prefix, sequence), Body=canonical(record), **put
    )


def test_a_retention_shorter_than_the_setting_is_a_break(writer):
    """The writer's own retention_days (3) is not the auditor's setting (30): the record says 3."""
    fill(writer, 1)
    assert walk_chain(writer.s3, writer.bucket, writer.prefix, retention_days=3).breaks == []
    (found,) = walk_chain(writer.s3, writer.bucket, writer.prefix, retention_days=30).breaks
    assert found.startswith("record 0 is retained until ")
    assert found.endswith(", less than the 30 days after it was appended that the setting requires")


@pytest.mark.parametrize("legal_hold", ["ON", "OFF"])
def test_a_record_in_governance_mode_is_a_break_with_or_without_a_legal_hold(writer, legal_hold):
    fill(writer, 1)
    until = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=3)
    forge_next(
        writer,
        1,
        until,
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=until,
        ObjectLockLegalHoldStatus=legal_hold,
    )
    (found,) = breaks(writer)
    assert found.startswith("record 1 is not retained in compliance mode until ")
    assert "(mode GOVERNANCE, until " in found


def test_a_record_without_retention_in_a_locked_bucket_is_a_break_even_when_unlocked_is_allowed(writer):
    """``--allow-unlocked`` excuses a bucket without Object Lock, never an unlocked record in a locked one."""
    fill(writer, 1)
    forge_next(writer, 1, None)
    assert breaks(writer, allow_unlocked=True) == [
        "record 1 was written without Object Lock in a bucket with Object Lock: nothing protects it (forged)"
    ]


@pytest.mark.parametrize("retain_until", ["soon", "2099-01-01T00:00:00", None])
def test_a_record_with_a_malformed_retention_date_is_a_break_not_a_crash(writer, retain_until):
    fill(writer, 1)
    previous = sha256(body(writer, 0))
    record = new_record(
        writer.prefix,
        1,
        previous,
        (START + timedelta(hours=1)).isoformat(),
        "2099-01-01T00:00:00+00:00",
        entry(1),
    )
    record["retain_until"] = retain_until
    until = datetime.now(timezone.utc) + timedelta(days=3)
    writer.s3.put_object(
        Bucket=writer.bucket,
        Key=record_key(writer.prefix, 1),
        Body=canonical(record),
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until,
    )
    assert breaks(writer) == [
        f"record 1 has no valid retain_until ({retain_until!r}: an ISO 8601 time with its zone)"
    ]


def test_an_oversized_object_is_a_break_and_is_not_read(writer):
    fill(writer, 1)
    writer.s3.put_object(Bucket=writer.bucket, Key=record_key(writer.prefix, 1), Body=b"x" * 4096)
    report = walk_chain(writer.s3, writer.bucket, writer.prefix, max_record_bytes=1024)
    assert report.breaks == ["record 1 is 4096 bytes, more than a record's 1024 (forged): not read"]


@pytest.mark.parametrize(
    "field, value",
    [
        ("kind", {"a": 1}),
        ("run_id", ["x"]),
        ("request_ids", "abc"),
        ("deletion_jobs", [{"arn": ["x"], "dataset_group_arn": "g", "status": "COMPLETED"}]),
    ],
)
def test_an_entry_of_the_wrong_shape_is_a_break_not_a_crash(unlocked_writer, field, value):
    fill(unlocked_writer, 1)
    previous = sha256(body(unlocked_writer, 0))
    record = new_record(LEDGER_PREFIX, 1, previous, (START + timedelta(hours=1)).isoformat(), None, entry(1))
    record["entry"][field] = value
    unlocked_writer.s3.put_object(
        Bucket=unlocked_writer.bucket, Key=record_key(LEDGER_PREFIX, 1), Body=canonical(record)
    )
    assert breaks(unlocked_writer, allow_unlocked=True) == [
        "record 1 holds no valid entry (changed or forged)"
    ]


def test_a_record_without_a_valid_append_time_is_a_break(unlocked_writer):
    fill(unlocked_writer, 1)
    record = new_record(LEDGER_PREFIX, 1, sha256(body(unlocked_writer, 0)), "9999", None, entry(1))
    unlocked_writer.s3.put_object(
        Bucket=unlocked_writer.bucket, Key=record_key(LEDGER_PREFIX, 1), Body=canonical(record)
    )
    assert breaks(unlocked_writer, allow_unlocked=True) == [
        "record 1 has no valid appended_at (an ISO 8601 time with its zone)"
    ]


def test_a_record_planted_far_ahead_is_one_gap_not_a_break_per_missing_number(unlocked_writer):
    """An object at sequence 10**6 (or 10**12 - 1) must not make the verifier count every number up to it."""
    fill(unlocked_writer, 1)
    far = 1_000_000
    unlocked_writer.s3.put_object(
        Bucket=unlocked_writer.bucket, Key=record_key(LEDGER_PREFIX, far), Body=body(unlocked_writer, 0)
    )
    found = breaks(unlocked_writer, allow_unlocked=True)
    assert (
        found[0]
        == f"records 1 to {far - 1} are missing ({far - 1} record(s): a gap in the sequence: removed)"
    )
    assert found[1:] == [
        f"record {far} holds sequence number 0 (reordered or replayed)",
        f"record {far} repeats record 0's erasure_run record of run scheduled__run-0 recorded at "
        f"{entry(0).recorded_at} (replayed)",
    ]


def test_a_ledger_longer_than_one_listing_page_is_read_whole(unlocked_writer):
    """S3 lists 1000 versions a page: record 1000 on and a gap after it are on the second page."""
    s3, bucket = unlocked_writer.s3, unlocked_writer.bucket
    previous = GENESIS
    for sequence in [*range(1005), 1006]:
        appended = (START + timedelta(seconds=sequence)).isoformat()
        data = canonical(new_record(LEDGER_PREFIX, sequence, previous, appended, None, entry(sequence)))
        s3.put_object(Bucket=bucket, Key=record_key(LEDGER_PREFIX, sequence), Body=data)
        previous = sha256(data)
    report = walk_chain(s3, bucket, LEDGER_PREFIX, allow_unlocked=True)
    assert len(report.records) == 1006
    assert report.breaks == [
        "record 1005 is missing (a gap in the sequence: removed)",
    ]


def test_the_writer_refuses_to_read_an_oversized_object_planted_at_the_head(s3_client, ledger_bucket):
    writer = LedgerWriter(s3_client, ledger_bucket, LEDGER_PREFIX, retention_days=3, max_record_bytes=1024)
    fill(writer, 1)
    s3_client.put_object(Bucket=ledger_bucket, Key=record_key(LEDGER_PREFIX, 1), Body=b"x" * 4096)
    with pytest.raises(LedgerError, match=r"000000000001\.json is larger than any record \(1024 bytes\)"):
        writer.append(entry(2), START + timedelta(hours=2))
    assert "Contents" not in s3_client.list_objects_v2(
        Bucket=ledger_bucket, Prefix=record_key(LEDGER_PREFIX, 2)
    )
