"""
The formats: which users each names, and the object's bytes without them, every other byte kept.
"""

from __future__ import annotations

import pytest

from airflow_provider_personalize_deletion.forget.formats import block_reader
from airflow_provider_personalize_deletion.scan.errors import CsvFormatError, JsonLinesFormatError

from .conftest import forget_set


def forget(file_format: str, data: bytes, *users: bytes, chunk: int = 7) -> tuple[bytes, int, int]:
    """The bytes kept, the records read and the records removed (read in small chunks, across lines)."""
    matcher = forget_set(*users)
    pieces, records, removed = [], 0, 0
    chunks = [data[start : start + chunk] for start in range(0, len(data), chunk)]
    for block in block_reader(file_format)(chunks, "s3://b/k"):
        hits = matcher.matches(block.user_ids).nonzero()[0].tolist() if block.user_ids else []
        pieces.extend(block.without(hits) if hits else [block.data])
        records += block.records
        removed += block.removed_records(hits)
    return b"".join(pieces), records, removed


INPUT = (
    b'\xef\xbb\xbf{"userId": "u1"}\r\n'
    b'{"userId":"u2","itemList":["i1","i2"]}\r\n'
    b"\r\n"
    b'{"itemId": "i9"}\n'
    b'{"userId": "\\u00e9t\\u00e9"}\n'
    b'{"userId": "u1", "filterValues": {"x": "\\"y\\""}}'
)


def test_batch_input_drops_each_line_naming_a_user_and_keeps_every_other_byte() -> None:
    kept, records, removed = forget("batch_inference_input", INPUT, b"u1")
    assert (
        kept
        == b'{"userId":"u2","itemList":["i1","i2"]}\r\n\r\n{"itemId": "i9"}\n{"userId": "\\u00e9t\\u00e9"}\n'
    )
    assert (records, removed) == (5, 2)


def test_a_json_escape_matches_the_ids_utf8_bytes() -> None:
    kept, _, removed = forget("batch_inference_input", INPUT, "été".encode())
    assert removed == 1
    assert b"u00e9" not in kept and kept.count(b"\n") == INPUT.count(b"\n") - 1


def test_batch_output_reads_input_user_id_not_other_user_ids() -> None:
    data = (
        b'{"input": {"userId": "u1"}, "output": {"recommendedItems": ["a"], "scores": [0.5]}, "error": 0}\n'
        b'{"input": {"userId": "u2"}, "output": {"recommendedItems": [], "userId": "u1"}}\n'
        b'{"userId": "u1", "input": {"itemId": "x"}}\n'
    )
    kept, records, removed = forget("batch_inference_output", data, b"u1")
    assert kept == data.split(b"\n", 1)[1]
    assert (records, removed) == (3, 1)


def test_segment_output_keeps_the_line_and_drops_the_user_from_either_array_name() -> None:
    data = (
        b'{"input": {"itemId": "i1"}, "output": {"usersList": ["u1", "u2" ,  "u3"]}, "error": null}\r\n'
        b'{"input":{"itemId":"i2"},"output":{"recommendedUsers":[ "u2" ]}}\n'
        b'{"input":{"itemId":"i3"},"output":{"usersList":["u3"]}}\n'
    )
    kept, records, removed = forget("batch_segment_output", data, b"u2", chunk=5)
    assert kept == (
        b'{"input": {"itemId": "i1"}, "output": {"usersList": ["u1", "u3"]}, "error": null}\r\n'
        b'{"input":{"itemId":"i2"},"output":{"recommendedUsers":[]}}\n'
        b'{"input":{"itemId":"i3"},"output":{"usersList":["u3"]}}\n'
    )
    assert (records, removed) == (3, 0)


def test_csv_drops_records_with_personalize_quoting_and_multi_line_fields() -> None:
    data = b'\xef\xbb\xbfUSER_ID,TEXT\r\n"u1","a\r\nb, \\"c\\""\r\nu2,x\r\n"u1",y'
    kept, records, removed = forget("csv", data, b"u1")
    assert kept == b"\xef\xbb\xbfUSER_ID,TEXT\r\nu2,x\r\n"
    assert (records, removed) == (3, 2)


@pytest.mark.parametrize(
    ("file_format", "data", "rule"),
    [
        ("batch_inference_input", b'{"userId": "u1"}\n{"userId": "secret-u2"\n', "line 2 is not valid JSON"),
        ("batch_inference_input", b'["secret-u2"]\n', "line 1 is not a JSON object"),
        ("batch_inference_input", b'{"userId": 12345}\n', "userId is not a string"),
        ("batch_inference_output", b'{"input": {"userId": "secret-\xff"}}\n', "line 1 is not UTF-8"),
        ("batch_segment_output", b'{"output": {"usersList": "secret-u2"}}\n', "usersList is not an array"),
        # A reader taking the second member would see "u2" only, and keep the line naming u1.
        ("batch_inference_input", b'{"userId": "u1", "user\\u0049d": "secret-u2"}\n', "names a member twice"),
        ("batch_segment_output", b'{"output": {"usersList": ["u1"], "usersList": []}}\n', "names a member"),
    ],
)
def test_a_malformed_line_is_an_error_naming_the_line_never_its_content(
    file_format: str, data: bytes, rule: str
) -> None:
    with pytest.raises(JsonLinesFormatError, match=rule) as raised:
        forget(file_format, data, b"u1")
    assert "secret" not in str(raised.value) and "12345" not in str(raised.value)


def test_a_csv_without_user_id_is_an_error() -> None:
    with pytest.raises(CsvFormatError, match="no USER_ID column"):
        forget("csv", b"ITEM_ID,TEXT\ni1,x\n", b"u1")


def test_an_unknown_format_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="'file_format': must be one of batch_inference_input"):
        block_reader("parquet")


def test_every_format_a_location_may_be_scanned_in_is_read_by_the_engine() -> None:
    from airflow_provider_personalize_deletion.forget.locations import DECLARED_FORMATS, FORMATS

    assert set(DECLARED_FORMATS) == set(FORMATS) - {"batch_segment_input"}
    for file_format in DECLARED_FORMATS:
        assert callable(block_reader(file_format))


def test_an_export_is_read_as_personalize_csv_and_jsonl_as_batch_input() -> None:
    assert forget("export_csv", b"USER_ID,ITEM_ID\nu1,i1\nu2,i2\n", b"u1") == (
        b"USER_ID,ITEM_ID\nu2,i2\n",
        2,
        1,
    )
    assert forget("jsonl", INPUT, b"u1") == forget("batch_inference_input", INPUT, b"u1")


def test_segment_input_names_no_user_and_is_never_read() -> None:
    with pytest.raises(ValueError, match="must be one of"):
        block_reader("batch_segment_input")
