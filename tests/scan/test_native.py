"""
The native pre-filter against the Python reader: the same records, the same matches, the same errors,
on hostile input, in any chunking; and the Python path alone when the module is not there.
"""

from __future__ import annotations

import gzip
import hmac
import logging
import random
import sys
from typing import TYPE_CHECKING

import pytest

import airflow_provider_personalize_deletion.scan as scan_package
from airflow_provider_personalize_deletion.scan import native
from airflow_provider_personalize_deletion.scan.csv_records import MAX_RECORD_BYTES, CsvRecordReader
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
#: Ids the pre-filter reads itself that differ from a plain one only in bytes it must not touch.
LOOKALIKE_KINDS = ["plain", "case", "space", "nul", "bom", "wide", "sha-block"]

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
        "case": rng.choice([b"User-%d", b"USER-%d"]) % rng.randrange(50),
        "space": rng.choice([b" user-%d", b"user-%d ", b"user-%d\t", b"user -%d"]) % rng.randrange(50),
        "nul": rng.choice([b"user-%d\0", b"\0user-%d", b"user\0-%d"]) % rng.randrange(50),
        "bom": b"\xef\xbb\xbfuser-%d" % rng.randrange(50),
        "wide": "名" * rng.choice([85, 86, 100]),  # 255, 258, 300 bytes: 256 characters or fewer
        "sha-block": b"s" * rng.choice([55, 56, 63, 64, 119, 120, 183, 184]),  # SHA-256 padding edges
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


def unquoted(data: bytes) -> bytes:
    """``data`` with :func:`hostile_file`'s quoted other fields and its 5000-byte one made plain."""
    return data.replace(b'"a,b"', b"ab").replace(b'"multi\nline"', b"ml").replace(b"y" * 5000, b"y")


@needs_native
@pytest.mark.parametrize("column", [0, 2, COLUMNS - 1])
def test_ids_differing_in_case_whitespace_nul_or_a_bom_are_told_apart_alike_on_both_paths(
    column: int,
) -> None:
    rng = random.Random(f"lookalike-{column}")
    for _ in range(4):
        data, ids = hostile_file(rng, column, LOOKALIKE_KINDS, rng.choice([50, 400, 3000]))
        data = unquoted(data)
        chosen = {*rng.sample(ids, len(ids) // 3), b"user-1", b"User-2", b" user-3", b"user-4\0"}
        users = suppressed(chosen)
        assert assert_same(data, users) > 0
        (_, matched, _, error), _ = read(data, users, 1 << 22, prefiltered=True)
        assert error is None
        assert matched == [(number, user) for number, user in enumerate(ids, 1) if user in chosen]


@needs_native
@pytest.mark.parametrize("key_length", [0, 1, 32, 63, 64, 65, 200])
def test_the_prefilter_hands_back_exactly_the_records_python_matches(key_length: int) -> None:
    rng = random.Random(key_length)
    key = rng.randbytes(key_length)
    alphabet = bytes(sorted(set(range(256)) - set(b',\r\n"\\')))
    ids = [bytes(rng.choice(alphabet) for _ in range(length)) for length in range(1, 257)]
    ids += ["é名😀".encode() * rng.randrange(1, 22) for _ in range(50)]
    chosen = rng.sample(ids, len(ids) // 2)
    filler = (rng.randbytes(32) for _ in range(50_000))  # buckets of many entries around the chosen
    users = SuppressedUsers(key, [*(hmac.digest(key, user, "sha256") for user in chosen), *filler])
    prefilter = users.csv_prefilter()
    assert prefilter is not None
    for column in (0, 3):
        lines = [b"a,b,c," * (column // 3) + user + b",z" for user in ids]
        block = b"\r\n".join(lines) + b"\r\n"
        found = prefilter(block, column)
        assert found is not None
        count, positions, offsets = found
        assert count == len(ids)
        assert positions == users.matches(ids).nonzero()[0].tolist()
        assert positions == [position for position, user in enumerate(ids) if user in set(chosen)]
        starts = [0, *(i + 1 for i, byte in enumerate(block) if byte == ord("\n"))]
        assert offsets == [starts[position] for position in positions]


@needs_native
@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xef\xbb\xbf",
        b"USER_ID,ITEM_ID",
        b"USER_ID,ITEM_ID\r\n",
        b"\xef\xbb\xbfUSER_ID,ITEM_ID\r\nuser-1,i\r\n\r\n",
        b"ITEM_ID,USER_ID\nuser-1,i\n",
        b"ITEM_ID,USER_ID\ni,user-1\ni\n",
        b"ITEM_ID,USER_ID\ni,user-1\ni,\n",
        b"ITEM_ID,USER_ID\ni,user-1\ni,user-1\r",
        b"ITEM_ID,USER_ID\ni,user-1,\ni,user-1,,,\n",
        b"USER_ID\nuser-1\n\0\n\0user-1\n",
        b"USER_ID\nuser-1\nuser-1\xc3\n",
    ],
    ids=[
        "empty", "bom-only", "header-only-no-newline", "header-only", "trailing-blank-line", "id-not-first",
        "short-record", "empty-id-last-column", "lone-cr-at-end", "trailing-empty-fields", "nul-ids",
        "cut-utf8",
    ],
)  # fmt: skip
def test_edge_files_read_alike_on_both_paths(data: bytes) -> None:
    assert_same(data, suppressed([b"user-1", b"\0", b"\0user-1"]))


@needs_native
def test_a_record_longer_than_the_read_limit_reads_alike_on_both_paths() -> None:
    long_field = b"x" * (MAX_RECORD_BYTES + 1000)
    data = b"ITEM_ID,USER_ID,NOTE\n" + b"i,user-1,a\n" + b"i,user-2," + long_field + b"\ni,user-3,b\n"
    users = suppressed([b"user-2", b"user-3"])
    for chunk_size in (1 << 16, 1 << 22):
        python, _ = read(data, users, chunk_size, prefiltered=False)
        with_native, _ = read(data, users, chunk_size, prefiltered=True)
        assert with_native == python


@needs_native
@pytest.mark.parametrize("chunk_size", [4096, 1 << 22])
def test_a_quoted_record_now_and_then_leaves_the_records_around_it_to_the_prefilter(chunk_size: int) -> None:
    lines = [b"user-%d,i,1\n" % (number % 97) for number in range(20_000)]
    for number in (5_000, 5_001, 12_345):
        lines[number] = b'user-%d,"an item, quoted",1\n' % number
    lines[15_000] = b"user-1,i\\j,1\n"  # a backslash outside quotes: an error on both paths
    data = b"USER_ID,ITEM_ID,TIMESTAMP\n" + b"".join(lines[:15_000])
    users = suppressed([b"user-3", b"user-5000", b"user-12345"])
    assert assert_same(data, users) == 15_000 - 3  # every record but the quoted ones
    (records, matched, _, error), prefiltered = read(data, users, chunk_size, prefiltered=True)
    assert (records, error) == (15_000, None)
    assert [user for _, user in matched].count(b"user-3") == 15_000 // 97 + 1
    assert {b"user-5000", b"user-12345"} <= {user for _, user in matched}
    assert prefiltered == 15_000 - 3
    broken = data + b"".join(lines[15_000:])
    assert "record 15001 (after the header) is not valid CSV" in read(broken, users, chunk_size, True)[0][3]
    assert_same(broken, users)


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
