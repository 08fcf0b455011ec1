"""
Finding the erased users in one object: its blocks, each with the positions of its matched users.

Users match by the exact bytes of their ids, through keyed digests (:class:`SuppressedUsers`): the
suppression list's entries and the run's erased users, hashed under the same fingerprint key. Counts
leave this module, never an id.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING, BinaryIO

from airflow_provider_personalize_deletion.forget.formats import Block, block_reader
from airflow_provider_personalize_deletion.scan.source import SourceObject, stream_object
from airflow_provider_personalize_deletion.scan.suppressed import SuppressedUsers

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def users_to_forget(
    key: bytes, suppression_digests: Iterable[bytes], run_user_ids: Iterable[bytes]
) -> SuppressedUsers:
    """
    The users whose records are removed: the suppression list and the run's erased users.

    :param key: the fingerprint key the suppression list is made with.
    :param suppression_digests: its entries, 32-byte HMAC-SHA256 digests.
    :param run_user_ids: the run's erased users, each id's exact UTF-8 bytes (held only as digests).
    """
    run_digests = (hmac.digest(key, user_id, "sha256") for user_id in run_user_ids)
    return SuppressedUsers(key, chain(suppression_digests, run_digests))


@dataclass(frozen=True)
class Tally:
    """
    What an object holds.

    :param records: its records (lines or CSV records; blank lines and the header not counted).
    :param users: the user ids its records name.
    :param matches: those of users to forget.
    :param removed_records: records that go when the matched users go (segment lines stay: 0).
    """

    records: int = 0
    users: int = 0
    matches: int = 0
    removed_records: int = 0

    def expected_after(self) -> Tally:
        """What the object holds once its matched users are removed."""
        return Tally(self.records - self.removed_records, self.users - self.matches)


class ObjectReader:
    """
    One object, streamed and matched block by block; :meth:`tally` once read.

    :param client: a boto3 S3 client.
    :param item: the object (the read fails if its ETag changed; reads its version when it names one).
    :param file_format: one of :data:`~.formats.FORMATS`.
    :param users: the users to forget.
    :param raw_copy: a file receiving the object's stored bytes as they stream.
    :param declared: the object lies in a location the user declared: a record without the member its
        format names users in is an error (the file is in another format than declared), never a record
        that names no user.
    """

    def __init__(
        self,
        client: S3Client,
        item: SourceObject,
        file_format: str,
        users: SuppressedUsers,
        raw_copy: BinaryIO | None = None,
        declared: bool = False,
    ) -> None:
        self.gzip, chunks = stream_object(client, item, raw_copy)
        self._blocks = block_reader(file_format)(chunks, item.location, declared)
        self._users = users
        self._records = self._users_seen = self._matches = self._removed = 0

    def __iter__(self) -> Iterator[tuple[Block, list[int]]]:
        for block in self._blocks:
            matched: list[int] = []
            if block.user_ids:
                hits = self._users.matches(block.user_ids)
                matched = hits.nonzero()[0].tolist() if hits.any() else []
            self._records += block.records
            self._users_seen += len(block.user_ids)
            if matched:
                self._matches += len(matched)
                self._removed += block.removed_records(matched)
            yield block, matched

    def tally(self) -> Tally:
        """The counts of what was read so far."""
        return Tally(self._records, self._users_seen, self._matches, self._removed)

    def kept_bytes(self) -> Iterator[bytes]:
        """The object's bytes without the matched users, read to the end."""
        for block, matched in self:
            if matched:
                yield from block.without(matched)
            else:
                yield block.data
