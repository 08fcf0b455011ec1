"""The locations a user declares: checked before any AWS call, each error naming the field and the rule
and never the value; keys with spaces and unicode accepted."""

from __future__ import annotations

import json

import pytest

from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from airflow_provider_personalize_deletion.forget.declared_locations import parse_declared_locations
from airflow_provider_personalize_deletion.forget.find_locations import find_locations
from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook

from .conftest import allow

SECRET = "alice@example.com"


def test_a_declaration_gives_prefix_and_exact_locations_with_their_formats():
    declared = parse_declared_locations(
        json.dumps(
            {
                "locations": [
                    {"prefix": "s3://copies/users/", "format": "csv"},
                    {"key": "s3://copies/mes données/été 2026.jsonl", "format": "jsonl"},
                    {"prefix": "s3://data/imports/", "format": "csv", "rewrite_import_source": True},
                ],
                "allowed_buckets": ["copies", "data"],
            }
        )
    )

    assert [(loc.bucket, loc.key, loc.prefix, loc.format) for loc in declared.locations] == [
        ("copies", "users/", True, "csv"),
        ("copies", "mes données/été 2026.jsonl", False, "jsonl"),
        ("data", "imports/", True, "csv"),
    ]
    assert [loc.rewrite_import_source for loc in declared.locations] == [False, False, True]
    assert declared.locations[1].sources[0].name == "forget_locations.locations[1]"
    assert declared.allowed_buckets == ("copies", "data")


@pytest.mark.parametrize("empty", [None, "", "  "])
def test_no_declaration_is_no_location_and_any_bucket(empty):
    declared = parse_declared_locations(empty)

    assert (declared.locations, declared.allowed_buckets) == ((), None)


@pytest.mark.parametrize(
    ("value", "field", "rule"),
    [
        ("{not json", "forget_locations", "must be JSON text"),
        ([], "forget_locations", "must be an object"),
        ({SECRET: 1}, "forget_locations (member 1)", "is unknown"),
        ({"locations": {}}, "forget_locations.locations", "must be a list"),
        ({"locations": [SECRET]}, "forget_locations.locations[0]", "must be an object"),
        (
            {"locations": [{"format": "csv"}]},
            "forget_locations.locations[0]",
            "exactly one of prefix and key",
        ),
        (
            {"locations": [{"prefix": "s3://b/a", "key": "s3://b/a", "format": "csv"}]},
            "forget_locations.locations[0]",
            "exactly one of prefix and key",
        ),
        (
            {"locations": [{"prefix": f"https://b.s3.amazonaws.com/{SECRET}", "format": "csv"}]},
            "forget_locations.locations[0].prefix",
            "must be an s3:// URI",
        ),
        (
            {"locations": [{"prefix": "s3://Not_A_Bucket/x", "format": "csv"}]},
            "forget_locations.locations[0].prefix",
            "must name a valid bucket",
        ),
        (
            {"locations": [{"key": "s3://bucket", "format": "csv"}]},
            "forget_locations.locations[0].key",
            "object key",
        ),
        (
            {"locations": [{"key": "s3://bucket/" + "k" * 1025, "format": "csv"}]},
            "forget_locations.locations[0].key",
            "at most 1024 UTF-8 bytes",
        ),
        (
            {"locations": [{"prefix": "s3://bucket/x", "format": "parquet"}]},
            "forget_locations.locations[0].format",
            "must be one of",
        ),
        (
            {"locations": [{"prefix": "s3://bucket/x", "format": "batch_segment_input"}]},
            "forget_locations.locations[0].format",
            "must be one of",
        ),
        (
            {"locations": [{"prefix": "s3://bucket/x", "format": "csv", "rewrite_import_source": "yes"}]},
            "forget_locations.locations[0].rewrite_import_source",
            "true or false",
        ),
        ({"allowed_buckets": "bucket"}, "forget_locations.allowed_buckets", "list of bucket names"),
        ({"allowed_buckets": ["ok-bucket", "B"]}, "forget_locations.allowed_buckets[1]", "valid bucket"),
    ],
)
def test_a_broken_rule_names_the_field_and_the_rule_never_the_value(value, field, rule):
    with pytest.raises(PersonalizeValidationError) as raised:
        parse_declared_locations(value if isinstance(value, str) else json.dumps(value))

    assert raised.value.field == field
    assert rule in raised.value.rule
    assert SECRET not in str(raised.value)


def test_a_broken_declaration_is_refused_before_any_aws_call(aws_conn, emulator, monkeypatch):
    allow(monkeypatch, "s3://bucket/")
    group = emulator.create_dataset_group("shop")
    before = emulator.calls()

    with pytest.raises(PersonalizeValidationError, match="format"):
        find_locations(
            PersonalizeHook(), [group], {"locations": [{"prefix": "s3://bucket/x", "format": "xml"}]}
        )

    assert emulator.calls() == before


def test_a_malformed_dataset_group_arn_is_refused_before_any_aws_call(aws_conn, emulator, monkeypatch):
    allow(monkeypatch, "s3://bucket/")
    with pytest.raises(PersonalizeValidationError, match=r"dataset_group_arns\[0\]"):
        find_locations(PersonalizeHook(), ["not-an-arn"])

    assert emulator.calls() == 0
