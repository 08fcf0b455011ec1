"""
The membership set of suppressed users: which user ids of a batch are on the suppression list.

The list arrives as HMAC-SHA256 digests of the ids' exact UTF-8 bytes under the fingerprint key, so an
id is looked up by its own HMAC under the same key. Ten million users must fit in well under 300 MiB
with the rest of a scan, so the set keeps :data:`KEY_BYTES` of each digest (not 32, not a Python
``set`` of ``bytes`` objects, which would take about 100 bytes an entry), sorted in one contiguous
buffer, with a directory of bucket starts indexed by the digest's leading bits: a lookup reads one
directory entry and compares with the few keys of its bucket, vectorised over the whole batch.

Truncation: two different digests agree on their first 96 bits with probability 2**-96, so an id that
is not suppressed is taken for a suppressed one with probability at most ``n / 2**96`` (about 1.3e-22
with n = 10 million entries, per id looked up); a suppressed id is always found.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Final

import numpy as np

from airflow_provider_personalize_deletion.scan.native import CsvPrefilter, csv_prefilter

KEY_BYTES: Final = 12
"""Bytes kept of each digest: 8 searched (``>u8``) and 4 confirming (``>u4``)."""
DIGEST_BYTES: Final = 32
_BLOCK_BYTES = 64  # SHA-256's block size, which HMAC pads its key to
_MAX_BUCKET_BITS = 22  # 10 million entries: 2.4 a bucket, a 16 MiB directory
_BUILD_SLICE = 1 << 20
_KEY_DTYPE = np.dtype(f"V{KEY_BYTES}")
_HEAD = np.dtype({"names": ["head", "tail"], "formats": [">u8", ">u4"], "offsets": [0, 8]})
_DIGEST_DTYPE = np.dtype(f"V{DIGEST_BYTES}")
_DIGEST_HEAD = np.dtype(
    {"names": ["head", "tail"], "formats": [">u8", ">u4"], "offsets": [0, 8], "itemsize": DIGEST_BYTES}
)


class UserIdHmac:
    """
    HMAC-SHA256 of user ids under one key, with the key's padded states computed once.

    The result is that of ``hmac.digest(key, user_id, "sha256")``, about twice as fast on short ids: each
    id costs two copies of a prepared hash state instead of setting the key up again.

    :param key: the fingerprint key.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK_BYTES:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK_BYTES, b"\0")
        self._inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in key))
        self._outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in key))

    def digests(self, user_ids: Sequence[bytes]) -> bytes:
        """
        :param user_ids: ids, each its exact UTF-8 bytes.
        :return: their 32-byte digests, concatenated in order.
        """
        inner_copy, outer_copy = self._inner.copy, self._outer.copy
        out: list[bytes] = []
        append = out.append
        for user_id in user_ids:
            inner = inner_copy()
            inner.update(user_id)
            outer = outer_copy()
            outer.update(inner.digest())
            append(outer.digest())
        return b"".join(out)


class SuppressedUsers:
    """
    The suppressed users, as a set that answers for whole batches of ids.

    Holds :data:`KEY_BYTES` bytes per entry plus a directory of at most 2**22 four-byte bucket starts
    (16 MiB): 10 million entries take about 136 MiB. A bucket holds two or three entries on average.

    :param key: the fingerprint key the digests were made with.
    :param digests: the suppression list: 32-byte HMAC-SHA256 digests, in any order, repeats allowed.
    :raises ValueError: a digest is not 32 bytes long.
    """

    def __init__(self, key: bytes, digests: Iterable[bytes]) -> None:
        self._hmac = UserIdHmac(key)
        self._key = key
        buffer = bytearray()  # grows in place (realloc), so building never holds two copies
        for digest in digests:
            if len(digest) != DIGEST_BYTES:
                raise ValueError(f"A suppression list entry must be a {DIGEST_BYTES}-byte digest")
            buffer += digest[:KEY_BYTES]
        keys = np.frombuffer(buffer, dtype=_KEY_DTYPE)
        keys.sort()  # in place; byte order, which is the numeric order of the big-endian head
        self._keys = keys.view(_HEAD) if len(keys) else np.zeros(0, dtype=_HEAD)
        bits = _bucket_bits(len(keys))
        self._bucket_shift = np.uint64(64 - bits)
        self._starts = _bucket_starts(self._keys["head"], self._bucket_shift, 2**bits)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"SuppressedUsers({len(self)} entries)"

    def csv_prefilter(self) -> CsvPrefilter | None:
        """The native pre-filter over this set, for :class:`~.csv_records.CsvRecordReader`; None when the
        scan runs on the Python path (:mod:`~.native` decides)."""
        return csv_prefilter(self._key, self._keys, self._starts, int(self._bucket_shift))

    def matches(self, user_ids: Sequence[bytes]) -> np.ndarray:
        """
        Tell which ids are suppressed.

        :param user_ids: ids, each its exact UTF-8 bytes (as the suppression list hashed them).
        :return: a boolean array, True where the id at that position is suppressed.
        """
        if not user_ids:
            return np.zeros(0, dtype=bool)
        queries = np.frombuffer(self._hmac.digests(user_ids), dtype=_DIGEST_DTYPE)
        heads = queries.view(_DIGEST_HEAD)
        head, tail = heads["head"], heads["tail"]
        bucket = (head >> self._bucket_shift).astype(np.intp)
        position = self._starts[bucket].astype(np.intp)
        end = self._starts[bucket + 1].astype(np.intp)
        found = np.zeros(len(user_ids), dtype=bool)
        open_ = np.nonzero(position < end)[0]
        keys = self._keys
        while len(open_):
            candidate = keys[position[open_]]
            equal = (candidate["head"] == head[open_]) & (candidate["tail"] == tail[open_])
            found[open_[equal]] = True
            position[open_] += 1
            open_ = open_[~equal & (position[open_] < end[open_]) & (candidate["head"] <= head[open_])]
        return found


def _bucket_starts(heads: np.ndarray, shift: np.uint64, buckets: int) -> np.ndarray:
    """
    Where each bucket starts in the sorted keys, and where the last ends (``buckets + 1`` entries).

    Counted a slice of keys at a time, over the buckets that slice spans only (the keys are sorted), so
    that no temporary array of the keys' or the directory's size is made.
    """
    starts = np.zeros(buckets + 1, dtype=np.uint32)
    for first in range(0, len(heads), _BUILD_SLICE):
        slice_buckets = (heads[first : first + _BUILD_SLICE] >> shift).astype(np.intp)
        low = int(slice_buckets[0])
        counts = np.bincount(slice_buckets - low)
        starts[low + 1 : low + 1 + len(counts)] += counts.astype(np.uint32)
    np.cumsum(starts, out=starts)
    return starts


def _bucket_bits(entries: int) -> int:
    """Directory size: one to two entries a bucket (2.4 for 10 million), 2 to 2**22 buckets."""
    return min(_MAX_BUCKET_BITS, max(1, entries.bit_length() - 1))
