"""
The native pre-filter against the Python reader: the same records, the same matches, the same errors,
on hostile input, in any chunking; and the Python path alone when the module is not there.
"""

from __future__ import annotations

import gzip
import logging
import random
import sys
from typing import TYPE_CHECKING

import pytest

import airflow_provider_personalize_deletion.scan as scan_package
from airflow_provider_personalize_deletion.scan import native
from airflow_provider_personalize_deletion.scan.csv_records import CsvRecordReader
from airflow_provider_personalize_deletion.scan.errors import CsvFormatError
from airflow_provider_personalize_deletion.scan.scan import scan_source
from airflow_provider_personalize_deletion.scan.source import S3Source
from airflow_provider_personalize_deletion.scan.suppressed import SuppressedUsers
from tests.scan.conftest import BUCKET, put, suppressed

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

COLUMNS = 5
CHUNK_SIZES = [1, 7, 4096, 1 << 22]
ID_KINDS = ["plain", "unicode", "comma", "quote", "newline", "backslash", "empty", "long", "bad-utf8"]

needs_native = pytest.mark.skipif(
    native.scan_path() != native.NATIVE, reason="the native module is not built"
)

Outcome = tuple[int, list[tuple[int, bytes]], bytes, str | None]


def read(data: bytes, users: SuppressedUsers, chunk_size: int, prefiltered: bool) -> tuple[Outcome, int]:
    """
    Everything a reader tells of ``data``: records, matched (record number, id), the bytes kept when the
    matches are dropped, the error; and how many records went through the pre-filter.
    """
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
    records, matched, kept, error = 0, [], b"", None
    reader = None
    try:
        reader = CsvRecordReader(chunks, "s3://b/k", users.csv_prefilter() if prefiltered else None)
        kept = reader.header.raw
        for block in reader:
            hits = users.matches(block.user_ids).nonzero()[0].tolist()
            positions = block.positions or range(block.records)
            matched += [(block.first_record + positions[hit], block.user_ids[hit]) for hit in hits]
            records += block.records
            kept += b"".join(block.without(hits))
    except CsvFormatError as failure:
        error = str(failure)
    return (records, matched, kept, error), reader.prefiltered_records if reader else 0


def user_id(rng: random.Random, kind: str) -> tuple[bytes, bytes]:
    """An id of one kind: its value, and the field that writes it."""
    value = {
        "plain": b"user-%d" % rng.randrange(50),
        "unicode": f"üser-{rng.randrange(20)}-名",
        "comma": b"u,%d" % rng.randrange(10),
        "quote": b'u"%d' % rng.randrange(10),
        "newline": b"u\r\n%d" % rng.randrange(10),
        "backslash": b"u\\%d" % rng.randrange(10),
        "empty": b"",
        "long": b"L" * rng.choice([255, 256, 257, 300]),
        "bad-utf8": b"u\xff%d" % rng.randrange(10),
    }[kind]
    value = value.encode() if isinstance(value, str) else value
    if kind in ("comma", "newline"):
        return value, b'"' + value + b'"'
    if kind in ("quote", "backslash"):
        return value, b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return value, value


def hostile_file(
    rng: random.Random, column: int, kinds: list[str], records: int
) -> tuple[bytes, list[bytes]]:
    """A CSV with USER_ID at ``column``, ids of the given kinds, other fields at times quoted or long."""
    names = [b"F%d" % i for i in range(COLUMNS)]
    names[column] = b"USER_ID"
    ending = rng.choice([b"\n", b"\r\n"])
    lines = [rng.choice([b"", b"\xef\xbb\xbf"]) + b",".join(names) + ending]
    ids = []
    for _ in range(records):
        value, field = user_id(rng, rng.choice(kinds))
        ids.append(value)
        fields = [
            rng.choice([b"x", b"12.5", b"", b'"a,b"', b'"multi\nline"', b"y" * rng.choice([1, 1, 1, 5000])])
        ]
        fields = [rng.choice(fields) for _ in range(COLUMNS)]
        fields[column] = field
        lines.append(b",".join(fields) + (rng.choice([b"\n", b"\r\n"]) if rng.random() < 0.05 else ending))
    data = b"".join(lines)
    if rng.random() < 0.5:
        data = data.rstrip(b"\r\n")  # the last record without its line ending
    return data, ids


def assert_same(data: bytes, users: SuppressedUsers) -> int:
    """Assert both paths read ``data`` alike in every chunking; the records the pre-filter read."""
    prefiltered = 0
    for chunk_size in CHUNK_SIZES:
        if len(data) > 2000 * chunk_size:  # a reader carries chunks over: tiny ones cost n**2 on big files
            continue
        python, none = read(data, users, chunk_size, prefiltered=False)
        with_native, count = read(data, users, chunk_size, prefiltered=True)
        assert none == 0
        assert with_native == python, f"chunk size {chunk_size}"
        prefiltered = max(prefiltered, count)
    return prefiltered


@needs_native
@pytest.mark.parametrize("column", range(COLUMNS))
@pytest.mark.parametrize(
    "kinds",
    [["plain"], ["plain", "unicode"], ["plain", "long"], ID_KINDS[:6], ID_KINDS],
    ids=["plain", "unicode", "long", "quoted", "every-kind"],
)
def test_native_and_python_paths_read_hostile_files_alike(column: int, kinds: list[str]) -> None:
    rng = random.Random(f"{column}-{kinds}")
    for _ in range(6):
        data, ids = hostile_file(rng, column, kinds, rng.choice([1, 10, 40, 400]))
        users = suppressed([*rng.sample(ids, len(ids) // 2), b"user-0", "üser-1-名".encode(), b"L" * 256])
        assert_same(data, users)


@needs_native
def test_plain_files_are_prefiltered_and_match_what_python_finds() -> None:
    rng = random.Random(7)
    data, ids = hostile_file(rng, 2, ["plain", "unicode"], 3000)
    data = data.replace(b'"a,b"', b"ab").replace(b'"multi\nline"', b"ml")
    users = suppressed(ids[::7])
    assert assert_same(data, users) == 3000
    (_, matched, _, _), _ = read(data, users, 1 << 22, prefiltered=True)
    assert {user_id for _, user_id in matched} == set(ids[::7])


@needs_native
@pytest.mark.parametrize(
    "block",
    [
        b'u1,a\nu2,"b"\n',
        b"u1,a\nu2,b\\c\n",
        b"u1,a\ru2,b\n",
        b"u1,a\nu2,b\r",
        b"u1,a\n,b\n",
        b"u1,a\n\n",
        b"u1,a\n" + b"x" * 257 + b",b\n",
    ],
    ids=["quote", "backslash", "lone-cr", "cr-at-end", "empty-id", "blank-line", "id-over-256-bytes"],
)
def test_the_prefilter_refuses_a_block_it_cannot_read_exactly(block: bytes) -> None:
    prefilter = suppressed([b"u1"]).csv_prefilter()
    assert prefilter is not None
    assert prefilter(block, 0) is None
    assert prefilter(b"u1,a\n" + b"x" * 256 + b",b\r\nu1", 0) == (3, [0, 2], [0, 5 + 260])


@needs_native
def test_the_prefilter_finds_the_id_in_any_column_and_never_past_its_line() -> None:
    prefilter = suppressed([b"u1", b"u2"]).csv_prefilter()
    assert prefilter is not None
    assert prefilter(b"a,b,u1\r\nc,u1,u2\nd,e,u2,f", 2) == (3, [0, 1, 2], [0, 8, 16])
    assert prefilter(b"a,b,u1\nc,u1\n", 2) is None  # the second line has too few fields


@needs_native
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_scan_reports_the_same_matches_on_both_paths(
    s3_client: S3Client, bucket: str, compress: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(11)
    plain, ids = hostile_file(rng, 1, ["plain", "unicode"], 300_000)  # past the first block, gzip too
    plain = plain.replace(b'"a,b"', b"ab").replace(b'"multi\nline"', b"ml").replace(b"y" * 5000, b"y")
    hostile, more_ids = hostile_file(rng, 1, ["plain", "comma", "newline"], 200)
    data = plain.rstrip(b"\r\n") + b"\n" + hostile.split(b"\n", 1)[1]  # one header, the hostile records last
    ids += more_ids
    put(s3_client, "in/data.csv", gzip.compress(data) if compress else data)
    users = suppressed(ids[::5])
    source = S3Source(s3_client, f"s3://{BUCKET}/in/")
    found_native: list[bytes] = []
    native_report = scan_source(source, users, lambda _, user: found_native.append(user))
    monkeypatch.setattr(native, "_MODULE", None)
    found_python: list[bytes] = []
    python_report = scan_source(source, users, lambda _, user: found_python.append(user))
    assert native_report.prefiltered > 0
    assert python_report.prefiltered == 0
    assert (native_report.records, native_report.matches) == (python_report.records, python_report.matches)
    assert found_native == found_python
    assert set(found_native) == set(ids[::5])


def test_without_the_module_the_scan_runs_on_the_python_path(
    s3_client: S3Client, bucket: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "airflow_provider_personalize_deletion.scan._native", None)
    monkeypatch.delattr(scan_package, "_native", raising=False)
    assert native._load() is None  # the import fails as on a machine without the built module
    monkeypatch.setattr(native, "_MODULE", native._load())
    assert native.scan_path() == native.PYTHON
    users = suppressed([b"u2"])
    assert users.csv_prefilter() is None
    put(s3_client, "one.csv", b"USER_ID,ITEM_ID\nu1,i\nu2,i\nu3,i\n")
    with caplog.at_level(logging.INFO, logger="airflow_provider_personalize_deletion.scan.scan"):
        report = scan_source(S3Source(s3_client, f"s3://{BUCKET}/one.csv"), users)
    assert (report.records, report.matches, report.prefiltered) == (3, 1, 0)
    assert "on the python path" in caplog.text
    assert "u2" not in caplog.text
