"""
The evidence CSV in a spreadsheet: whether it is split on ",", on ";" (as in many European locales),
on tab or on "|" (both offered by import dialogs), with quotes respected, no cell starts a formula,
not even after whitespace, zero-width characters or a BOM.
"""

from __future__ import annotations

import csv
import io
import random
import re

import pytest

from airflow_provider_personalize_deletion.dashboard.evidence import evidence_csv

#: What spreadsheets run as a formula at a cell's start (after any whitespace, but a tab or a CR).
FORMULA_STARTS = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
#: What a spreadsheet may skip at a cell's start: whitespace, zero-width characters, the BOM.
SKIPPED = re.compile(r"^[\s\u200b-\u200d\u2060\ufeff]*")
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]
SEPARATORS = [",", ";", "\t", "|"]
#: The attack's values (issue 18).
HOSTILE = [
    "req-7;=cmd|' /C calc'!A0",
    "portal;=1+1",
    "\n=1",
    " =1",
    "\uff1d1",
    "=HYPERLINK(1)",
    "a,=1",
    'x;"=1',
    'x";""=1',
    "x;\r\n\t@SUM(1)",
    "\t1",
    "\r1",
    "x;\uff0b1",
    "x;\u3000\uff20A1",
    "ok\t=HYPERLINK(1)",
    "ok|=HYPERLINK(1)",
    'x|"=1',
    "x\t\t+1",
    "\u200b=1",
    "\ufeff+1",
    "x;\u2060@A1",
    "x|\u200d\u200c-1",
    "x,\ufeff \u200b=1",
]


def starts_a_formula(cell: str) -> bool:
    if PLAIN_NUMBER.fullmatch(cell):
        return False
    return cell.startswith(("\t", "\r")) or SKIPPED.sub("", cell).startswith(FORMULA_STARTS)


def cells(text: str, delimiter: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) for cell in row]


def record(text: str, number: int | float = 3) -> dict:
    """An evidence record whose every text field holds ``text`` and every number field ``number``."""
    return {
        "request_count": number,
        "truncated": False,
        "status_now": {"status": text},
        "subject": {"user_id": text, "as_typed": True},
        "requests": [
            {
                "request_id": text,
                "source": text,
                "status": text,
                "requested_at": text,
                "erased_at": text,
                "days_to_erasure": number,
                "within_deadline": True,
                "rejected_reason": text,
                "reappeared": {
                    "dataset_group_arn": text,
                    "dataset_arn": text,
                    "export_job_arn": text,
                    "found_at": text,
                },
                "reappeared_unread": False,
                "found_again_by": text,
                "run": {
                    "run_id": text,
                    "outcome": text,
                    "recorded_at": text,
                    "ledger": {"sequence": number, "record_sha256": text},
                    "deletion_file": {
                        "id_count": number,
                        "file_count": number,
                        "fingerprint": text,
                        "written_at": text,
                        "deleted": False,
                        "kept_because": text,
                    },
                },
                "dataset_groups_not_holding": [text],
                "dataset_groups": [
                    {
                        "dataset_group_arn": text,
                        "status": text,
                        "held_person": text,
                        "verification": {
                            "status": text,
                            "run_id": text,
                            "recorded_at": text,
                            "export_job_arns": [text, text],
                            "ledger": {"sequence": number, "record_sha256": text},
                        },
                        "jobs": [
                            {
                                "job_name": text,
                                "job_arn": text,
                                "status": text,
                                "created_at": text,
                                "completed_at": text,
                                "num_deleted_all_ids_of_file": number,
                                "erasure_round": number,
                                "overlapping_activity": [text],
                            }
                        ],
                    }
                ],
            }
        ],
    }


@pytest.mark.parametrize("delimiter", SEPARATORS)
@pytest.mark.parametrize("value", HOSTILE)
def test_no_cell_starts_a_formula_whatever_the_separator(value, delimiter):
    written = evidence_csv(record(value))

    assert [cell for cell in cells(written, delimiter) if starts_a_formula(cell)] == []


@pytest.mark.parametrize("delimiter", SEPARATORS)
def test_no_cell_starts_a_formula_for_random_values_of_dangerous_characters(delimiter):
    alphabet = [*"=+-@\t\r\n ;,|\"'a1", "\uff1d", "\uff0b", "\uff0d", "\uff20", "\u3000", *ZERO_WIDTH]
    rng = random.Random(18)
    for _ in range(3000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 10)))
        number = rng.choice([0, 7, 2.5, -1, -0.5])
        written = evidence_csv(record(value, number))
        found = [cell for cell in cells(written, delimiter) if starts_a_formula(cell)]
        assert found == [], f"{value!r} ({number}) gives {found!r}"


@pytest.mark.parametrize("delimiter", SEPARATORS)
@pytest.mark.parametrize("request_id", [-7, -0.5, 7])
def test_a_numeric_request_id_in_the_first_column_starts_no_formula_whatever_the_separator(
    request_id, delimiter
):
    hostile = record("x")
    hostile["requests"][0]["request_id"] = request_id

    assert [cell for cell in cells(evidence_csv(hostile), delimiter) if starts_a_formula(cell)] == []


def test_a_value_read_with_commas_keeps_its_text_behind_the_neutralising_quote():
    (row,) = csv.DictReader(io.StringIO(evidence_csv(record("portal;=1+1")), newline=""))

    assert row["source"] == "portal;'=1+1"
    assert row["run_id"] == "portal;'=1+1"


def test_numbers_are_unquoted_and_plain_text_is_quoted_unchanged():
    written = evidence_csv(record("arn:aws:personalize:us-east-1:123456789012:dataset-group/shop", 12))
    (header, line) = written.splitlines()[:2]

    assert header.startswith('"subject_user_id","request_id","source",')
    assert '"arn:aws:personalize:us-east-1:123456789012:dataset-group/shop"' in line
    assert ",12," in line and ',"true",' in line
