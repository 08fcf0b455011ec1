"""The membership set: built from digests, answering for batches of ids by their HMAC."""

from __future__ import annotations

import hmac

import pytest

from airflow_provider_personalize_deletion.scan.suppressed import SuppressedUsers, UserIdHmac

from .conftest import KEY, digest, suppressed


@pytest.mark.parametrize("key", [KEY, b"k" * 64, b"long-key-" * 20], ids=["short", "block", "hashed"])
def test_user_id_hmac_equals_the_standard_hmac(key: bytes) -> None:
    ids = [b"u1", "ünï".encode(), b"x" * 300, b""]
    assert UserIdHmac(key).digests(ids) == b"".join(hmac.digest(key, i, "sha256") for i in ids)


def test_matches_tells_which_ids_are_suppressed() -> None:
    ids = [f"user-{n}".encode() for n in range(5000)]
    members = suppressed(ids[::7] + ids[::7])  # repeats allowed
    assert members.matches(ids).nonzero()[0].tolist() == list(range(0, 5000, 7))
    assert len(members) == 2 * len(ids[::7])


def test_an_id_is_matched_by_its_exact_bytes() -> None:
    members = suppressed([b"User-1"])
    assert members.matches([b"User-1", b"user-1", b"User-1 ", b"User-1\r"]).tolist() == [
        True,
        False,
        False,
        False,
    ]


def test_a_digest_made_with_another_key_matches_nothing() -> None:
    members = SuppressedUsers(b"another-key-" * 3, [digest(b"u1")])
    assert not members.matches([b"u1"]).any()


@pytest.mark.parametrize("entries", [0, 1, 2, 3, 1000])
def test_small_sets_answer_every_id(entries: int) -> None:
    ids = [f"u{n}".encode() for n in range(entries + 50)]
    assert suppressed(ids[:entries]).matches(ids).tolist() == [n < entries for n in range(len(ids))]


def test_an_entry_that_is_not_a_digest_is_refused() -> None:
    with pytest.raises(ValueError, match="32-byte digest"):
        SuppressedUsers(KEY, [b"u1"])


def test_repr_holds_no_entry() -> None:
    assert repr(suppressed([b"u1", b"u2"])) == "SuppressedUsers(2 entries)"
