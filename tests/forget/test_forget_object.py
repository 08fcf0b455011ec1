"""
Forgetting one object on the emulator's S3 (moto's server, over HTTP): each promise about other people's
objects, with a test that tries to break it.
"""

from __future__ import annotations

import gzip
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from airflow_provider_personalize_deletion.forget.find import Tally
from airflow_provider_personalize_deletion.forget.forget_object import forget_object, rewrite_part_bytes
from airflow_provider_personalize_deletion.forget.result import Outcome
from airflow_provider_personalize_deletion.scan.s3_writes import PART_BYTES

from .conftest import forget_set, open_uploads, read, versions

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

KEY = "out/users.json.out"
LINES = [b'{"input": {"userId": "u%d"}, "output": {"recommendedItems": ["i1"]}}\n' % n for n in range(20)]
DATA = b"".join(LINES)
KEPT = b"".join(line for n, line in enumerate(LINES) if n not in (3, 7))
FORGET = forget_set(b"u3", suppressed=(b"u7",))
PART = 5 * 1024 * 1024


def run(s3_client: S3Client, bucket: str, key: str = KEY, dry_run: bool = False, **options: Any):
    return forget_object(s3_client, bucket, key, "batch_inference_output", FORGET, dry_run=dry_run, **options)


def big_object() -> tuple[bytes, bytes]:
    """About 7 MiB of output lines naming u3 now and then, and the same without them."""
    lines = [
        b'{"input": {"userId": "u%d"}, "output": {"recommendedItems": ["%s"]}}\n' % (n % 50, b"i" * 40)
        for n in range(70_000)
    ]
    return b"".join(lines), b"".join(line for line in lines if b'"u3"' not in line and b'"u7"' not in line)


def test_run_users_and_suppressed_users_are_removed_and_every_other_byte_kept(
    s3_client: S3Client, bucket: str
) -> None:
    s3_client.put_object(Bucket=bucket, Key=KEY, Body=DATA)
    result = run(s3_client, bucket)
    assert read(s3_client, bucket, KEY) == KEPT
    assert (result.outcome, result.verified, result.records_before, result.records_removed) == (
        Outcome.FORGOTTEN,
        True,
        20,
        2,
    )
    assert result.etag_after == s3_client.head_object(Bucket=bucket, Key=KEY)["ETag"] != result.etag_before


def test_an_object_without_a_match_is_never_written(s3_client: S3Client, versioned: str) -> None:
    s3_client.put_object(Bucket=versioned, Key=KEY, Body=KEPT)
    before = versions(s3_client, versioned)
    result = run(s3_client, versioned)
    assert result.outcome is Outcome.NO_MATCH and result.verified
    assert versions(s3_client, versioned) == before  # same version, ETag and LastModified


def test_a_dry_run_counts_and_writes_nothing(s3_client: S3Client, versioned: str) -> None:
    s3_client.put_object(Bucket=versioned, Key=KEY, Body=DATA)
    s3_client.put_object(Bucket=versioned, Key=KEY, Body=DATA + LINES[3])
    before = versions(s3_client, versioned)
    result = run(s3_client, versioned, dry_run=True)
    assert (result.outcome, result.verified, len(result.old_versions_kept)) == (
        Outcome.WOULD_FORGET,
        False,
        1,
    )
    assert versions(s3_client, versioned) == before


def test_content_type_encoding_metadata_tags_storage_class_and_sse_kms_are_kept(
    s3_client: S3Client, bucket: str
) -> None:
    attributes: dict[str, Any] = {
        "ContentType": "application/jsonlines",
        "ContentEncoding": "identity",
        "Metadata": {"owner": "analytics"},
        "StorageClass": "STANDARD_IA",
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "Tagging": "team=data&purpose=batch",
    }
    s3_client.put_object(Bucket=bucket, Key=KEY, Body=DATA, **attributes)
    assert run(s3_client, bucket).outcome is Outcome.FORGOTTEN
    head = s3_client.head_object(Bucket=bucket, Key=KEY)
    for name in (
        "ContentType",
        "ContentEncoding",
        "Metadata",
        "StorageClass",
        "ServerSideEncryption",
        "SSEKMSKeyId",
    ):
        assert head[name] == attributes[name], name
    tags = s3_client.get_object_tagging(Bucket=bucket, Key=KEY)["TagSet"]
    assert sorted((tag["Key"], tag["Value"]) for tag in tags) == [("purpose", "batch"), ("team", "data")]


def test_a_gzip_object_is_written_back_as_gzip(s3_client: S3Client, bucket: str) -> None:
    s3_client.put_object(
        Bucket=bucket, Key="out/part-0", Body=gzip.compress(DATA)
    )  # no .gz: found by its bytes
    assert run(s3_client, bucket, key="out/part-0").outcome is Outcome.FORGOTTEN
    stored = read(s3_client, bucket, "out/part-0")
    assert stored[:2] == b"\x1f\x8b" and gzip.decompress(stored) == KEPT


def test_a_large_object_is_rewritten_by_multipart_upload(s3_client: S3Client, bucket: str) -> None:
    data, kept = big_object()
    s3_client.put_object(Bucket=bucket, Key=KEY, Body=data)
    result = run(s3_client, bucket, part_bytes=PART)
    assert result.outcome is Outcome.FORGOTTEN and result.etag_after.endswith('-2"')
    assert read(s3_client, bucket, KEY) == kept
    assert open_uploads(s3_client, bucket) == []


def test_an_object_too_large_for_the_part_limit_is_rewritten_in_larger_parts(
    s3_client: S3Client, bucket: str
) -> None:
    """S3 takes at most 10,000 parts (78 GiB of 8 MiB): with a limit of 1 part, 7 MiB go in one part."""
    data, kept = big_object()
    s3_client.put_object(Bucket=bucket, Key=KEY, Body=data)
    result = run(s3_client, bucket, part_bytes=PART, max_parts=1)
    assert result.outcome is Outcome.FORGOTTEN and not result.etag_after.endswith('-2"')
    assert read(s3_client, bucket, KEY) == kept
    largest = 5 * 1024**4  # S3's largest object, rewritten 1.25 times as large at most (gzip level)
    assert largest * 1.25 / rewrite_part_bytes(largest) <= 10_000
    assert rewrite_part_bytes(5 * 1024**3) == PART_BYTES  # 5 GiB: 8 MiB parts


def concurrent_writer(s3_client: S3Client, local_aws: Any, bucket: str, operation: str) -> None:
    """
    Before the first call of ``operation``, another writer replaces the object. Not before
    CompleteMultipartUpload itself: moto ignores its IfMatch, and the HeadObject compare just before it
    leaves that last window to S3's own check.
    """
    other = boto3.client("s3", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region)
    calls: list[str] = []

    def write_meanwhile(**_: object) -> None:
        if not calls:
            calls.append(operation)
            other.put_object(Bucket=bucket, Key=KEY, Body=b'{"input": {"userId": "u3"}, "new": true}\n')

    s3_client.meta.events.register(f"before-call.s3.{operation}", write_meanwhile)


@pytest.mark.parametrize(("operation", "part_bytes"), [("PutObject", PART), ("UploadPart", PART)])
def test_an_object_changed_between_read_and_write_is_not_overwritten(
    s3_client: S3Client, bucket: str, local_aws: Any, operation: str, part_bytes: int
) -> None:
    data = DATA if operation == "PutObject" else big_object()[0]  # one PutObject, or two parts
    s3_client.put_object(Bucket=bucket, Key=KEY, Body=data)
    concurrent_writer(s3_client, local_aws, bucket, operation)
    result = run(s3_client, bucket, part_bytes=part_bytes)
    assert result.outcome is Outcome.UNVERIFIED and "changed since it was read" in result.reason
    assert read(s3_client, bucket, KEY) == b'{"input": {"userId": "u3"}, "new": true}\n'
    assert open_uploads(s3_client, bucket) == []


def test_a_writer_just_before_the_multipart_completion_is_caught_by_the_head_compare(
    s3_client: S3Client, bucket: str, local_aws: Any
) -> None:
    """
    Every part is uploaded, then another writer replaces the object: moto ignores ``IfMatch`` on
    CompleteMultipartUpload, so only the HeadObject compare before it keeps the writer's object.
    """
    data, _ = big_object()
    s3_client.put_object(Bucket=bucket, Key=KEY, Body=data)
    other = boto3.client("s3", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region)
    heads: list[str] = []
    newer = b'{"input": {"userId": "u3"}, "new": true}\n'

    def write_after_the_parts(**_: object) -> None:
        heads.append("HeadObject")
        if len(heads) == 2:  # the first reads the object's state, the second checks it before completing
            other.put_object(Bucket=bucket, Key=KEY, Body=newer)

    s3_client.meta.events.register("before-call.s3.HeadObject", write_after_the_parts)
    result = run(s3_client, bucket, part_bytes=PART)
    assert len(heads) == 2
    assert result.outcome is Outcome.UNVERIFIED and "changed since it was read" in result.reason
    assert read(s3_client, bucket, KEY) == newer
    assert open_uploads(s3_client, bucket) == []


@pytest.mark.parametrize("failing_part", [1, 2])  # the first while streaming, the last when completing
def test_a_failure_mid_multipart_leaves_the_old_object_and_no_open_upload(
    s3_client: S3Client, bucket: str, failing_part: int
) -> None:
    data, _ = big_object()
    s3_client.put_object(Bucket=bucket, Key=KEY, Body=data)
    etag = s3_client.head_object(Bucket=bucket, Key=KEY)["ETag"]

    def fail_part(params: dict[str, Any], **_: object) -> None:
        if params.get("PartNumber") == failing_part:
            raise ConnectionError("the network went away")

    s3_client.meta.events.register("before-parameter-build.s3.UploadPart", fail_part)
    with pytest.raises(ConnectionError):
        run(s3_client, bucket, part_bytes=PART)
    assert s3_client.head_object(Bucket=bucket, Key=KEY)["ETag"] == etag
    assert open_uploads(s3_client, bucket) == []


def test_an_s3_error_mid_multipart_is_reported_unverified_and_leaves_no_open_upload(
    s3_client: S3Client, bucket: str
) -> None:
    data, _ = big_object()
    s3_client.put_object(Bucket=bucket, Key=KEY, Body=data)

    def wrong_upload(params: dict[str, Any], **_: object) -> None:
        if params.get("PartNumber") == 2:
            params["UploadId"] = "no-such-upload"

    s3_client.meta.events.register("before-parameter-build.s3.UploadPart", wrong_upload)
    result = run(s3_client, bucket, part_bytes=PART)
    assert result.outcome is Outcome.UNVERIFIED and "could not be rewritten (S3 error" in result.reason, (
        result.reason
    )
    assert read(s3_client, bucket, KEY) == data
    assert open_uploads(s3_client, bucket) == []


def test_earlier_versions_naming_a_user_are_deleted(s3_client: S3Client, versioned: str) -> None:
    first = s3_client.put_object(Bucket=versioned, Key=KEY, Body=DATA)["VersionId"]
    clean = s3_client.put_object(Bucket=versioned, Key=KEY, Body=KEPT + b"\n")["VersionId"]
    s3_client.put_object(Bucket=versioned, Key=KEY, Body=DATA)
    result = run(s3_client, versioned)
    assert (result.outcome, result.old_versions_deleted, result.old_versions_kept) == (
        Outcome.FORGOTTEN,
        2,
        (),
    )
    remaining = [version for key, version, _, _ in versions(s3_client, versioned)]
    assert first not in remaining and clean in remaining and result.version_after in remaining
    assert len(remaining) == 2


def test_an_earlier_version_under_legal_hold_is_reported_not_forgotten(
    s3_client: S3Client, versioned: str
) -> None:
    held = s3_client.put_object(Bucket=versioned, Key=KEY, Body=DATA)["VersionId"]
    s3_client.put_object_legal_hold(Bucket=versioned, Key=KEY, VersionId=held, LegalHold={"Status": "ON"})
    s3_client.put_object(Bucket=versioned, Key=KEY, Body=DATA + LINES[0])
    result = run(s3_client, versioned)
    assert result.outcome is Outcome.UNVERIFIED and not result.verified
    assert result.old_versions_kept == (held,) and "legal hold" in result.reason
    assert read(s3_client, versioned, KEY) == KEPT + LINES[0]
    s3_client.put_object_legal_hold(Bucket=versioned, Key=KEY, VersionId=held, LegalHold={"Status": "OFF"})


@pytest.mark.parametrize(
    ("file_format", "body", "rule"),
    [
        (
            "batch_inference_output",
            b'{"input": {"userId": "u3"}}\n{"input": {"userId": "u3"\n',
            "line 2 is not valid JSON",
        ),
        ("csv", b"ITEM_ID,USER\ni1,u3\n", "no USER_ID column"),
    ],
)
def test_a_malformed_object_is_unverified_untouched_and_names_no_id(
    s3_client: S3Client, bucket: str, file_format: str, body: bytes, rule: str
) -> None:
    s3_client.put_object(Bucket=bucket, Key=KEY, Body=body)
    result = forget_object(s3_client, bucket, KEY, file_format, FORGET)
    assert result.outcome is Outcome.UNVERIFIED and rule in result.reason and "u3" not in result.reason
    assert read(s3_client, bucket, KEY) == body


def test_an_object_that_cannot_be_read_is_unverified(s3_client: S3Client, bucket: str) -> None:
    result = run(s3_client, bucket, key="out/gone.out")
    assert (result.outcome, result.verified) == (Outcome.UNVERIFIED, False)
    assert "S3 error 404" in result.reason


def test_a_rewrite_that_fails_its_re_read_is_restored(
    s3_client: S3Client, versioned: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fault not caused from outside (a wrong rewrite): the check is made to see one.
    s3_client.put_object(Bucket=versioned, Key=KEY, Body=gzip.compress(DATA))
    monkeypatch.setattr(Tally, "expected_after", lambda self: Tally(self.records, self.users))
    result = run(s3_client, versioned)
    assert result.outcome is Outcome.UNVERIFIED and "old bytes were written back" in result.reason
    assert gzip.decompress(read(s3_client, versioned, KEY)) == DATA
    assert result.old_versions_deleted == 0
    assert (
        len(versions(s3_client, versioned)) == 2
    )  # the original and the restored copy; the bad rewrite gone
