"""
The deletion file logic without Airflow or S3: validation, CSV encoding, splitting, external sort.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import hmac
import io
import os
import random
import stat

import pytest

from airflow_provider_personalize_deletion.deletion_file.builder import DeletionFileBuilder
from airflow_provider_personalize_deletion.deletion_file.csv_file import (
    HEADER,
    MAX_LINE_BYTES,
    MIN_FILE_BYTES,
    encode_csv,
    split_into_files,
)
from airflow_provider_personalize_deletion.deletion_file.gnu_sort import (
    ExternalSortError,
    GnuSort,
    gnu_sort_path,
)
from airflow_provider_personalize_deletion.deletion_file.sorted_runs import SortedRunStore
from airflow_provider_personalize_deletion.deletion_file.user_ids import UserIdValidator, invalid_reason

ALPHABET = 'ab,"\t \x00é用🙂'
#: Ids whose order, quoting or encoding an implementation could get wrong: a prefix followed by a byte
#: below "\n", quotes and commas, a byte above 0x7F against ASCII, four-byte UTF-8.
TRICKY_IDS = [
    "a",
    "a\t",
    "a\x00",
    "a\x01b",
    "a\x0b",
    "a b",
    "a,b",
    '"a"',
    'a"',
    "é",
    "e",
    "用户",
    "🙂",
    "\x7f",
    "z",
]


def id_lines(ids: list[str]) -> bytes:
    return "".join(f"{user_id}\n" for user_id in ids).encode()


def random_ids(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(ALPHABET, k=rng.randint(1, 6))) for _ in range(count)]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "null"),
        ("", "empty"),
        ("x" * 257, "too_long"),
        ("a\nb", "line_break"),
        ("a\rb", "line_break"),
        ("lone \ud800 surrogate", "not_utf8"),
        (b"\xff", "not_utf8"),
        ("x" * 256, None),
        ("🙂" * 256, None),
        (" padded ", None),
        (12345, None),
    ],
)
def test_invalid_reason_of_one_value(value, reason):
    assert invalid_reason(value) == reason


def test_validator_keeps_valid_ids_in_order_and_counts_the_rest():
    validator = UserIdValidator()

    valid = validator.valid_id_lines(["b", None, "a", "", 7, "x\ny", b"bytes-id", "\udcff"])

    assert valid == (b"b\na\n7\nbytes-id\n", 4)
    assert validator.invalid == {"null": 1, "empty": 1, "too_long": 0, "line_break": 1, "not_utf8": 1}


@pytest.mark.parametrize(
    "batch",
    [["a", "b"], [1, 2], ["é", "🙂"], ["a" * 256], ["é" * 256], [b"a", b"b"], [b"\xc3\xa9" * 256], []],
)
def test_validator_accepts_all_valid_batches(batch):
    validator = UserIdValidator()

    expected = [value.decode() if isinstance(value, bytes) else str(value) for value in batch]
    assert validator.valid_id_lines(batch) == (id_lines(expected), len(batch))
    assert validator.invalid_count == 0


@pytest.mark.parametrize(
    ("invalid", "reason"),
    [
        (b"", "empty"),
        (b"a\nb", "line_break"),
        (b"a\rb", "line_break"),
        (b"a" * 257, "too_long"),
        (b"\xc3\xa9" * 257, "too_long"),
        (b"\xff", "not_utf8"),
        (None, "null"),
    ],
)
def test_validator_checks_bytes_as_utf8_text(invalid, reason):
    validator = UserIdValidator()

    valid = validator.valid_id_lines([b"a", "b", b"\xc3\xa9" * 256, invalid])

    assert valid == (id_lines(["a", "b", "é" * 256]), 3)
    assert validator.invalid_count == 1 and validator.invalid[reason] == 1


def test_csv_encoding_is_the_csv_modules():
    ids = random_ids(2000, seed=1)
    expected = io.StringIO()
    csv.writer(expected, lineterminator="\n").writerows([user_id] for user_id in ids)

    assert encode_csv(id_lines(ids)) == expected.getvalue().encode()


def test_the_longest_id_fits_the_longest_line():
    assert len(encode_csv(id_lines(['"' * 256]))) <= MAX_LINE_BYTES
    assert len(encode_csv(id_lines(["🙂" * 256]))) <= MAX_LINE_BYTES


def test_split_files_each_start_with_the_header_and_stay_under_the_limit():
    lines = encode_csv(id_lines(random_ids(3000, seed=2)))
    chunks = [lines[i : i + 700] for i in range(0, len(lines), 700)]
    chunks = [chunk[: chunk.rfind(b"\n") + 1] for chunk in chunks]  # whole lines only
    lines = b"".join(chunks)

    files: dict[int, bytes] = {}
    for index, piece in split_into_files(chunks, MIN_FILE_BYTES):
        files[index] = files.get(index, b"") + piece

    assert list(files) == list(range(len(files))) and len(files) > 1
    assert all(body.startswith(HEADER) and len(body) <= MIN_FILE_BYTES for body in files.values())
    assert b"".join(body[len(HEADER) :] for body in files.values()) == lines


def test_split_makes_no_file_without_ids():
    assert list(split_into_files([b""], MIN_FILE_BYTES)) == []


def test_split_refuses_a_limit_too_small_for_one_id():
    with pytest.raises(ValueError, match="at least"):
        list(split_into_files([b"a\n"], MIN_FILE_BYTES - 1))


@pytest.mark.parametrize("ordered", [True, False], ids=["disjoint runs", "overlapping runs"])
def test_sorted_runs_yield_each_distinct_id_once_in_byte_order(ordered):
    ids = random_ids(5000, seed=3) * 2
    if ordered:
        ids.sort()
    with contextlib.closing(SortedRunStore(run_size=700)) as store:
        for start in range(0, len(ids), 300):
            store.add(id_lines(ids[start : start + 300]), len(ids[start : start + 300]))
        merged = b"".join(store.unique_id_lines())

    assert merged == b"".join(sorted({f"{user_id}\n".encode() for user_id in ids}))


def test_ids_with_characters_below_line_break_merge_without_duplicates():
    # "a" < "a\t" as text, but "a\t\n" < "a\n" as lines: runs must agree with the merge
    with contextlib.closing(SortedRunStore(run_size=2)) as store:
        for batch in (["a", "a\t"], ["a\t", "a"], ["a\x00", "a"]):
            store.add(id_lines(batch), len(batch))
        merged = b"".join(store.unique_id_lines())

    assert merged == b"a\x00\na\t\na\n"


def build_files(ids: list[str], use_gnu_sort: bool) -> tuple[dict[int, bytes], str, int]:
    """The files, fingerprint and count of distinct ids a builder makes of ids (in batches of 300)."""
    files: dict[int, bytes] = {}
    with DeletionFileBuilder(
        MIN_FILE_BYTES, fingerprint_key=b"k" * 32, run_size=700, use_gnu_sort=use_gnu_sort
    ) as builder:
        for start in range(0, len(ids), 300):
            builder.add(ids[start : start + 300])
        for index, piece in builder.file_pieces():
            files[index] = files.get(index, b"") + piece
        return files, builder.fingerprint, builder.unique_count


def test_gnu_sort_writes_the_bytes_and_fingerprint_of_sorted_runs():
    assert gnu_sort_path() is not None, "GNU coreutils' sort must be installed for this test"
    ids = random_ids(4000, seed=6) * 2 + TRICKY_IDS + [f"user-{number}" for number in range(3000)]
    random.Random(7).shuffle(ids)
    lines = b"".join(sorted({f"{user_id}\n".encode() for user_id in ids}))
    expected_csv = io.StringIO()
    csv.writer(expected_csv, lineterminator="\n").writerows(
        [line] for line in lines.decode().split("\n")[:-1]
    )

    by_gnu_sort, by_sorted_runs = build_files(ids, use_gnu_sort=True), build_files(ids, use_gnu_sort=False)

    assert by_gnu_sort == by_sorted_runs
    files, fingerprint, count = by_gnu_sort
    assert b"".join(body.removeprefix(HEADER) for body in files.values()) == expected_csv.getvalue().encode()
    assert fingerprint == "hmac-sha256:" + hmac.new(b"k" * 32, lines, hashlib.sha256).hexdigest()
    assert count == lines.count(b"\n") and len(files) > 1


def test_gnu_sort_spills_only_into_the_private_directory(tmp_path):
    private = tmp_path / "ids"
    private.mkdir(mode=0o700)
    lines = b"".join(f"user-{number:07d}\n".encode() for number in reversed(range(300_000)))
    sorter = GnuSort(gnu_sort_path(), str(private), buffer_bytes=256 * 1024)
    try:
        sorter.add(lines)
        merged = sorter.unique_id_lines()
        first = next(merged)  # GNU sort is in its final merge, its temp files still open
        spilled = list(private.iterdir())
        assert spilled and all(path.name.startswith("sort") for path in spilled)
        assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in spilled)
        assert first + b"".join(merged) == b"".join(sorted(lines.splitlines(keepends=True)))
    finally:
        sorter.close()
    assert list(private.iterdir()) == []
    assert list(tmp_path.iterdir()) == [private]


@pytest.mark.parametrize("dies_before", ["the next ids", "the sorted ids"])
def test_a_gnu_sort_that_dies_fails_the_export_without_an_id(tmp_path, dies_before):
    sorter = GnuSort(gnu_sort_path(), str(tmp_path))
    try:
        sorter.add(b"secret-user-1\n")
        sorter._process.kill()
        sorter._process.wait()
        with pytest.raises(ExternalSortError) as failure:
            if dies_before == "the next ids":
                sorter.add(b"secret-user-2\n")
            list(sorter.unique_id_lines())
    finally:
        sorter.close()
    assert "exit code -9" in str(failure.value) and "secret" not in str(failure.value)
    assert failure.value.__cause__ is None


def test_run_files_are_private_and_removed_on_close():
    store = SortedRunStore(run_size=1)
    store.add(b"someone\n", 1)
    run_dir = store._tmp.name

    assert stat.S_IMODE(os.stat(run_dir).st_mode) == 0o700
    assert os.listdir(run_dir)
    store.close()
    assert not os.path.exists(run_dir)


def test_builder_fingerprint_depends_on_the_set_only():
    ids = random_ids(3000, seed=4)
    shuffled = [*ids, *ids[:500]]
    random.Random(5).shuffle(shuffled)
    key = b"k" * 32
    expected = hmac.new(key, b"".join(sorted({f"{i}\n".encode() for i in ids})), hashlib.sha256).hexdigest()

    fingerprints = []
    for values, run_size in ((ids, 10_000), (shuffled, 400)):
        with DeletionFileBuilder(MIN_FILE_BYTES, fingerprint_key=key, run_size=run_size) as builder:
            builder.add(values)
            list(builder.file_pieces())
            fingerprints.append(builder.fingerprint)
            assert builder.unique_count == len(set(ids))

    assert fingerprints == [f"hmac-sha256:{expected}"] * 2
