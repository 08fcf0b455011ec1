"""
The bound of find and forget, ``[personalize_deletion] forget_allowed_locations``: read from the Airflow
configuration only; a declaration (a Variable's) may narrow it, never widen it; a look-alike prefix is not
inside it; a forged batch cannot step out of it; unset, nothing is read. Each refusal comes before any
AWS call and names the field and the rule, never the value.
"""

from __future__ import annotations

import pytest

from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from airflow_provider_personalize_deletion.forget.allowed_locations import (
    ENV,
    SETTING_NAME,
    AllowedLocations,
    configured_allowed_locations,
    parse_allowed_locations,
)
from airflow_provider_personalize_deletion.forget.batch import ForgetScope, forget_objects
from airflow_provider_personalize_deletion.forget.find_locations import find_locations
from airflow_provider_personalize_deletion.forget.objects import ForgetObject
from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook

from .conftest import BUCKET, allow, forget_set, read

SECRET = "alice@example.com"


def test_the_setting_holds_whole_buckets_and_folders_read_from_the_configuration(monkeypatch):
    monkeypatch.setenv(ENV, " s3://copies/ ,s3://data/users/2026 q1/,, ")

    bound = configured_allowed_locations()

    assert bound == AllowedLocations((("copies", ""), ("data", "users/2026 q1/")))
    assert bound.covers("copies", "any/key") and bound.covers("data", "users/2026 q1/a.csv")
    assert not bound.covers("data", "users/2026 q1") and not bound.covers("data", "users/2026 q10/a.csv")
    assert not bound.covers("copies-old", "a.csv")


@pytest.mark.parametrize(
    ("value", "field", "rule"),
    [
        (None, SETTING_NAME, "is not set"),
        (" , ", SETTING_NAME, "is not set"),
        (f"s3://copies/, https://copies/{SECRET}/", f"{SETTING_NAME} (entry 2)", "s3://bucket/"),
        (f"s3://Copies_{SECRET}/", f"{SETTING_NAME} (entry 1)", "valid bucket"),
        (f"s3://copies/{SECRET}", f"{SETTING_NAME} (entry 1)", "must end with /"),
        ("s3://copies/data", f"{SETTING_NAME} (entry 1)", "s3://b/data_old/"),
    ],
)
def test_a_broken_setting_names_itself_the_entry_and_the_rule_never_the_value(value, field, rule):
    with pytest.raises(PersonalizeValidationError) as raised:
        parse_allowed_locations(value)

    assert raised.value.field == field
    assert rule in raised.value.rule
    assert SECRET not in str(raised.value)


def test_unset_find_and_forget_reads_nothing_and_calls_nothing(aws_conn, emulator, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    group = emulator.create_dataset_group("shop")
    before = emulator.calls()

    with pytest.raises(PersonalizeValidationError) as raised:
        find_locations(
            PersonalizeHook(), [group], {"locations": [{"prefix": "s3://copies/", "format": "csv"}]}
        )

    assert raised.value.field == SETTING_NAME
    assert emulator.calls() == before


@pytest.mark.parametrize(
    ("declared", "field"),
    [
        # a prefix without its slash also holds data_old/: a look-alike of the configured folder
        ({"locations": [{"prefix": "s3://copies/data", "format": "jsonl"}]}, "locations[0].prefix"),
        ({"locations": [{"prefix": "s3://copies/data_old/", "format": "jsonl"}]}, "locations[0].prefix"),
        ({"locations": [{"key": "s3://copies/data_old/a.json", "format": "jsonl"}]}, "locations[0].key"),
        (
            {
                "locations": [
                    {"prefix": "s3://copies/data/", "format": "jsonl"},
                    {"prefix": "s3://other/data/", "format": "jsonl"},
                ]
            },
            "locations[1].prefix",
        ),
        # allowed_buckets may narrow the setting, never widen it to another bucket
        ({"allowed_buckets": ["copies", "other"]}, "allowed_buckets[1]"),
    ],
)
def test_a_declaration_outside_the_setting_is_refused_by_field_before_any_aws_call(
    aws_conn, emulator, monkeypatch, declared, field
):
    allow(monkeypatch, "s3://copies/data/")
    group = emulator.create_dataset_group("shop")
    before = emulator.calls()

    with pytest.raises(PersonalizeValidationError) as raised:
        find_locations(PersonalizeHook(), [group], declared, "personalize_erasure_forget_locations")

    assert raised.value.field == f"personalize_erasure_forget_locations.{field}"
    assert SETTING_NAME in raised.value.rule
    assert emulator.calls() == before


def test_a_declaration_within_the_setting_is_planned_and_allowed_buckets_narrows_it(
    aws_conn, emulator, monkeypatch
):
    allow(monkeypatch, "s3://copies/data/", "s3://other/")
    declared = {
        "locations": [
            {"prefix": "s3://copies/data/2026/", "format": "jsonl"},
            {"key": "s3://copies/data/a.json", "format": "jsonl"},
            {"prefix": "s3://other/x/", "format": "csv"},
        ],
        "allowed_buckets": ["copies"],
    }

    plan = find_locations(PersonalizeHook(), [], declared)

    assert {(location.uri, location.reason) for location in plan.locations} == {
        ("s3://copies/data/2026/", None),
        ("s3://copies/data/a.json", None),
        ("s3://other/x/", "bucket_not_allowed"),
    }


def test_a_forged_batch_outside_the_setting_is_refused_before_any_object_is_read(
    s3_client, bucket, monkeypatch
):
    """No plan and no allowed_buckets in the scope: the setting still holds (a batch may come from a forged
    XCom). The look-alike folder ``data_old/`` is outside ``data/``."""
    allow(monkeypatch, f"s3://{bucket}/data/")
    body = b"USER_ID\nu1\nu2\n"
    for key in ("data/a.csv", "data_old/a.csv"):
        s3_client.put_object(Bucket=bucket, Key=key, Body=body)
    batch = [ForgetObject(bucket, "data/a.csv", "csv"), ForgetObject(bucket, "data_old/a.csv", "csv")]

    with pytest.raises(PersonalizeValidationError) as raised:
        forget_objects(s3_client, batch, ForgetScope(forget_set(b"u1")))

    assert (raised.value.field, raised.value.rule) == ("objects[1]", f"must lie within {SETTING_NAME}")
    assert read(s3_client, bucket, "data/a.csv") == read(s3_client, bucket, "data_old/a.csv") == body


def test_a_batch_is_refused_while_the_setting_is_unset(s3_client, bucket, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    s3_client.put_object(Bucket=bucket, Key="a.csv", Body=b"USER_ID\nu1\n")

    with pytest.raises(PersonalizeValidationError) as raised:
        forget_objects(s3_client, [ForgetObject(BUCKET, "a.csv", "csv")], ForgetScope(forget_set(b"u1")))

    assert raised.value.field == SETTING_NAME
    assert read(s3_client, bucket, "a.csv") == b"USER_ID\nu1\n"
