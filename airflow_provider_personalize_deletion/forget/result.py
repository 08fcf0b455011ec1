"""
What forgetting one object did, as data: counts, versions and whether it was verified, never a user id.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final


class Outcome(str, enum.Enum):
    """What became of one object."""

    NO_MATCH = "no_match"
    """It names no user to forget; it was not written."""
    FORGOTTEN = "forgotten"
    """It was rewritten without the matched users, re-read and verified."""
    WOULD_FORGET = "would_forget"
    """A dry run: it names users to forget; nothing was written."""
    REWRITING = "rewriting"
    """An intent, before a rewrite: it names users to forget and is being rewritten. A result of the same
    try replaces it; one left behind means the try stopped in between (a later try re-reads the object)."""
    UNVERIFIED = "unverified"
    """It could not be read, rewritten or verified, or an earlier version still names a user: see the
    reason. Never reported as clean."""


VERIFIED_OUTCOMES: Final = frozenset({Outcome.NO_MATCH, Outcome.FORGOTTEN})


@dataclass(frozen=True)
class ObjectResult:
    """
    One object's evidence.

    :param location: ``s3://bucket/key``.
    :param outcome: what became of it.
    :param version_before: the version read (None on an unversioned bucket or when unread).
    :param etag_before: the ETag read.
    :param version_after: the version written, when rewritten on a versioned bucket.
    :param etag_after: the ETag written, when rewritten.
    :param records_before: its records when read.
    :param records_removed: records left out (lines or CSV records; 0 for segment lines, which stay).
    :param users_removed: mentions of matched users taken out.
    :param old_versions_deleted: earlier versions deleted because they named a matched user.
    :param old_versions_kept: earlier versions that name a matched user and could not be deleted.
    :param reason: why it is unverified (names the object and the rule, never an id); empty otherwise.
    """

    location: str
    outcome: Outcome
    version_before: str | None = None
    etag_before: str | None = None
    version_after: str | None = None
    etag_after: str | None = None
    records_before: int = 0
    records_removed: int = 0
    users_removed: int = 0
    old_versions_deleted: int = 0
    old_versions_kept: tuple[str, ...] = ()
    reason: str = ""

    @property
    def verified(self) -> bool:
        """Whether the object is known to hold no user to forget (untouched or rewritten and re-read)."""
        return self.outcome in VERIFIED_OUTCOMES
