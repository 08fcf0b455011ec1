"""redact_failure_reason: what the service writes about a job, safe to log and store."""

from __future__ import annotations

import pytest

from airflow_provider_personalize_deletion.utils.redaction import (
    MAX_REASON_LENGTH,
    REDACTED,
    redact_failure_reason,
)


def test_none_stays_none():
    assert redact_failure_reason(None) is None


@pytest.mark.parametrize(
    "reason",
    [
        "User 'alice' could not be read",
        'User "alice" could not be read',
        "User `alice` could not be read",
        "User \u2018alice\u2019 could not be read",
        "User \u201calice\u201d could not be read",
    ],
)
def test_quoted_values_are_replaced(reason):
    assert redact_failure_reason(reason) == f"User {REDACTED} could not be read"


@pytest.mark.parametrize("user_id", ["customer-4711", "a1b2c3", "alice@example.com", "4711", "0042317"])
def test_id_shaped_words_and_numeric_ids_are_replaced(user_id):
    redacted = redact_failure_reason(f"Row for {user_id} is invalid")
    assert user_id not in redacted
    assert redacted == f"Row for {REDACTED} is invalid"


def test_short_numbers_and_plain_words_are_kept():
    assert redact_failure_reason("Row 17 has 3 columns") == "Row 17 has 3 columns"


def test_arns_and_s3_uris_are_kept():
    reason = (
        "Role arn:aws:iam::123456789012:role/PersonalizeDeletion cannot read "
        "s3://erasure-requests/run-1/part-00000.csv"
    )
    assert redact_failure_reason(reason) == reason


def test_the_reason_is_bounded():
    redacted = redact_failure_reason("word " * 1000)
    assert len(redacted) == MAX_REASON_LENGTH
    assert redacted.endswith("…")


def test_whitespace_is_folded_so_a_reason_takes_one_log_line():
    assert redact_failure_reason("Input\nfile\t is   empty") == "Input file is empty"
