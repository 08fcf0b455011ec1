"""
The filtered copy on the emulator's S3 (over HTTP): every other record byte for byte, unchanged files
copied server-side, gzip kept, the source untouched, and nothing partial left by a failure.
"""

from __future__ import annotations

import gzip
import random
from typing import TYPE_CHECKING

import pytest

from airflow_provider_personalize_deletion.scan.errors import CsvFormatError, SourceLocationError
from airflow_provider_personalize_deletion.scan.filtered_copy import write_filtered_copy
from airflow_provider_personalize_deletion.scan.s3_writes import copy_unchanged
from airflow_provider_personalize_deletion.scan.source import S3Source

from .conftest import BUCKET, keys, put, read, suppressed

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DESTINATION = f"s3://{BUCKET}/filtered/run-1/"
SOURCE = (
    b"\xef\xbb\xbfUSER_ID,ITEM_ID,TEXT\r\n"
    b'u1,i1,"gone, with ""quotes"" and\r\na newline"\r\n'
    b'u2,i2,"kept \\"as is\\",\r\nall of it"\r\n'
    b"u3,i3,plain\r\n"
    b'"u1",i4,quoted id\r\n'
    b"u4,i5,last without line end"
)
KEPT = (
    b"\xef\xbb\xbfUSER_ID,ITEM_ID,TEXT\r\n"
    b'u2,i2,"kept \\"as is\\",\r\nall of it"\r\n'
    b"u3,i3,plain\r\n"
    b"u4,i5,last without line end"
)


def filter_folder(s3_client: S3Client, folder: str = "in/", destination: str = DESTINATION, users=(b"u1",)):
    return write_filtered_copy(S3Source(s3_client, f"s3://{BUCKET}/{folder}"), destination, suppressed(users))


def test_a_file_with_matches_is_rewritten_without_them_byte_for_byte(
    s3_client: S3Client, bucket: str
) -> None:
    put(s3_client, "in/a.csv", SOURCE)
    copy = filter_folder(s3_client)
    assert copy.location == DESTINATION
    assert read(s3_client, "filtered/run-1/a.csv") == KEPT
    assert (copy.report.records, copy.report.matches, copy.records_kept) == (5, 2, 3)
    assert copy.rewritten == ("filtered/run-1/a.csv",) and copy.copied == ()
    assert read(s3_client, "in/a.csv") == SOURCE


def test_a_gzip_source_is_rewritten_as_gzip(s3_client: S3Client, bucket: str) -> None:
    put(s3_client, "in/a.csv", gzip.compress(SOURCE))
    filter_folder(s3_client)
    written = read(s3_client, "filtered/run-1/a.csv")
    assert written.startswith(b"\x1f\x8b")
    assert gzip.decompress(written) == KEPT


def test_a_file_without_matches_is_copied_server_side_not_rewritten(s3_client: S3Client, bucket: str) -> None:
    put(s3_client, "in/a.csv", SOURCE)
    put(s3_client, "in/b.csv.gz", gzip.compress(b"USER_ID\nu2\nu3\n"))
    copy = filter_folder(s3_client)
    assert copy.copied == ("filtered/run-1/b.csv.gz",)
    source_head = s3_client.head_object(Bucket=BUCKET, Key="in/b.csv.gz")
    copy_head = s3_client.head_object(Bucket=BUCKET, Key="filtered/run-1/b.csv.gz")
    assert copy_head["ETag"] == source_head["ETag"]  # the same bytes, by the same single-part MD5
    assert copy_head["ServerSideEncryption"] == "AES256"


def test_a_file_source_is_copied_under_its_name(s3_client: S3Client, bucket: str) -> None:
    put(s3_client, "in/a.csv", SOURCE)
    copy = filter_folder(s3_client, folder="in/a.csv")
    assert keys(s3_client, "filtered/") == ["filtered/run-1/a.csv"]
    assert copy.rewritten == ("filtered/run-1/a.csv",)


def test_sub_folders_are_copied_with_their_layout_so_the_copy_reads_as_the_same_set(
    s3_client: S3Client, bucket: str
) -> None:
    put(s3_client, "in/", b"")
    put(s3_client, "in/a.csv", SOURCE)
    put(s3_client, "in/2026/", b"")
    put(s3_client, "in/2026/12/b.csv", SOURCE)
    put(s3_client, "in/2026/12/c.csv", b"USER_ID\nu2\n")
    put(s3_client, "in_old/a.csv", SOURCE)
    copy = filter_folder(s3_client)
    assert keys(s3_client, "filtered/") == [
        "filtered/run-1/2026/12/b.csv",
        "filtered/run-1/2026/12/c.csv",
        "filtered/run-1/a.csv",
    ]
    assert copy.copied == ("filtered/run-1/2026/12/c.csv",)
    assert read(s3_client, "filtered/run-1/2026/12/b.csv") == KEPT
    source, filtered = S3Source(s3_client, f"s3://{BUCKET}/in/"), S3Source(s3_client, copy.location)
    assert [source.relative_key(item.key) for item in source.objects()] == [
        filtered.relative_key(item.key) for item in filtered.objects()
    ]


@pytest.mark.parametrize(
    "destination",
    [f"s3://{BUCKET}/in/filtered/", f"s3://{BUCKET}/", f"s3://{BUCKET}/in"],
    ids=["inside", "around", "no-slash"],
)
def test_a_destination_overlapping_the_source_is_refused(
    s3_client: S3Client, bucket: str, destination: str
) -> None:
    put(s3_client, "in/a.csv", SOURCE)
    with pytest.raises(SourceLocationError, match="destination"):
        filter_folder(s3_client, destination=destination)
    assert keys(s3_client) == ["in/a.csv"]


def test_a_destination_that_is_not_empty_is_refused(s3_client: S3Client, bucket: str) -> None:
    put(s3_client, "in/a.csv", SOURCE)
    put(s3_client, "filtered/run-1/other.csv", b"USER_ID\n")
    with pytest.raises(SourceLocationError, match="is not empty"):
        filter_folder(s3_client)


def test_a_bad_file_writes_nothing(s3_client: S3Client, bucket: str) -> None:
    put(s3_client, "in/a.csv", SOURCE)
    put(s3_client, "in/b.csv", b"ITEM_ID\ni1\n")
    with pytest.raises(CsvFormatError, match=r"in/b\.csv has no USER_ID"):
        filter_folder(s3_client)
    assert keys(s3_client, "filtered/") == []


def test_a_failure_mid_upload_leaves_no_object_and_no_open_upload(s3_client: S3Client, bucket: str) -> None:
    lines = b"".join(b"user-%07d,%s\n" % (n, b"x" * 90) for n in range(200_000))  # about 20 MiB: 3 parts
    put(s3_client, "in/a.csv", b"USER_ID\nu2\n")  # copied first, then deleted with the failed run
    put(s3_client, "in/b.csv", b"USER_ID,PAD\n" + lines)

    def fail_second_part(params: dict, **_: object) -> None:
        if params.get("PartNumber") == 2:
            raise ConnectionError("the network went away")  # a fault the emulator cannot cause

    s3_client.meta.events.register("before-parameter-build.s3.UploadPart", fail_second_part)
    with pytest.raises(ConnectionError):
        filter_folder(s3_client, users=[b"user-0000003"])
    assert keys(s3_client, "filtered/") == []
    assert s3_client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_a_large_object_is_copied_by_parts(s3_client: S3Client, bucket: str) -> None:
    body = random.Random(1).randbytes(11 * 1024 * 1024)
    put(s3_client, "in/big.csv", body)
    (item,) = S3Source(s3_client, f"s3://{BUCKET}/in/").objects()
    copy_unchanged(
        s3_client, item, BUCKET, "filtered/big.csv", max_copy_object_bytes=1, copy_part_bytes=5 << 20
    )
    assert read(s3_client, "filtered/big.csv") == body
    assert s3_client.head_object(Bucket=BUCKET, Key="filtered/big.csv")["ETag"].endswith('-3"')


def random_record(rng: random.Random, user: bytes) -> bytes:
    text = "".join(
        rng.choice(["a", "é", ",", "\n", "\r\n", '\\"', '""', "\\\\"]) for _ in range(rng.randint(0, 8))
    )
    return b'%s,"%s",%d' % (user, text.encode(), rng.randint(0, 10**9))


@pytest.mark.parametrize("seed", range(6))
def test_round_trip_the_copy_is_the_source_minus_the_matched_records(
    s3_client: S3Client, bucket: str, seed: int
) -> None:
    rng = random.Random(seed)
    newline = rng.choice([b"\n", b"\r\n"])
    users = [b"u%d" % n for n in range(20)]
    records = [random_record(rng, rng.choice(users)) for _ in range(rng.randint(1, 3000))]
    header = rng.choice([b"", b"\xef\xbb\xbf"]) + b"USER_ID,TEXT,TIMESTAMP"
    ending = rng.choice([newline, b""])
    lines = [record + newline for record in records[:-1]] + [records[-1] + ending]
    source = header + newline + b"".join(lines)
    gone = set(rng.sample(users, 5))
    put(s3_client, "in/a.csv", gzip.compress(source) if seed % 2 else source)
    filter_folder(s3_client, users=gone)
    written = read(s3_client, "filtered/run-1/a.csv")
    kept = [line for line, record in zip(lines, records, strict=True) if record.split(b",", 1)[0] not in gone]
    expected = header + newline + b"".join(kept)
    assert (gzip.decompress(written) if seed % 2 else written) == expected
