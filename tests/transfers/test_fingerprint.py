"""The keyed fingerprint of an id set: the same under the same key, no clue to the ids without it."""

from __future__ import annotations

import hashlib

import pytest

from airflow_provider_personalize_deletion.deletion_file.builder import DeletionFileBuilder
from airflow_provider_personalize_deletion.deletion_file.csv_file import MIN_FILE_BYTES

KEY = b"a-secret-key-of-32-bytes-exactly"


def fingerprint(ids: list[str], key: bytes = KEY) -> str:
    with DeletionFileBuilder(MIN_FILE_BYTES, fingerprint_key=key) as builder:
        builder.add(ids)
        builder.count_and_fingerprint()
        return builder.fingerprint


def test_a_lone_id_cannot_be_recovered_from_its_fingerprint_without_the_key():
    value = fingerprint(["customer-4711"])
    assert value.startswith("hmac-sha256:")
    assert value.removeprefix("hmac-sha256:") != hashlib.sha256(b"customer-4711\n").hexdigest()
    assert value != fingerprint(["customer-4711"], key=b"another-key-of-the-same-length!!")


def test_the_same_key_gives_the_same_fingerprint_for_the_same_set():
    assert fingerprint(["b", "a", "b"]) == fingerprint(["a", "b"])
    assert fingerprint(["a", "b"]) != fingerprint(["a", "c"])


def test_counting_without_files_fingerprints_as_writing_the_files_does():
    ids = [f"user-{number}" for number in range(500)]
    with DeletionFileBuilder(MIN_FILE_BYTES, fingerprint_key=KEY) as builder:
        builder.add(ids)
        list(builder.file_pieces())
        assert (builder.unique_count, builder.fingerprint) == (500, fingerprint(ids))


def test_a_short_key_is_refused():
    with pytest.raises(ValueError, match="at least 16 bytes"):
        DeletionFileBuilder(MIN_FILE_BYTES, fingerprint_key=b"short")
