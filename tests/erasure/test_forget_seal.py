"""The seal of the mapped tasks' result records: a dry run's record step counts only what a task made."""

from __future__ import annotations

from airflow_provider_personalize_deletion.erasure.forget_seal import result_seal, sealed_records

KEY = b"forget-seal-key-" + b"5a" * 16
RUN = ("personalize_forget_backlog", "manual__1")
RECORD = {"location": "s3://b/k", "format": "csv", "outcome": "would_forget", "records_removed": 2}


def sealed(record: dict, key: bytes = KEY, run: tuple[str, str] = RUN) -> dict:
    return {**record, "seal": result_seal(key, run)(record)}


def test_a_sealed_record_holds_and_a_changed_one_does_not():
    forged = {**sealed(RECORD), "outcome": "no_match"}
    unsealed = dict(RECORD)

    authentic, refused = sealed_records(KEY, RUN, [sealed(RECORD), forged, unsealed, "text", None])

    assert authentic == [sealed(RECORD)]
    assert refused == 4


def test_a_record_sealed_under_another_key_or_for_another_run_does_not_hold():
    other_run = sealed(RECORD, run=(RUN[0], "manual__2"))
    other_key = sealed(RECORD, key=b"another-key-0123456789")

    assert sealed_records(KEY, RUN, [other_run, other_key]) == ([], 2)
