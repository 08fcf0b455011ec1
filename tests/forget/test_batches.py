"""The objects of a run as XCom-safe data, split into batches for mapped tasks, and a batch's bucket guard."""

from __future__ import annotations

import pytest

from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from airflow_provider_personalize_deletion.forget.batch import ForgetScope, forget_objects
from airflow_provider_personalize_deletion.forget.objects import ForgetObject, checked_objects, split_batches

from .conftest import BUCKET, allow, forget_set, read


@pytest.fixture(autouse=True)
def allowed(monkeypatch):
    """The buckets of this module within ``[personalize_deletion] forget_allowed_locations``."""
    allow(monkeypatch, "s3://bkt/", f"s3://{BUCKET}/", "s3://elsewhere/")


def objects(*sizes: int) -> list[tuple[ForgetObject, int]]:
    return [(ForgetObject("bkt", f"k{index}", "csv"), size) for index, size in enumerate(sizes)]


def keys(batches: list[list[dict[str, str]]]) -> list[list[str]]:
    return [[item["key"] for item in batch] for batch in batches]


def test_a_batch_ends_at_the_object_count_or_before_the_bytes_limit():
    assert keys(split_batches(objects(1, 1, 1, 1, 1), max_objects=2)) == [["k0", "k1"], ["k2", "k3"], ["k4"]]
    assert keys(split_batches(objects(6, 5, 4, 20, 1), max_bytes=10)) == [
        ["k0"],
        ["k1", "k2"],
        ["k3"],
        ["k4"],
    ]


def test_beyond_the_mapping_limit_the_objects_go_in_fewer_larger_batches():
    batches = split_batches(objects(*[1] * 10), max_objects=1, max_batches=4)
    assert keys(batches) == [["k0", "k1", "k2"], ["k3", "k4", "k5"], ["k6", "k7", "k8"], ["k9"]]


def test_a_batch_holds_bucket_key_and_format_only():
    (batch,) = split_batches(objects(1))
    assert batch == [{"bucket": "bkt", "key": "k0", "format": "csv"}]
    assert checked_objects(batch) == [ForgetObject("bkt", "k0", "csv")]


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"bucket": "bkt", "key": "k", "format": "parquet"}, "objects[1].format"),
        ({"bucket": "B_", "key": "k", "format": "csv"}, "objects[1].bucket"),
        ({"bucket": "bkt", "key": "", "format": "csv"}, "objects[1].key"),
        ({"bucket": "bkt", "key": "k", "format": "csv", "user": "x"}, "objects[1]"),
    ],
)
def test_a_broken_object_is_refused_by_place_naming_the_rule(record, field):
    with pytest.raises(PersonalizeValidationError) as raised:
        checked_objects([{"bucket": "bkt", "key": "k", "format": "csv"}, record])
    assert raised.value.field == field


def test_an_object_outside_the_allowed_buckets_refuses_the_batch_before_any_object_is_read(s3_client, bucket):
    s3_client.create_bucket(Bucket="elsewhere")
    body = b"USER_ID\nu1\nu2\n"
    for name in (bucket, "elsewhere"):
        s3_client.put_object(Bucket=name, Key="users.csv", Body=body)
    batch = [ForgetObject(bucket, "users.csv", "csv"), ForgetObject("elsewhere", "users.csv", "csv")]
    scope = ForgetScope(forget_set(b"u1"), allowed_buckets=frozenset({bucket}))

    with pytest.raises(PersonalizeValidationError, match=r"objects\[1\]\.bucket"):
        forget_objects(s3_client, batch, scope)

    assert read(s3_client, bucket, "users.csv") == body
    assert read(s3_client, "elsewhere", "users.csv") == body


def test_each_result_is_handed_on_with_its_position_and_a_second_pass_removes_nothing(s3_client, bucket):
    s3_client.put_object(Bucket=bucket, Key="a.csv", Body=b"USER_ID\nu1\nu2\n")
    s3_client.put_object(Bucket=bucket, Key="b.csv", Body=b"USER_ID\nu3\n")
    batch = [ForgetObject(bucket, "a.csv", "csv"), ForgetObject(bucket, "b.csv", "csv")]
    seen: list[tuple[int, str, str]] = []
    scope = ForgetScope(forget_set(b"u1"), on_result=lambda i, item, r: seen.append((i, item.key, r.outcome)))

    forget_objects(s3_client, batch, scope)
    again = forget_objects(s3_client, batch, ForgetScope(forget_set(b"u1")))

    assert seen == [(0, "a.csv", "forgotten"), (1, "b.csv", "no_match")]
    assert [result.outcome for result in again] == ["no_match", "no_match"]
    assert read(s3_client, bucket, "a.csv") == b"USER_ID\nu2\n"


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (ForgetObject("bkt", "other/a.json", "jsonl"), "objects[1]"),  # in no location of the plan
        (ForgetObject("bkt", "imports/a.csv", "csv"), "objects[1]"),  # in the plan, not scannable
        (ForgetObject("bkt", "in/b.json", "csv"), "objects[1].format"),  # not its location's format
    ],
)
def test_an_object_outside_the_runs_plan_refuses_the_batch_before_any_call(item, field):
    from airflow_provider_personalize_deletion.forget.locations import Source, build_plan, s3_location

    declared = Source("declared", "forget_locations.locations[0]")
    plan = build_plan(
        [
            s3_location("s3://bkt/in/", "jsonl", declared),
            s3_location(
                "s3://bkt/imports/", "csv", Source("dataset_import_job", "arn"), reason="import_source"
            ),
        ]
    )
    batch = [ForgetObject("bkt", "in/a.json", "jsonl"), item]

    with pytest.raises(PersonalizeValidationError) as raised:
        forget_objects(None, batch, ForgetScope(forget_set(b"u1"), plan=plan))  # no client: no call

    assert raised.value.field == field


def test_a_batch_that_is_not_exactly_the_tasks_planned_batch_is_refused_before_any_call():
    """Every object lies in the plan's locations, but one was planned for another task's batch."""
    from airflow_provider_personalize_deletion.forget.locations import Source, build_plan, s3_location

    plan = build_plan([s3_location("s3://bkt/in/", "jsonl", Source("declared", "locations[0]"))])
    mine = (ForgetObject("bkt", "in/a.json", "jsonl"), ForgetObject("bkt", "in/b.json", "jsonl"))
    scope = ForgetScope(forget_set(b"u1"), plan=plan, batch=mine)

    for forged in ([*mine, ForgetObject("bkt", "in/c.json", "jsonl")], mine[:1], mine[::-1]):
        with pytest.raises(PersonalizeValidationError, match="exactly this task's batch"):
            forget_objects(None, forged, scope)  # no client: no call


def test_an_object_of_a_declared_location_in_another_format_is_unverified_and_left_as_it_was(
    s3_client, bucket
):
    from airflow_provider_personalize_deletion.forget.locations import Source, build_plan, s3_location

    body = b'{"input": {"userId": "u1"}}\n{"input": {"userId": "u2"}}\n'
    s3_client.put_object(Bucket=bucket, Key="copies/a.json", Body=body)
    plan = build_plan([s3_location(f"s3://{bucket}/copies/", "jsonl", Source("declared", "locations[0]"))])
    batch = [ForgetObject(bucket, "copies/a.json", "jsonl")]

    (declared,) = forget_objects(s3_client, batch, ForgetScope(forget_set(b"u1"), plan=plan))
    (unplanned,) = forget_objects(s3_client, batch, ForgetScope(forget_set(b"u1")))

    assert declared.outcome == "unverified" and "has no userId" in declared.reason
    assert unplanned.outcome == "no_match"  # the engine alone does not know where the object comes from
    assert read(s3_client, bucket, "copies/a.json") == body
