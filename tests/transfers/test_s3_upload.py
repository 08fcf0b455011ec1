"""
What the transfer's uploads leave in S3, on the emulator: the deletion file metadata on every
object, and no incomplete multipart upload of deletion files, even after a killed attempt.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from airflow.providers.amazon.aws.hooks.s3 import S3Hook

from airflow_provider_personalize_deletion.deletion_file.csv_file import HEADER, MIN_FILE_BYTES
from airflow_provider_personalize_deletion.transfers.s3_upload import (
    DELETION_FILE_METADATA,
    MIN_PART_BYTES,
    DeletionFileUploader,
    UploadVerificationError,
    abort_stale_multipart_uploads,
)
from tests.transfers.conftest import BUCKET, PREFIX, make_runner, object_keys

RUN_PART = re.compile(r"erasure/[0-9a-f]{16}/part-\d{5}\.csv")


def open_uploads(s3_client) -> list[str]:
    return sorted(
        upload["Key"] for upload in s3_client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    )


def leave_upload(s3_client, key: str) -> None:
    """Start a multipart upload with one part and never complete it, as a killed worker does."""
    upload_id = s3_client.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    s3_client.upload_part(Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=1, Body=b"USER_ID\nu1\n")


def test_every_deletion_file_carries_the_metadata(warehouse, run_transfer, s3_client):
    warehouse.load([f"user-{n}" for n in range(300)])

    summary = run_transfer(max_file_bytes=MIN_FILE_BYTES)

    assert summary["file_count"] > 1
    for key in summary["s3_keys"]:
        assert s3_client.head_object(Bucket=BUCKET, Key=key)["Metadata"] == {
            "personalize-deletion-file": "v1"
        }
    assert DELETION_FILE_METADATA == {"personalize-deletion-file": "v1"}


def test_an_object_without_the_metadata_fails_the_check_and_is_deleted(
    sqlite_warehouse, bucket, s3_client, monkeypatch
):
    sqlite_warehouse.load(["u1"])
    real_get_conn = S3Hook.get_conn

    def drop_metadata(params, **_):
        del params["Metadata"]

    def get_conn(self):  # S3 stores the object without the metadata it was sent with
        client = real_get_conn(self)
        client.meta.events.register("provide-client-params.s3.CreateMultipartUpload", drop_metadata)
        return client

    monkeypatch.setattr(S3Hook, "get_conn", get_conn)

    with pytest.raises(UploadVerificationError, match="lacks the metadata"):
        make_runner(sqlite_warehouse, bucket)()

    assert object_keys(s3_client) == []


def test_stale_uploads_matching_the_pattern_are_aborted_and_others_kept(bucket, s3_client):
    ours = ["erasure/0123456789abcdef/part-00000.csv", "erasure/fedcba9876543210/part-00012.csv"]
    others = [
        "erasure/0123456789abcdef/notes.csv",
        "erasure/short/part-00000.csv",
        "elsewhere/part-00000.csv",
    ]
    for key in ours + others:
        leave_upload(s3_client, key)
    before_they_started = datetime(2001, 1, 1, tzinfo=timezone.utc)  # moto dates every upload 2010-11-10

    assert abort_stale_multipart_uploads(s3_client, BUCKET, "erasure/", before_they_started, RUN_PART) == 0
    now = datetime.now(timezone.utc)
    assert abort_stale_multipart_uploads(s3_client, BUCKET, "erasure/", now, RUN_PART) == 2

    assert open_uploads(s3_client) == sorted(others)


def test_an_upload_a_killed_attempt_left_in_the_folder_is_aborted_at_start(
    sqlite_warehouse, bucket, s3_client
):
    leave_upload(s3_client, f"{PREFIX}/part-00003.csv")
    leave_upload(s3_client, f"{PREFIX}/notes.txt")
    leave_upload(s3_client, "erasure/run-2/part-00000.csv")
    sqlite_warehouse.load(["u1"])

    make_runner(sqlite_warehouse, bucket)()

    assert open_uploads(s3_client) == sorted([f"{PREFIX}/notes.txt", "erasure/run-2/part-00000.csv"])


def file_of_parts(parts: float) -> list[tuple[int, bytes]]:
    """The pieces of one deletion file of ``parts`` multipart upload parts of :data:`MIN_PART_BYTES`."""
    lines = [f"{number:05d}{'u' * 1018}\n".encode() for number in range(int(parts * MIN_PART_BYTES) // 1024)]
    return [(0, HEADER)] + [
        (0, b"".join(lines[start : start + 1024])) for start in range(0, len(lines), 1024)
    ]


def test_parts_uploading_together_make_the_file_in_order(bucket, s3_client):
    pieces = file_of_parts(2.5)  # more parts than PARTS_IN_FLIGHT

    keys = DeletionFileUploader(s3_client, BUCKET, PREFIX, part_bytes=MIN_PART_BYTES).upload(pieces)

    body = s3_client.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read()
    assert body == b"".join(piece for _, piece in pieces)


def fail_call(s3_client, operation: str, call_number: int) -> None:
    """Make the client raise on the n-th call of an S3 API, from whichever thread makes it."""
    calls = []

    def fail(**_kwargs):
        calls.append(operation)
        if len(calls) == call_number:
            raise ConnectionError(f"injected fault on {operation}")

    s3_client.meta.events.register(f"before-call.s3.{operation}", fail)


def test_a_part_failing_while_the_next_is_made_aborts_the_file_and_leaves_nothing(bucket, s3_client):
    fail_call(s3_client, "UploadPart", call_number=2)
    uploader = DeletionFileUploader(s3_client, BUCKET, PREFIX, part_bytes=MIN_PART_BYTES)

    with pytest.raises(ConnectionError, match="injected fault"):
        uploader.upload(file_of_parts(2.5))

    assert object_keys(s3_client) == []
    assert open_uploads(s3_client) == []


def test_a_file_failing_to_complete_while_the_next_uploads_leaves_nothing(bucket, s3_client):
    fail_call(s3_client, "CompleteMultipartUpload", call_number=1)
    files = [(index, piece) for index in range(3) for piece in (HEADER, b"u1\nu2\n")]

    with pytest.raises(ConnectionError, match="injected fault"):
        DeletionFileUploader(s3_client, BUCKET, PREFIX).upload(files)

    assert object_keys(s3_client) == []
    assert open_uploads(s3_client) == []
