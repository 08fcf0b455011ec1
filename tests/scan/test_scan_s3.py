"""
Scanning sources on the emulator's S3 (over HTTP): which objects a location stands for, gzip by its
magic bytes, the report's counts, and bad input as a clear error naming the file.
"""

from __future__ import annotations

import gzip
from typing import TYPE_CHECKING

import pytest

from airflow_provider_personalize_deletion.scan.errors import (
    CsvFormatError,
    ScanInputError,
    SourceLocationError,
    UnencryptedObjectError,
)
from airflow_provider_personalize_deletion.scan.scan import scan_source
from airflow_provider_personalize_deletion.scan.source import S3Source, SourceObject

from .conftest import BUCKET, put, suppressed

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CSV = b"USER_ID,ITEM_ID\nu1,i1\nu2,i2\nu1,i3\n"
SUPPRESSED = suppressed([b"u1"])


def scanned_keys(s3_client: S3Client, location: str) -> list[str]:
    return [file.key for file in scan_source(S3Source(s3_client, location), SUPPRESSED).files]


@pytest.fixture
def lookalikes(s3_client: S3Client, bucket: str) -> None:
    for key in [
        "data",
        "data/a.csv",
        "data/b.csv",
        "data/sub/c.csv",
        "data/sub/deeper/d.csv",
        "data_old/a.csv",
        "data.csv",
        "data/",
        "data/sub/",
        "data/empty/",
    ]:
        put(s3_client, key, b"" if key.endswith("/") else CSV)


def listed(s3_client: S3Client, location: str) -> list[str]:
    return [item.key for item in S3Source(s3_client, location).objects()]


@pytest.mark.usefixtures("lookalikes")
def test_a_folder_is_every_file_under_it_sub_folders_included_never_markers_or_lookalikes(
    s3_client: S3Client,
) -> None:
    assert listed(s3_client, f"s3://{BUCKET}/data/") == [
        "data/a.csv",
        "data/b.csv",
        "data/sub/c.csv",
        "data/sub/deeper/d.csv",
    ]
    assert listed(s3_client, f"s3://{BUCKET}/data/sub/") == ["data/sub/c.csv", "data/sub/deeper/d.csv"]


@pytest.mark.usefixtures("lookalikes")
@pytest.mark.parametrize("key", ["data", "data.csv", "data/sub/c.csv"])
def test_a_location_without_slash_is_that_one_file(s3_client: S3Client, key: str) -> None:
    assert listed(s3_client, f"s3://{BUCKET}/{key}") == [key]
    assert scanned_keys(s3_client, f"s3://{BUCKET}/{key}") == [key]


@pytest.mark.usefixtures("lookalikes")
def test_a_bucket_alone_is_the_folder_of_every_file(s3_client: S3Client) -> None:
    expected = ["data", "data.csv", "data/a.csv", "data/b.csv", "data/sub/c.csv", "data/sub/deeper/d.csv"]
    assert listed(s3_client, f"s3://{BUCKET}") == [*expected, "data_old/a.csv"]
    assert listed(s3_client, f"s3://{BUCKET}/") == [*expected, "data_old/a.csv"]


@pytest.mark.usefixtures("lookalikes")
def test_a_folder_of_markers_only_is_an_error(s3_client: S3Client) -> None:
    with pytest.raises(SourceLocationError, match=r"s3://import-sources/data/empty/ holds no file"):
        listed(s3_client, f"s3://{BUCKET}/data/empty/")


def test_a_non_empty_object_named_like_a_folder_is_refused(s3_client: S3Client, bucket: str) -> None:
    put(s3_client, "in/a.csv", CSV)
    put(s3_client, "in/odd/", CSV)
    with pytest.raises(SourceLocationError, match=r"s3://import-sources/in/odd/ ends with '/' but holds"):
        listed(s3_client, f"s3://{BUCKET}/in/")


def test_a_folder_named_without_its_slash_is_an_error(s3_client: S3Client, bucket: str) -> None:
    put(s3_client, "exports/a.csv", CSV)
    put(s3_client, "exports.csv", CSV)
    with pytest.raises(
        SourceLocationError, match=r"s3://import-sources/exports names no object.*end with '/'"
    ):
        scanned_keys(s3_client, f"s3://{BUCKET}/exports")


def test_an_empty_folder_is_an_error(s3_client: S3Client, bucket: str) -> None:
    put(s3_client, "nothing_old/a.csv", CSV)
    with pytest.raises(SourceLocationError, match="holds no file"):
        scanned_keys(s3_client, f"s3://{BUCKET}/nothing/")


@pytest.mark.parametrize("location", ["import-sources/a.csv", "https://x/a.csv", "s3:///a.csv"])
def test_a_malformed_location_is_refused_before_any_call(location: str) -> None:
    with pytest.raises(SourceLocationError, match="not an S3 location"):
        S3Source(None, location)  # type: ignore[arg-type]


def test_listing_is_paginated(s3_client: S3Client, bucket: str) -> None:
    for n in range(1003):
        put(s3_client, f"many/part-{n:04d}.csv", b"USER_ID\nu9\n")
    assert len(S3Source(s3_client, f"s3://{BUCKET}/many/").objects()) == 1003


def test_the_report_counts_records_and_matches_per_file(s3_client: S3Client, bucket: str) -> None:
    put(s3_client, "in/a.csv", CSV)
    put(s3_client, "in/b.csv", b"USER_ID\nu2\n")
    report = scan_source(S3Source(s3_client, f"s3://{BUCKET}/in/"), SUPPRESSED)
    assert [(f.key, f.records, f.matches) for f in report.files] == [("in/a.csv", 3, 2), ("in/b.csv", 1, 0)]
    assert (report.records, report.matches) == (4, 2)
    assert "u1" not in repr(report) and "u1" not in str(report)


def test_matched_ids_are_handed_only_to_the_callback(s3_client: S3Client, bucket: str) -> None:
    put(s3_client, "in/a.csv", CSV)
    found: list[tuple[str, bytes]] = []

    def on_match(item: SourceObject, user_id: bytes) -> None:
        found.append((item.key, user_id))

    scan_source(S3Source(s3_client, f"s3://{BUCKET}/in/"), SUPPRESSED, on_match)
    assert found == [("in/a.csv", b"u1"), ("in/a.csv", b"u1")]


@pytest.mark.parametrize("key", ["in/a.csv", "in/a.csv.gz", "in/a"])
def test_gzip_is_recognised_by_its_bytes_not_its_name(s3_client: S3Client, bucket: str, key: str) -> None:
    put(s3_client, key, gzip.compress(CSV[:20]) + gzip.compress(CSV[20:]))  # two members
    put(s3_client, "plain/a.csv.gz", CSV)
    (compressed,) = scan_source(S3Source(s3_client, f"s3://{BUCKET}/{key}"), SUPPRESSED).files
    (plain,) = scan_source(S3Source(s3_client, f"s3://{BUCKET}/plain/"), SUPPRESSED).files
    assert (compressed.gzip, compressed.records, compressed.matches) == (True, 3, 2)
    assert (plain.gzip, plain.records, plain.matches) == (False, 3, 2)


def test_truncated_gzip_is_an_error(s3_client: S3Client, bucket: str) -> None:
    put(s3_client, "in/a.csv.gz", gzip.compress(CSV * 100)[:-12])
    with pytest.raises(ScanInputError, match=r"s3://import-sources/in/a\.csv\.gz is truncated"):
        scanned_keys(s3_client, f"s3://{BUCKET}/in/")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "is empty"),
        (b"ITEM_ID\ni1\n", "no USER_ID column"),
        (b"USER_ID\n" + b"x" * 257 + b"\n", "more than 256 characters"),
        (b"USER_ID\nu\xff\n", "not UTF-8"),
        (b'USER_ID,T\nu2,"never closed\n', "quote never closed"),
    ],
    ids=["empty", "missing-user-id", "id-too-long", "non-utf8", "unclosed-quote"],
)
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_bad_files_fail_naming_their_key(
    s3_client: S3Client, bucket: str, body: bytes, message: str, compress: bool
) -> None:
    put(s3_client, "in/good.csv", CSV)
    put(s3_client, "in/bad.csv", gzip.compress(body) if compress else body)
    with pytest.raises(CsvFormatError, match=message) as error:
        scanned_keys(s3_client, f"s3://{BUCKET}/in/")
    assert "s3://import-sources/in/bad.csv" in str(error.value)


def test_a_header_only_file_has_no_records(s3_client: S3Client, bucket: str) -> None:
    put(s3_client, "in/a.csv", b"USER_ID,ITEM_ID\r\n")
    (file,) = scan_source(S3Source(s3_client, f"s3://{BUCKET}/in/"), SUPPRESSED).files
    assert (file.records, file.matches) == (0, 0)


def test_an_object_s3_reports_unencrypted_is_refused_when_encryption_is_required(
    s3_client: S3Client, bucket: str
) -> None:
    s3_client.put_object(Bucket=BUCKET, Key="out/a.csv", Body=CSV, ServerSideEncryption="AES256")
    put(s3_client, "out/b.csv", CSV)  # moto's bucket has no default encryption: none reported
    assert s3_client.head_object(Bucket=BUCKET, Key="out/b.csv").get("ServerSideEncryption") is None
    assert len(scan_source(S3Source(s3_client, f"s3://{BUCKET}/out/"), SUPPRESSED).files) == 2
    found: list[bytes] = []
    with pytest.raises(
        UnencryptedObjectError, match=r"s3://import-sources/out/b\.csv is not encrypted at rest"
    ):
        scan_source(S3Source(s3_client, f"s3://{BUCKET}/out/", require_encryption=True), SUPPRESSED)
    (file,) = scan_source(
        S3Source(s3_client, f"s3://{BUCKET}/out/a.csv", require_encryption=True),
        SUPPRESSED,
        lambda _item, user_id: found.append(user_id),
    ).files
    assert (file.records, found) == (3, [b"u1", b"u1"])
