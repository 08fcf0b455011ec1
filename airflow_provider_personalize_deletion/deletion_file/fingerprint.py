"""
The keyed fingerprint of a set of user ids: what tells two exports of the same users apart from others.

An unkeyed digest of a small set can be reversed by trying candidate ids (a loop over
``customer-NNNN`` finds a lone id in milliseconds), so the fingerprint is an HMAC-SHA256 under a
secret key. Without the key it says nothing about the ids; with it, the same set gives the same
fingerprint whatever the order and repetitions of its ids.
"""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "hmac-sha256:"
"""How every fingerprint starts, e.g. ``hmac-sha256:3f9a...``."""
MIN_KEY_BYTES = 16
"""Shortest key taken: a shorter one could be guessed."""


class IdSetFingerprint:
    """
    HMAC-SHA256 of distinct ids, each UTF-8 encoded and followed by ``b"\\n"``, in byte order.

    :param key: the secret key, at least :data:`MIN_KEY_BYTES` long.
    """

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
            raise ValueError(f"The fingerprint key must be at least {MIN_KEY_BYTES} bytes long")
        self._mac = hmac.new(key, digestmod=hashlib.sha256)

    def update(self, id_lines: bytes) -> None:
        """:param id_lines: the next distinct ids, in byte order, each followed by ``b"\\n"``."""
        self._mac.update(id_lines)

    @property
    def value(self) -> str:
        """``"hmac-sha256:<hex>"`` of the ids given so far."""
        return PREFIX + self._mac.hexdigest()
