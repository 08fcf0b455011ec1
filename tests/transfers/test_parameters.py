"""check_key_prefix: the folder the deletion files are written under."""

from __future__ import annotations

import pytest

from airflow_provider_personalize_deletion.transfers.parameters import (
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
