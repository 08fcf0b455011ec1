"""The CSV reader: whole records as written, with each record's USER_ID, whatever the chunking."""

from __future__ import annotations

import random

import pytest

from airflow_provider_personalize_deletion.scan.csv_records import CsvRecordReader
from airflow_provider_personalize_deletion.scan.errors import CsvFormatError

CHUNK_SIZES = [1, 2, 5, 64, 1 << 20]


def read_all(data: bytes, chunk_size: int = 3) -> tuple[bytes, list[bytes], bytes]:
    """The header's bytes, every USER_ID and the records' bytes, read in chunks of ``chunk_size``."""
    reader = CsvRecordReader([data[i : i + chunk_size] for i in range(0, len(data), chunk_size)], "s3://b/k")
    blocks = list(reader)
    return reader.header.raw, [i for b in blocks for i in b.user_ids], b"".join(b.data for b in blocks)


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
@pytest.mark.parametrize(
    ("data", "expected_ids"),
    [
        (b"USER_ID,ITEM_ID\nu1,i1\nu2,i2\n", [b"u1", b"u2"]),
        (b"ITEM_ID,USER_ID,TIMESTAMP\r\ni1,u1,1\r\ni2,u2,2", [b"u1", b"u2"]),
        (b"\xef\xbb\xbfUSER_ID\r\nu1\r\n", [b"u1"]),
        (b'USER_ID,TEXT\n"a,b","x\ny"\nu2,"say \\"hi\\", ""twice"""\n', [b"a,b", b"u2"]),
        (b'TEXT,USER_ID\n"line\r\nbreak","id\\"q"\n"c:\\\\dir",\'u\'\n', [b'id"q', b"'u'"]),
        (
            b'USER_ID\n"doubled "" quote"\n"back\\\\slash"\n',
            [b'doubled " quote', b"back\\slash"],
        ),
        (" USER_ID,CITY\nünï,Zürich\n".encode()[1:], ["ünï".encode()]),
        (b"USER_ID,ITEM_ID\n", []),
        (b"USER_ID", []),
    ],
    ids=[
        "lf",
        "crlf-no-final-newline",
        "bom",
        "quoted-commas-newlines",
        "escapes",
        "unescaping",
        "utf8",
        "header-only",
        "header-only-no-newline",
    ],
)
def test_records_are_read_as_written(data: bytes, expected_ids: list[bytes], chunk_size: int) -> None:
    header, ids, records = read_all(data, chunk_size)
    assert ids == expected_ids
    assert header + records == data


def test_record_ends_and_without_keep_every_other_byte() -> None:
    data = b'USER_ID,T\r\nu1,"a\r\nb"\r\nu2,x\r\nu3,"y,z"\r\nu4,w'

    def without(records: set[int]) -> bytes:
        kept = b""
        for block in CsvRecordReader([data], "s3://b/k"):
            drop = [position for position in range(block.records) if block.first_record + position in records]
            kept += b"".join(block.without(drop))
        return kept

    assert without({2, 4}) == b'u1,"a\r\nb"\r\nu3,"y,z"\r\n'
    assert without({1}) == b'u2,x\r\nu3,"y,z"\r\nu4,w'


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"ITEM_ID,TIMESTAMP\ni1,1\n", "no USER_ID column"),
        (b"user_id\nu1\n", "no USER_ID column"),
        (b"USER_ID,USER_ID\nu1,u1\n", "more than one USER_ID column"),
        (b"USER_ID,ITEM_ID\n,i1\n", "record 1 .* empty USER_ID"),
        (b"USER_ID\nu1\n\nu2\n", "record 2 .* empty USER_ID"),
        (b"ITEM_ID,USER_ID\ni1,u1\ni2\n", "record 2 .* fewer fields"),
        (b'USER_ID,T\nu1,"open\nu2,x\n', "record 1 .* quote never closed"),
        (b'USER_ID,T\nu1,a"b\n', "record 1 .* double quote or a backslash inside an unquoted field"),
        (b"USER_ID\nu1\n" + b"x" * 257 + b"\n", "record 2 .* more than 256 characters"),
        (b"USER_ID,T\nu1,caf\xe9\n", "not UTF-8"),
        (b"USER_ID\nu\xff\n", "not UTF-8"),
    ],
    ids=[
        "empty-file",
        "no-user-id",
        "case-differs",
        "two-user-ids",
        "empty-id",
        "blank-line",
        "short-record",
        "unclosed-quote",
        "stray-quote",
        "id-too-long",
        "latin1-field",
        "non-utf8-id",
    ],
)
def test_bad_input_is_a_clear_error_naming_the_file(data: bytes, message: str) -> None:
    with pytest.raises(CsvFormatError, match=message) as error:
        read_all(data)
    assert "s3://b/k" in str(error.value)


def test_an_id_of_256_characters_is_taken() -> None:
    long_id = "é".encode() * 256
    assert read_all(b"USER_ID\n" + long_id + b"\n")[1] == [long_id]


def test_an_error_never_shows_the_id() -> None:
    with pytest.raises(CsvFormatError) as error:
        read_all(b'USER_ID,T\nsecret-user,"open\n')
    assert "secret-user" not in str(error.value)


def random_field(rng: random.Random) -> bytes:
    alphabet = ["a", "b", "é", ",", '"', "\\", "\n", "\r\n", " "]
    text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
    if not any(c in text for c in ',"\\\n\r'):
        return text.encode()
    escaped = text.replace("\\", "\\\\").replace('"', rng.choice(['\\"', '""']))
    return f'"{escaped}"'.encode()


@pytest.mark.parametrize("seed", range(40))
def test_random_csvs_round_trip_byte_for_byte(seed: int) -> None:
    rng = random.Random(seed)
    newline = rng.choice([b"\n", b"\r\n"])
    columns = rng.randint(1, 4)
    position = rng.randrange(columns)
    names = [b"F%d" % n for n in range(columns)]
    names[position] = b"USER_ID"
    lines = [rng.choice([b"", b"\xef\xbb\xbf"]) + b",".join(names)]
    expected = []
    for _ in range(rng.randint(0, 30)):
        fields = [random_field(rng) for _ in range(columns)]
        fields[position] = b"u%d" % rng.randint(0, 9) if rng.random() < 0.5 else fields[position]
        lines.append(b",".join(fields))
        expected.append(fields[position])
    data = newline.join(lines) + rng.choice([newline, b""])
    header, ids, records = read_all(data, rng.choice(CHUNK_SIZES))
    assert header + records == data
    assert len(ids) == len(expected)
    assert [i for i, raw in zip(ids, expected, strict=True) if not raw.startswith(b'"')] == [
        raw for raw in expected if not raw.startswith(b'"')
    ]


@pytest.mark.parametrize("chunk_size", [1, 1 << 20])
@pytest.mark.parametrize(
    "data",
    [
        b"ITEM_ID,USER_ID\ni1,alice\ri2,bob\n",
        b"USER_ID\r\nalice\rbob\r\n",
        b"ITEM_ID,USER_ID\ni\\,x,bob\n",
        b"USER_ID,T\nb\\ob,1\n",
        b'USER_ID,T\n"b\\ob",1\n',
        b'USER_ID,T\n"x",1\nb\\ob,"y"\n',
    ],
    ids=[
        "lone-cr-hides-a-record",
        "cr-only-records",
        "backslash-comma-shifts-fields",
        "unquoted-backslash-in-id",
        "quoted-unknown-escape-in-id",
        "unquoted-backslash-beside-quotes",
    ],
)
def test_bytes_an_import_reads_otherwise_are_refused_never_read_another_way(
    data: bytes, chunk_size: int
) -> None:
    """A lone CR ends a record, and a backslash escapes any character, for a reader like the emulator's
    (Python's csv): the scan must never pass an id other than the one imported; it refuses instead."""
    with pytest.raises(CsvFormatError, match=r"record \d .*(carriage return|backslash)"):
        read_all(data, chunk_size)


@pytest.mark.parametrize(
    ("data", "expected_ids"),
    [
        (b'USER_ID,T\n"a\\"b",1\n"c\\\\d",2\n', [b'a"b', b"c\\d"]),
        (b'USER_ID,T\r\nu1,"x\\ny"\r\n', [b"u1"]),
    ],
    ids=["defined-escapes-in-id", "any-escape-in-another-quoted-field"],
)
def test_escapes_both_readers_agree_on_are_read(data: bytes, expected_ids: list[bytes]) -> None:
    from airflow_provider_personalize_deletion.emulator.dataset_input import _parse

    assert read_all(data)[1] == expected_ids
    assert [record["USER_ID"].encode() for record in _parse(data, "s3://b/k", "USER_ID")] == expected_ids
