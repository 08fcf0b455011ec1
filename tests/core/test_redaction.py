"""redact_failure_reason: what the service writes about a job, safe to log and store."""

from __future__ import annotations

import pytest

from airflow_provider_personalize_deletion.utils.redaction import (
    MAX_REASON_LENGTH,
    REDACTED,
    redact_failure_reason,
)

#: Ids of every shape a warehouse may hold: plain words, non-ASCII, dotted, hyphenated, numeric, two words.
USER_IDS = [
    "zorblax",
    "alice",
    "jürgen",
    "Øyvind",
    "bob.smith",
    "jean-luc",
    "ALICE_SMITH",
    "987",
    "(alice)",
    "mary o'neil",
    "customer-4711",
    "a1b2c3",
    "alice@example.com",
    "0042317",
    "9f86d081884c7d659a2feaa0c55ad015",
]


def test_none_stays_none():
    assert redact_failure_reason(None) is None


@pytest.mark.parametrize("user_id", USER_IDS)
@pytest.mark.parametrize(
    "template",
    [
        "User {} could not be deleted",
        "Invalid user id: {}",
        "Row 2 ({}) is not valid",
        "User {} could not be read from the input",
        "{} 17 rows",
    ],
)
def test_an_id_of_any_shape_is_replaced(user_id, template):
    redacted = redact_failure_reason(template.format(user_id))
    assert user_id.strip("()") not in redacted
    assert REDACTED in redacted


@pytest.mark.parametrize(
    ("reason", "redacted"),
    [
        (
            "User zorblax could not be read from the input",
            f"User {REDACTED} could not be read from the input",
        ),
        ("Invalid user id: 987", f"Invalid user id: {REDACTED}"),
        ("Row 2 (987) is not valid", f"Row 2 ({REDACTED}) is not valid"),
        ("User bob.smith could not be deleted", f"User {REDACTED} could not be deleted"),
    ],
)
def test_only_the_id_is_replaced(reason, redacted):
    assert redact_failure_reason(reason) == redacted


def test_a_run_of_unknown_words_becomes_one_redaction():
    assert redact_failure_reason("User mary jane o'neil could not be deleted") == (
        f"User {REDACTED} could not be deleted"
    )


@pytest.mark.parametrize(
    "reason",
    [
        "User 'alice' could not be read",
        'User "alice" could not be read',
        "User `alice` could not be read",
        "User \u2018alice\u2019 could not be read",
        "User \u201calice\u201d could not be read",
        "User 'access denied' could not be read",  # quoted: a value, even when made of known words
    ],
)
def test_quoted_values_are_replaced(reason):
    assert redact_failure_reason(reason) == f"User {REDACTED} could not be read"


@pytest.mark.parametrize(
    "reason",
    [
        "Access Denied reading s3://bucket/erasure-runs/0123456789abcdef/1/part-00000.csv",
        "Input file has an invalid header: expected USER_ID",
        "The input exceeds the size limit",
        "Insufficient privileges to read the input",
        "Internal service error.",
        "Record 3 of the input file s3://erasure-files/run-1/part-00000.csv has 2 columns; "
        "expected the single column USER_ID.",
        "The input data at s3://erasure-files/run-1/ is 1,048,576 bytes, more than the maximum of "
        "1000 bytes for a data deletion job.",
        "The object s3://erasure-files/run-1/part-00000.csv is encrypted with a customer managed AWS KMS "
        "key, which data deletion jobs do not support. Use server-side encryption with Amazon S3 "
        "managed keys (SSE-S3).",
        "An error occurred (AccessDenied) when calling the GetObject operation: Access Denied",
        "An error occurred (ResourceNotFoundException) when calling the DescribeDataDeletionJob "
        "operation: Could not find arn:aws:personalize:us-east-1:123456789012:data-deletion-job/erase-1",
        "User: arn:aws:sts::123456789012:assumed-role/PersonalizeDeletion/session is not authorized to "
        "perform: s3:GetObject on resource: arn:aws:s3:::erasure-files/run-1/part-00000.csv because no "
        "identity-based policy allows the s3:GetObject action",
        "Access Denied (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied)",
        "Row 17 has 3 columns",
        "See https://docs.aws.amazon.com/personalize/latest/dg/delete-records.html",
    ],
)
def test_the_wording_of_realistic_reasons_is_kept(reason):
    assert redact_failure_reason(reason) == reason


@pytest.mark.parametrize(
    ("reason", "redacted"),
    [
        ("User 987 could not be deleted", f"User {REDACTED} could not be deleted"),
        ("User 987 rows", f"User {REDACTED} rows"),  # after an id word, never a count
        ("Could not delete 987", f"Could not delete {REDACTED}"),
        ("Row: 987", f"Row: {REDACTED}"),  # a position is written "row 987", not "row: 987"
        ("Error 987 for row 5", f"Error {REDACTED} for row 5"),
        ("HTTP 987", f"HTTP {REDACTED}"),  # not a status code
        ("HTTP 503", "HTTP 503"),
    ],
)
def test_a_number_is_kept_only_as_a_position_a_count_or_a_status(reason, redacted):
    assert redact_failure_reason(reason) == redacted


def test_a_documentation_link_keeps_no_query():
    assert redact_failure_reason("See https://docs.aws.amazon.com/personalize/?user=alice") == (
        f"See https://docs.aws.amazon.com/personalize/?{REDACTED}"
    )


def test_arns_and_s3_uris_are_kept_next_to_punctuation():
    reason = (
        "Role arn:aws:iam::123456789012:role/PersonalizeDeletion cannot read "
        "(s3://erasure-requests/run-1/part-00000.csv)"
    )
    assert redact_failure_reason(reason) == reason


def test_symbols_and_emoji_are_replaced_punctuation_is_kept():
    assert (
        redact_failure_reason("User $$$ or \U0001f600 - (invalid).")
        == f"User {REDACTED} or {REDACTED} - (invalid)."
    )


def test_control_and_format_characters_cannot_hide_or_forge_text():
    assert redact_failure_reason("User ali\u200bce \x1b[31m\x00 could not be read") == (
        f"User {REDACTED} [{REDACTED} could not be read"
    )


def test_redacting_twice_changes_nothing():
    once = redact_failure_reason("User 'alice' in row 17 of s3://bucket/key.csv: bob.smith <jürgen>")
    assert redact_failure_reason(once) == once


def test_the_reason_is_bounded():
    redacted = redact_failure_reason("access denied " * 1000)
    assert len(redacted) == MAX_REASON_LENGTH
    assert redacted.endswith("…")


def test_whitespace_is_folded_so_a_reason_takes_one_log_line():
    assert redact_failure_reason("Input\nfile\t is   empty") == "Input file is empty"
