"""
Bad input at the operators of find and forget: each a defined outcome, never a silent pass, and no user
id in any message. The objects are on the emulator's S3; the operators run as a task runs them
(``execute``), on the test AWS connection.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from airflow_provider_personalize_deletion.forget import lines
from airflow_provider_personalize_deletion.forget.batch import ForgetScope
from airflow_provider_personalize_deletion.operators.find_and_forget import (
    FORGET_PLAN_XCOM_KEY,
    PersonalizeFindForgetBatchesOperator,
    PersonalizeForgetObjectsOperator,
)

from .conftest import BUCKET, allow, forget_set, read

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: The user to forget; no message may hold it.
ERASED = "u3-erased"


@pytest.fixture(autouse=True)
def allowed(monkeypatch):
    """The buckets of this module within ``[personalize_deletion] forget_allowed_locations``."""
    allow(monkeypatch, f"s3://{BUCKET}/", "s3://bucket-that-does-not-exist/")


def forget(objects: list[dict[str, str]]) -> list[dict[str, Any]]:
    operator = PersonalizeForgetObjectsOperator(
        task_id="forget", objects=objects, scope=lambda context: ForgetScope(forget_set(ERASED.encode()))
    )
    return operator.execute({})  # type: ignore[arg-type]


def jsonl(*users: str) -> bytes:
    return "".join(json.dumps({"userId": user, "itemId": "i1"}) + "\n" for user in users).encode()


def one(bucket: str, key: str, body: bytes | None, file_format: str, s3_client: S3Client) -> dict[str, Any]:
    """Forget in one object (put first unless ``body`` is None) and return its result."""
    if body is not None:
        s3_client.put_object(Bucket=bucket, Key=key, Body=body)
    (result,) = forget([{"bucket": bucket, "key": key, "format": file_format}])
    assert ERASED not in json.dumps(result)
    return result


@pytest.mark.parametrize(
    ("file_format", "body", "rule"),
    [
        ("jsonl", jsonl("u1") + b'{"userId": "' + ERASED.encode() + b'"\n', "line 2 is not valid JSON"),
        ("batch_inference_output", b"not json at all\n", "line 1 is not valid JSON"),
        ("csv", f"ITEM_ID,USER\ni1,{ERASED}\n".encode(), "no USER_ID column"),
    ],
)
def test_a_malformed_object_is_unverified_with_the_rule_and_left_as_it_was(
    aws_conn, s3_client, bucket, file_format, body, rule
):
    etag = s3_client.put_object(Bucket=bucket, Key="in/bad", Body=body)["ETag"]

    result = one(bucket, "in/bad", None, file_format, s3_client)

    assert (result["outcome"], result["verified"]) == ("unverified", False)
    assert rule in result["reason"]
    assert s3_client.head_object(Bucket=bucket, Key="in/bad")["ETag"] == etag


def test_a_line_over_the_engines_limit_is_unverified_and_the_object_left_as_it_was(
    aws_conn, s3_client, bucket, monkeypatch
):
    # The limit is 64 MiB, checked as a line grows over reads of 4 MiB; lowered to 1 MiB here so that a
    # line of 9 MiB (over two whole reads) is over it: the same check, on a smaller object.
    monkeypatch.setattr(lines, "MAX_LINE_BYTES", 1024 * 1024)
    body = jsonl(ERASED) + b'{"userId": "u1", "pad": "' + b"x" * (9 * 1024 * 1024) + b'"}\n'

    result = one(bucket, "in/huge-line.json", body, "jsonl", s3_client)

    assert result["outcome"] == "unverified" and "line 2 is longer than 1048576 bytes" in result["reason"]
    assert read(s3_client, bucket, "in/huge-line.json") == body


def test_an_empty_object_names_no_one_and_is_not_written(aws_conn, s3_client, bucket):
    etag = s3_client.put_object(Bucket=bucket, Key="out/empty.json.out", Body=b"")["ETag"]

    result = one(bucket, "out/empty.json.out", None, "batch_inference_output", s3_client)

    assert (result["outcome"], result["records_before"], result["verified"]) == ("no_match", 0, True)
    assert s3_client.head_object(Bucket=bucket, Key="out/empty.json.out")["ETag"] == etag


def test_a_key_with_spaces_and_unicode_is_read_and_rewritten_under_its_own_name(aws_conn, s3_client, bucket):
    key = "out/exports 2026/ünïcödé 名前 (1).json"

    result = one(bucket, key, jsonl("u1", ERASED, "u2"), "jsonl", s3_client)

    assert (result["outcome"], result["records_removed"], result["location"]) == (
        "forgotten",
        1,
        f"s3://{bucket}/{key}",
    )
    assert read(s3_client, bucket, key) == jsonl("u1", "u2")
    assert [item["Key"] for item in s3_client.list_objects_v2(Bucket=bucket)["Contents"]] == [key]


@pytest.mark.parametrize("where", ["no such bucket", "no such key"])
def test_an_object_that_cannot_be_read_is_unverified_with_s3s_error(aws_conn, s3_client, bucket, where):
    target = "bucket-that-does-not-exist" if where == "no such bucket" else bucket

    result = one(target, "out/a.json.out", None, "batch_inference_output", s3_client)

    assert (result["outcome"], result["verified"]) == ("unverified", False)
    assert result["reason"].startswith("could not be read (S3 error ")


def test_a_declared_https_path_is_refused_by_name_before_any_call(aws_conn, emulator):
    operator = PersonalizeFindForgetBatchesOperator(
        task_id="plan",
        dataset_group_arns=[],
        declared_locations={"locations": [{"prefix": f"https://example.com/{ERASED}/", "format": "csv"}]},
    )

    with pytest.raises(PersonalizeValidationError) as raised:
        operator.execute(task_context())

    assert raised.value.field == "declared_locations.locations[0].prefix"
    assert ERASED not in str(raised.value)


def test_a_declared_location_s3_refuses_to_list_is_in_the_plan_with_its_error(aws_conn, s3_client, bucket):
    s3_client.put_object(Bucket=bucket, Key="copies/a.csv", Body=b"USER_ID\nu1\n")
    declared = {
        "locations": [
            {"prefix": f"s3://{bucket}/copies/", "format": "csv"},
            {"prefix": "s3://bucket-that-does-not-exist/copies/", "format": "csv"},
        ]
    }
    operator = PersonalizeFindForgetBatchesOperator(
        task_id="plan", dataset_group_arns=[], declared_locations=declared
    )
    context = task_context()

    batches = operator.execute(context)

    assert batches == [[{"bucket": bucket, "key": "copies/a.csv", "format": "csv"}]]
    summary = context["ti"].pushed[FORGET_PLAN_XCOM_KEY]
    assert summary["unlisted"] == [
        {"prefix": "s3://bucket-that-does-not-exist/copies/", "error": "NoSuchBucket"}
    ]


class _TaskInstance:
    """What the planning operator uses of a task instance: ``xcom_push``."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def task_context() -> Any:
    return {"ti": _TaskInstance()}


def deny(s3_client: S3Client, operation: str) -> None:
    """S3 refuses ``operation`` as it does on another account's bucket (moto enforces no bucket policy)."""
    from botocore.exceptions import ClientError

    def refuse(**_: object) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, operation)

    s3_client.meta.events.register(f"before-call.s3.{operation}", refuse)


@pytest.mark.parametrize(
    ("operation", "reason"),
    [
        ("HeadObject", "could not be read (S3 error AccessDenied)"),
        ("GetObject", "could not be read (S3 error AccessDenied)"),
        ("PutObject", "could not be rewritten (S3 error AccessDenied): it is as it was"),
    ],
)
def test_access_denied_on_read_or_write_is_unverified_and_the_object_left_as_it_was(
    aws_conn, s3_client, bucket, monkeypatch, operation, reason
):
    """Another account's bucket: readable or not, never writable. The task's own client is refused."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    body = jsonl("u1", ERASED)
    s3_client.put_object(Bucket=bucket, Key="copies/a.json", Body=body)
    refused = S3Hook(aws_conn_id="aws_default").get_conn()
    deny(refused, operation)
    monkeypatch.setattr(S3Hook, "get_conn", lambda self: refused)

    result = one(bucket, "copies/a.json", None, "jsonl", s3_client)

    assert (result["outcome"], result["verified"], result["reason"]) == ("unverified", False, reason)
    assert read(s3_client, bucket, "copies/a.json") == body
