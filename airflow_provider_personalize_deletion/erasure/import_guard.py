"""
The import guard: an import source checked against the suppression list before CreateDatasetImportJob.

- ``fail`` (the default): a source holding a record of a suppressed user is refused, with how many users
  and records in which files (S3 locations), never an id.
- ``filter``: a filtered copy of the source, without those records and every other byte kept, is written
  under a folder of the guard's own (``s3://<bucket>/<prefix>/<run folder>/<try>/``), and its location is
  what to import. The copies are personal data: :func:`delete_filtered_copies` deletes a run's copies,
  and only them, once its import job ended.

The source is read as an import reads it, by the folder rule of :mod:`.scan.source` (one object, or
a folder with its sub-folders); a filtered copy keeps the sub-folders' layout.

The suppression list's key is checked before any S3 read: an entry made with another key (rotated,
lost) fails the guard (:class:`~.exceptions.SuppressionKeyError`), never passing a user as not
suppressed.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NoReturn

from airflow.sdk.exceptions import AirflowFailException

if TYPE_CHECKING:
    from airflow_provider_personalize_deletion.erasure.suppression import SuppressionList
    from airflow_provider_personalize_deletion.scan.scan import ScanReport
    from airflow_provider_personalize_deletion.scan.source import SourceObject

log = logging.getLogger(__name__)

GUARD_MODES: Final = ("fail", "filter")
#: Files named in a refusal at most; the rest are counted.
MAX_FILES_NAMED: Final = 20
_RUN_FOLDER_DIGITS = 20


class SuppressedUsersInSourceError(AirflowFailException):
    """
    The import source holds records of suppressed users (``mode="fail"``). Not retried: the same source
    gives the same answer. The message names counts and files, never an id.

    :param location: the source.
    :param users: distinct suppressed users found.
    :param per_file: ``(S3 location, users, records)`` of each file with a match.
    """

    def __init__(self, location: str, users: int, per_file: list[tuple[str, int, int]]) -> None:
        self.users = users
        self.records = sum(records for _, _, records in per_file)
        self.files = [name for name, _, _ in per_file]
        named = "; ".join(f"{name}: {u} user(s), {r} record(s)" for name, u, r in per_file[:MAX_FILES_NAMED])
        more = len(per_file) - MAX_FILES_NAMED
        super().__init__(
            f"The import source {location} holds {self.records} record(s) of {users} suppressed user(s) "
            f"(erased, on the suppression list) in {len(per_file)} file(s): {named}"
            + (f"; and {more} more file(s)" if more > 0 else "")
            + ". The import was refused: remove them from the source, or use mode='filter'"
        )


class ImportSourceError(AirflowFailException):
    """The import source, or the guard's settings, cannot be checked: the message names the file or
    parameter and the rule. Not retried: the same input breaks the same rule."""


@dataclass(frozen=True)
class GuardResult:
    """
    What the guard checked, and where to import from.

    :param location: the location to import: the source (nothing suppressed found) or its filtered copy.
    :param mode: ``fail`` or ``filter``.
    :param files: files read.
    :param records: records read.
    :param suppressed_records: records of suppressed users (left out of a filtered copy).
    :param files_rewritten: files of the copy written without them (the others were copied unchanged).
    """

    location: str
    mode: str
    files: int
    records: int
    suppressed_records: int = 0
    files_rewritten: int = 0

    def as_record(self) -> dict[str, Any]:
        """Counts and locations only, for XCom and the log."""
        return {
            "location": self.location,
            "mode": self.mode,
            "files": self.files,
            "records": self.records,
            "suppressed_records": self.suppressed_records,
            "files_rewritten": self.files_rewritten,
        }


def check_mode(mode: object) -> str:
    """
    :param mode: the guard's mode.
    :raises ValueError: naming the parameter and the choices.
    """
    if mode not in GUARD_MODES:
        raise ValueError(f"Invalid parameter 'mode': must be one of {GUARD_MODES}")
    return str(mode)


def guard_run_folder(dag_id: str, task_id: str, run_id: str, map_index: int) -> str:
    """
    The folder of one guard task instance's filtered copies: a digest of its identity, so that neither
    the run id nor any other value reaches a key, and every try of it writes next to the others.

    :param dag_id: the DAG's id.
    :param task_id: the guard's task id.
    :param run_id: the DAG run's id.
    :param map_index: the mapped task's index (-1 when not mapped).
    """
    identity = "\x1f".join((dag_id, task_id, run_id, str(map_index)))
    return hashlib.sha256(identity.encode()).hexdigest()[:_RUN_FOLDER_DIGITS]


def filtered_destination(bucket: str, prefix: str, run_folder: str, try_number: int) -> str:
    """
    The folder one try writes its filtered copy into (empty: a try never reuses another's).

    :param bucket: the guard's bucket.
    :param prefix: the guard's prefix (checked, without ``/`` at either end).
    :param run_folder: :func:`guard_run_folder`.
    :param try_number: the try.
    """
    return f"s3://{bucket}/{prefix}/{run_folder}/{try_number}/"


def check_filtered_prefix(bucket: object, prefix: object) -> tuple[str, str]:
    """
    Check the filter mode's bucket and prefix (S3's safe characters, no relative folder names).

    :return: the bucket and the prefix without a leading or trailing ``/``.
    :raises ImportSourceError: naming ``filtered_bucket`` or ``filtered_prefix`` and the rule.
    """
    from airflow_provider_personalize_deletion.transfers.parameters import (
        InvalidTransferParameterError,
        check_bucket_name,
        check_key_prefix,
    )

    names = {"s3_bucket": "filtered_bucket", "s3_key_prefix": "filtered_prefix"}
    try:
        checked_bucket = check_bucket_name(bucket)
        return checked_bucket, check_key_prefix(checked_bucket, prefix)
    except InvalidTransferParameterError as error:
        rule = str(error).split(": ", 1)[1]
        raise ImportSourceError(f"Invalid parameter {names[error.parameter]!r}: {rule}") from None


def check_import_location(
    client: Any,
    location: object,
    source: object,
    mode: object,
    filtered_bucket: object = None,
    filtered_prefix: object = None,
    run_folder: str = "",
) -> None:
    """
    Refuse an import location the guard did not hand on: the import task reads it from the guard's XCom,
    which whoever may write XComs controls.

    ``fail``: the location must be the configured source itself. ``filter``: it must be exactly a try
    folder of the guard's own for this task instance (``s3://<bucket>/<prefix>/<run folder>/<try>/``),
    and the latest try that wrote there (the try that succeeded: an earlier try's copy may be partial);
    one listing of the run folder, no read of a file.

    :param client: a boto3 S3 client.
    :param location: the location to import.
    :param source: the guard's configured source.
    :param mode: the guard's mode.
    :param filtered_bucket: ``filter``: the guard's bucket.
    :param filtered_prefix: ``filter``: the guard's prefix.
    :param run_folder: ``filter``: :func:`guard_run_folder` of the guard's task instance.
    :raises ImportSourceError: naming ``data_location`` and the rule; nothing was imported.
    """
    try:
        checked_mode = check_mode(mode)
    except ValueError as error:
        raise ImportSourceError(str(error)) from None
    if checked_mode == "fail":
        if location != source:
            _refuse_location(f"must be the guarded source {source} (mode 'fail')")
        return
    bucket, prefix = check_filtered_prefix(filtered_bucket, filtered_prefix)
    folder = f"{prefix}/{run_folder}/"
    shape = re.compile(re.escape(f"s3://{bucket}/{folder}") + r"([1-9][0-9]*)/")
    match = shape.fullmatch(location) if isinstance(location, str) else None
    if match is None:
        _refuse_location(
            f"must be a filtered copy the guard wrote for this run, s3://{bucket}/{folder}<try>/"
        )
    written = [
        int(found[1])
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=folder, Delimiter="/"
        )
        for common in page.get("CommonPrefixes", [])
        if (found := re.fullmatch(re.escape(folder) + r"([1-9][0-9]*)/", common["Prefix"]))
    ]
    if int(match[1]) != max(written, default=0):
        _refuse_location(f"must be the filtered copy of the guard's latest try, not of try {match[1]}")


def _refuse_location(rule: str) -> NoReturn:
    raise ImportSourceError(
        f"Invalid parameter 'data_location': {rule} (an XCom written by hand?); nothing was imported"
    )


def guard_source(
    client: Any,
    location: str,
    suppression: SuppressionList,
    key: bytes,
    mode: str = "fail",
    destination: str | None = None,
) -> GuardResult:
    """
    Check an import source against the suppression list; in ``filter`` mode write its filtered copy.

    :param client: a boto3 S3 client.
    :param location: the source, ``s3://bucket/key`` or ``s3://bucket/folder/``.
    :param suppression: the suppression list.
    :param key: the fingerprint key (checked against the list's entries before any S3 read).
    :param mode: ``fail`` or ``filter``.
    :param destination: ``filter``: an empty folder of the guard's own, apart from the source.
    :raises SuppressionKeyError: an entry of the list was made with another key.
    :raises SuppressedUsersInSourceError: ``fail``, and the source holds records of suppressed users.
    :raises ImportSourceError: a file breaks a rule of Personalize's CSV, or a location is unusable.
    """
    from airflow_provider_personalize_deletion.scan.errors import ScanInputError
    from airflow_provider_personalize_deletion.scan.filtered_copy import write_filtered_copy
    from airflow_provider_personalize_deletion.scan.scan import scan_source
    from airflow_provider_personalize_deletion.scan.source import S3Source
    from airflow_provider_personalize_deletion.scan.suppressed import SuppressedUsers

    check_mode(mode)
    suppression.check_key(key)  # before any read: a rotated or lost key fails here
    suppressed = SuppressedUsers(key, suppression.digests(key))
    try:
        source = S3Source(client, location)
        if mode == "filter":
            if destination is None:
                raise ImportSourceError("Invalid parameter 'destination': filter mode needs one")
            copy = write_filtered_copy(source, destination, suppressed)
            return GuardResult(
                copy.location,
                mode,
                len(copy.report.files),
                copy.report.records,
                copy.report.matches,
                len(copy.rewritten),
            )
        found = _UsersFound(key, source.bucket)
        report = scan_source(source, suppressed, on_match=found.add)
    except ScanInputError as error:
        raise ImportSourceError(str(error)) from None
    if report.matches:
        raise SuppressedUsersInSourceError(location, found.users(), found.per_file(report))
    return GuardResult(location, mode, len(report.files), report.records)


class _UsersFound:
    """
    The distinct suppressed users of each file, held in memory only, as their keyed digests.

    :param key: the fingerprint key.
    :param bucket: the source's bucket.
    """

    def __init__(self, key: bytes, bucket: str) -> None:
        from airflow_provider_personalize_deletion.scan.suppressed import UserIdHmac

        self._hmac = UserIdHmac(key)
        self._bucket = bucket
        self._by_key: dict[str, set[bytes]] = {}

    def add(self, item: SourceObject, user_id: bytes) -> None:
        self._by_key.setdefault(item.key, set()).add(self._hmac.digests([user_id]))

    def users(self) -> int:
        return len(set().union(*self._by_key.values()))

    def per_file(self, report: ScanReport) -> list[tuple[str, int, int]]:
        return [
            (f"s3://{self._bucket}/{file.key}", len(self._by_key.get(file.key, ())), file.matches)
            for file in report.files_with_matches
        ]


def delete_filtered_copies(client: Any, bucket: str, prefix: str, run_folder: str) -> int:
    """
    Delete one guard task instance's filtered copies (every try's), and nothing else.

    Only keys ``<prefix>/<run folder>/<try number>/...`` are deleted: the folders the guard's tries wrote
    into, each empty before (the guard refuses a destination that is not). Multipart uploads left open
    under them (a try killed mid-upload: parts of personal data that no listing of objects shows) are
    aborted.

    :param client: a boto3 S3 client.
    :param bucket: the guard's bucket.
    :param prefix: the guard's prefix (checked).
    :param run_folder: :func:`guard_run_folder` of the guard's task instance.
    :return: how many objects were deleted.
    """
    from airflow_provider_personalize_deletion.erasure.cleanup import delete_objects

    folder = f"{prefix}/{run_folder}/"
    written = re.compile(re.escape(folder) + r"[1-9][0-9]*/.+", re.DOTALL)  # a key may hold a line break
    keys = [key for key in _keys(client, bucket, folder) if written.fullmatch(key)]
    delete_objects(client, bucket, keys)
    aborted = 0
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=folder):
        for upload in page.get("Uploads", []):
            if written.fullmatch(upload["Key"]):
                client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
                aborted += 1
    if aborted:
        log.info(
            "Aborted %d multipart upload(s) a killed try left open under s3://%s/%s", aborted, bucket, folder
        )
    return len(keys)


def _keys(client: Any, bucket: str, prefix: str) -> Iterator[str]:
    from airflow_provider_personalize_deletion.erasure.cleanup import list_objects

    return (item["Key"] for item in list_objects(client, bucket, prefix))
