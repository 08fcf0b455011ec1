"""The import guard's own files on the emulator's S3 (over HTTP): the clean-up deletes every object and
aborts every upload a guard task instance left, whatever its key, and nothing of another's."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from airflow_provider_personalize_deletion.erasure.import_guard import (
    delete_filtered_copies,
    guard_run_folder,
)
from airflow_provider_personalize_deletion.scan.filtered_copy import write_filtered_copy
from airflow_provider_personalize_deletion.scan.source import S3Source
from tests.scan.conftest import BUCKET, keys, put, suppressed

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PREFIX = "guarded"
FOLDER = guard_run_folder("dag", "guard_import_source", "run-1", -1)
OTHER = guard_run_folder("dag", "guard_import_source", "run-2", -1)


@pytest.fixture
def bucket(s3_client: S3Client) -> str:
    s3_client.create_bucket(Bucket=BUCKET)
    return BUCKET


def uploads(s3_client: S3Client) -> list[str]:
    return sorted(
        upload["Key"] for upload in s3_client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    )


def test_a_copy_whose_key_holds_a_line_break_is_deleted(s3_client: S3Client, bucket: str) -> None:
    """A source's file names are the customer's, and a copy keeps them, line breaks included. The
    emulator's S3 routes no such key over HTTP: the copy is written into its store directly (moto, in
    this process); listing and deleting go over HTTP."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    copy = f"{PREFIX}/{FOLDER}/1/day\n1.csv"
    s3_backends[DEFAULT_ACCOUNT_ID]["aws"].put_object(BUCKET, copy, b"USER_ID\nu2\n")
    assert keys(s3_client, f"{PREFIX}/") == [copy]

    assert delete_filtered_copies(s3_client, BUCKET, PREFIX, FOLDER) == 1

    assert keys(s3_client, f"{PREFIX}/") == []


def test_the_uploads_a_killed_try_left_open_are_aborted_and_no_other(
    s3_client: S3Client, bucket: str
) -> None:
    """A worker killed mid-upload leaves parts of personal data that no object lists."""
    left = [f"{PREFIX}/{FOLDER}/1/a.csv", f"{PREFIX}/{FOLDER}/2/b.csv"]
    others = [f"{PREFIX}/{OTHER}/1/a.csv", f"{PREFIX}/{FOLDER}/not-a-try/a.csv", "elsewhere/a.csv"]
    for key in left + others:
        upload = s3_client.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
        s3_client.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=1, Body=b"USER_ID\nu1\n")

    delete_filtered_copies(s3_client, BUCKET, PREFIX, FOLDER)

    assert uploads(s3_client) == sorted(others)


def test_two_source_files_are_never_copied_onto_one_key(s3_client: S3Client, bucket: str) -> None:
    """``in/a.csv`` and ``in//a.csv`` are two objects: a copy holding one would drop the other's records.
    The folder rule keeps each key's path under the folder as it is, so each gets its own copy."""
    put(s3_client, "in/a.csv", b"USER_ID\nu2\n")
    put(s3_client, "in//a.csv", b"USER_ID\nu3\n")
    destination = f"s3://{BUCKET}/{PREFIX}/{FOLDER}/1/"

    write_filtered_copy(S3Source(s3_client, f"s3://{BUCKET}/in/"), destination, suppressed([b"u1"]))

    copies = {
        key: s3_client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        for key in keys(s3_client, f"{PREFIX}/")
    }
    assert copies == {
        f"{PREFIX}/{FOLDER}/1/a.csv": b"USER_ID\nu2\n",
        f"{PREFIX}/{FOLDER}/1//a.csv": b"USER_ID\nu3\n",
    }
