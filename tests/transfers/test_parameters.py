"""check_key_prefix: the folder the deletion files are written under; the part files' names."""

from __future__ import annotations

import re

import pytest

from airflow_provider_personalize_deletion.transfers.parameters import (
    KEY_PREFIX_CHARACTERS,
    PART_NAME_PATTERN,
    InvalidTransferParameterError,
    check_key_prefix,
)

BUCKET = "erasure-files"


@pytest.mark.parametrize(
    "key_prefix",
    [
        "erasure-runs/../other-team",
        "..",
        ".",
        "./x",
        "x/.",
        "x/..",
        "/../other-team/",
        "erasure-runs/./run-1",
    ],
)
def test_a_dot_or_dot_dot_folder_is_refused_without_quoting_the_value(key_prefix):
    with pytest.raises(InvalidTransferParameterError) as error:
        check_key_prefix(BUCKET, key_prefix)

    assert error.value.parameter == "s3_key_prefix"
    assert str(error.value) == (
        "Invalid s3_key_prefix: must not hold a '.' or '..' folder name (relative path segments)"
    )


@pytest.mark.parametrize(
    ("key_prefix", "normalised"),
    [
        ("/erasure-runs/run-1/", "erasure-runs/run-1"),
        ("erasure-runs/run.1", "erasure-runs/run.1"),
        ("erasure-runs/.hidden/...", "erasure-runs/.hidden/..."),
        ("erasure-runs/run-1..2", "erasure-runs/run-1..2"),
    ],
)
def test_dots_inside_a_folder_name_and_outer_slashes_are_accepted(key_prefix, normalised):
    assert check_key_prefix(BUCKET, key_prefix) == normalised


@pytest.mark.parametrize("key_prefix", ["erasure-runs//run-1", "/erasure-runs//run-1/"])
def test_an_empty_folder_name_is_still_refused(key_prefix):
    with pytest.raises(InvalidTransferParameterError, match="empty folder name"):
        check_key_prefix(BUCKET, key_prefix)


@pytest.mark.parametrize(
    "key_prefix",
    [
        "erasure-runs/%2e%2e/x",  # ../ once a tool URL-decodes the key
        "erasure-runs/\uff0e\uff0e/x",  # fullwidth full stops, '..' after NFKC
        "erasure-runs/\u2025/x",  # two dot leader, '..' after NFKC
        "erasure-runs\\..\\x",  # a Windows path
        "erasure-runs/\x00/x",
        "erasure-runs/run-1\n",
        "erasure-runs/\u202ex",  # right-to-left override
        "erasure-runs/run 1",
        "erasure-runs/run:1+2",
        "erasure-runs/r\u00e9sum\u00e9",
    ],
)
def test_a_character_outside_the_safe_set_is_refused_without_quoting_the_value(key_prefix):
    with pytest.raises(InvalidTransferParameterError) as error:
        check_key_prefix(BUCKET, key_prefix)

    assert error.value.parameter == "s3_key_prefix"
    assert str(error.value) == (f"Invalid s3_key_prefix: may hold only {KEY_PREFIX_CHARACTERS}")


@pytest.mark.parametrize(
    "key_prefix",
    ["erasure-runs", "Erasure_Runs/2026-12-07/run.1", "a!b*c'd(e)f/g-h_i.j", "0/1/2", "/x/"],
)
def test_every_safe_character_is_accepted(key_prefix):
    assert check_key_prefix(BUCKET, key_prefix) == key_prefix.strip("/")


@pytest.mark.parametrize(
    "digits", ["\u0660\u0660\u0660\u0660\u0661", "\uff10\uff10\uff10\uff10\uff11", "0000\u0663"]
)
def test_the_part_file_name_takes_ascii_digits_only(digits):
    from airflow_provider_personalize_deletion.erasure.cleanup import deletion_file_key_pattern

    assert re.fullmatch(PART_NAME_PATTERN, "part-00001.csv")
    assert not re.fullmatch(PART_NAME_PATTERN, f"part-{digits}.csv")
    pattern = deletion_file_key_pattern("erasure-runs")
    assert pattern.fullmatch("erasure-runs/0123456789abcdef/1/part-00001.csv")
    assert not pattern.fullmatch(f"erasure-runs/0123456789abcdef/1/part-{digits}.csv")
    assert not pattern.fullmatch("erasure-runs/0123456789abcdef/1\u0660/part-00001.csv")
