"""
From database values to deletion files, in two passes with bounded memory.

Pass 1 (:meth:`DeletionFileBuilder.add`) validates each batch, counts the invalid values and hands
the valid ids to an external sort (:mod:`.distinct_ids`: GNU sort in a child process, or sorted runs
on private disk). Pass 2 (:meth:`DeletionFileBuilder.file_pieces`) reads back the distinct ids in
sorted order, fingerprints them (keyed, see :mod:`.fingerprint`), encodes them
as CSV and cuts them into files.
Nothing is produced before pass 1 has seen every value, so a caller can refuse invalid input before
writing anything.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from types import TracebackType

from airflow_provider_personalize_deletion.deletion_file.csv_file import encode_csv, split_into_files
from airflow_provider_personalize_deletion.deletion_file.distinct_ids import DistinctIds
from airflow_provider_personalize_deletion.deletion_file.fingerprint import IdSetFingerprint
from airflow_provider_personalize_deletion.deletion_file.sorted_runs import DEFAULT_RUN_SIZE
from airflow_provider_personalize_deletion.deletion_file.user_ids import UserIdValidator


class DeletionFileBuilder:
    """
    Builds Personalize deletion files from the values of an id column.

    Use as a context manager: leaving it removes the ids kept on disk.

    :param max_file_bytes: the size limit of one file, header included.
    :param fingerprint_key: the secret key of the fingerprint (at least 16 bytes).
    :param run_size: ids held in memory before a sorted run is written to disk.
    :param use_gnu_sort: whether to sort with GNU sort when it is installed (default True).
    """

    def __init__(
        self,
        max_file_bytes: int,
        *,
        fingerprint_key: bytes,
        run_size: int = DEFAULT_RUN_SIZE,
        use_gnu_sort: bool = True,
    ) -> None:
        self._max_file_bytes = max_file_bytes
        self._validator = UserIdValidator()
        self._ids = DistinctIds(run_size, use_gnu_sort=use_gnu_sort)
        self.unique_count = 0
        """Distinct ids written; final once :meth:`file_pieces` is exhausted."""
        self._fingerprint = IdSetFingerprint(fingerprint_key)

    def __enter__(self) -> DeletionFileBuilder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._ids.close()

    @property
    def invalid(self) -> dict[str, int]:
        """Invalid values seen, by reason (see ``user_ids.INVALID_REASONS``)."""
        return dict(self._validator.invalid)

    @property
    def invalid_count(self) -> int:
        """Number of invalid values seen."""
        return self._validator.invalid_count

    @property
    def valid_count(self) -> int:
        """Number of valid ids seen, duplicates included."""
        return self._ids.id_count

    @property
    def fingerprint(self) -> str:
        """
        ``"hmac-sha256:<hex>"`` of the distinct ids under the key (see :class:`.IdSetFingerprint`);
        final once :meth:`file_pieces` or :meth:`count_and_fingerprint` is exhausted. The same set of
        ids gives the same fingerprint under the same key, whatever their order and repetitions.
        """
        return self._fingerprint.value

    def add(self, values: Sequence[object]) -> None:
        """
        Pass 1: validate one batch of the id column and keep its valid ids.

        :param values: the id column of one fetched batch.
        """
        self._ids.add(*self._validator.valid_id_lines(values))

    def file_pieces(self) -> Iterator[tuple[int, bytes]]:
        """
        Pass 2: the deletion files, as ``(file_index, piece)`` pairs in order.

        Each file starts with the header, holds whole CSV lines and is at most ``max_file_bytes``
        long; every distinct valid id is in exactly one file. Call once, after the last :meth:`add`.
        """
        return split_into_files(map(encode_csv, self._fingerprinted_id_lines()), self._max_file_bytes)

    def count_and_fingerprint(self) -> None:
        """
        Pass 2 without files: count and fingerprint the distinct ids, as :meth:`file_pieces` would.

        Call once, after the last :meth:`add`, instead of :meth:`file_pieces`.
        """
        for _ in self._fingerprinted_id_lines():
            pass

    def _fingerprinted_id_lines(self) -> Iterator[bytes]:
        for id_lines in self._ids.unique_id_lines():
            self._fingerprint.update(id_lines)
            self.unique_count += id_lines.count(b"\n")
            yield id_lines
