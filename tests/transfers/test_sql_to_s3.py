"""
The transfer operator, end to end: a real warehouse (SQLite file and real PostgreSQL), the operator,
and S3 served by the local emulator over HTTP. Files are read back with the csv module.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import json
from datetime import datetime, timezone

import pytest
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from botocore.exceptions import ClientError

from airflow_provider_personalize_deletion.deletion_file.csv_file import HEADER, MIN_FILE_BYTES
from airflow_provider_personalize_deletion.transfers.sql_to_s3 import (
    InvalidUserIdsError,
    SqlToPersonalizeDeletionFileOperator,
)
from tests.conftest import TEST_FINGERPRINT_KEY
from tests.transfers.conftest import BUCKET, PREFIX, make_runner, object_keys, read_ids

AWKWARD_IDS = [
    "plain-42",
    "with,comma",
    'with "quotes"',
    '"',
    ",",
    " leading and trailing spaces ",
    "tab\there",
    "ünïcödé-用户-🙂",
    "x" * 256,
    "🙂" * 256,
]
INVALID_VALUES = [None, None, "", "secret" * 43, "secret\nA", "secret\rB", "secret\r\n"]
NO_INVALID = {"null": 0, "empty": 0, "too_long": 0, "line_break": 0, "not_utf8": 0}


def all_ids(s3_client, summary: dict) -> list[str]:
    return [user_id for key in summary["s3_keys"] for user_id in read_ids(s3_client, key)]


def fingerprint_of(ids: set[str]) -> str:
    """The keyed fingerprint of a set of ids under the tests' key."""
    lines = sorted(f"{user_id}\n".encode() for user_id in ids)
    mac = hmac.new(TEST_FINGERPRINT_KEY.encode(), b"".join(lines), hashlib.sha256)
    return "hmac-sha256:" + mac.hexdigest()


def test_ids_are_written_exactly_as_stored_with_csv_quoting(warehouse, run_transfer, s3_client):
    warehouse.load(AWKWARD_IDS)

    summary = run_transfer()

    assert summary["s3_keys"] == [f"{PREFIX}/part-00000.csv"]
    assert summary["data_locations"] == [f"s3://{BUCKET}/{PREFIX}/part-00000.csv"]
    assert sorted(all_ids(s3_client, summary)) == sorted(AWKWARD_IDS)
    assert summary["id_count"] == len(AWKWARD_IDS)


def test_file_is_utf8_sorted_with_a_bare_header_and_minimal_quoting(warehouse, run_transfer, s3_client):
    warehouse.load(["b,1", "a", 'c"d', "é"])

    summary = run_transfer()

    body = s3_client.get_object(Bucket=BUCKET, Key=summary["s3_keys"][0])["Body"].read()
    assert body == 'USER_ID\na\n"b,1"\n"c""d"\né\n'.encode()


def test_integer_ids_are_written_as_their_decimal_text(warehouse, run_transfer, s3_client):
    warehouse.load([7, 42, 1000000000001], column_type="BIGINT")

    summary = run_transfer()

    assert sorted(all_ids(s3_client, summary)) == ["1000000000001", "42", "7"]


def test_duplicates_are_written_once_and_counted(warehouse, run_transfer, s3_client):
    warehouse.load(["u1", "u2", "u1", "u3", "u1", "u2"])

    summary = run_transfer(fetch_size=2)

    assert sorted(all_ids(s3_client, summary)) == ["u1", "u2", "u3"]
    assert (summary["id_count"], summary["duplicates"]) == (3, 3)


def test_invalid_ids_fail_the_task_with_counts_and_leave_no_object(warehouse, run_transfer, s3_client):
    warehouse.load(["valid-1", *INVALID_VALUES, "valid-2"])

    with pytest.raises(InvalidUserIdsError) as failure:
        run_transfer()

    assert failure.value.invalid == {"null": 2, "empty": 1, "too_long": 1, "line_break": 3, "not_utf8": 0}
    assert isinstance(failure.value, AirflowFailException)  # the same data would fail a retry
    assert "secret" not in str(failure.value) and "valid-1" not in str(failure.value)
    assert object_keys(s3_client) == []


def test_skip_mode_leaves_invalid_ids_out_and_counts_them(warehouse, run_transfer, s3_client):
    warehouse.load(["valid-1", *INVALID_VALUES, "valid-2"])

    summary = run_transfer(invalid_ids="skip")

    assert sorted(all_ids(s3_client, summary)) == ["valid-1", "valid-2"]
    assert summary["skipped"] == {"null": 2, "empty": 1, "too_long": 1, "line_break": 3, "not_utf8": 0}


def test_undecodable_bytes_are_counted_as_not_utf8(sqlite_warehouse, bucket, s3_client):
    sqlite_warehouse.load(["valid", b"\xff\xfe", "caf\xe9".encode("latin-1")], column_type="BLOB")

    summary = make_runner(sqlite_warehouse, bucket)(invalid_ids="skip")

    assert all_ids(s3_client, summary) == ["valid"]
    assert summary["skipped"]["not_utf8"] == 2


def test_files_are_split_at_max_file_bytes_each_complete(warehouse, run_transfer, s3_client):
    ids = [f"user-{n:05d},x" for n in range(400)]  # quoted: 16 bytes a line
    warehouse.load(ids)

    summary = run_transfer(max_file_bytes=MIN_FILE_BYTES)

    assert summary["file_count"] == len(summary["s3_keys"]) > 1
    assert summary["s3_keys"] == [f"{PREFIX}/part-{n:05d}.csv" for n in range(summary["file_count"])]
    for key in summary["s3_keys"]:
        head = s3_client.head_object(Bucket=BUCKET, Key=key)
        assert len(HEADER) < head["ContentLength"] <= MIN_FILE_BYTES
    written = all_ids(s3_client, summary)
    assert sorted(written) == sorted(ids)  # each id in exactly one file


def test_every_object_is_encrypted_with_sse_s3(warehouse, run_transfer, s3_client):
    warehouse.load([f"user-{n}" for n in range(300)])

    summary = run_transfer(max_file_bytes=MIN_FILE_BYTES)

    assert summary["file_count"] > 1
    for key in summary["s3_keys"]:
        assert s3_client.head_object(Bucket=BUCKET, Key=key)["ServerSideEncryption"] == "AES256"


def test_summary_is_plain_json_and_holds_no_id(warehouse, run_transfer):
    ids = ["secret-user-1", "secret-user-2", "secret-user-1"]
    warehouse.load([*ids, None])

    before = datetime.now(timezone.utc)
    summary = run_transfer(invalid_ids="skip")

    assert json.loads(json.dumps(summary)) == summary
    assert "secret-user" not in json.dumps(summary)
    assert before <= datetime.fromisoformat(summary.pop("written_at")) <= datetime.now(timezone.utc)
    assert summary == {
        "data_folder": f"s3://{BUCKET}/{PREFIX}/",
        "data_locations": [f"s3://{BUCKET}/{PREFIX}/part-00000.csv"],
        "s3_keys": [f"{PREFIX}/part-00000.csv"],
        "id_count": 2,
        "file_count": 1,
        "skipped": {**NO_INVALID, "null": 1},
        "duplicates": 1,
        "fingerprint": fingerprint_of(set(ids)),
        "claim": None,
    }


def test_logs_hold_counts_and_never_an_id(warehouse, run_transfer, capsys, caplog):
    warehouse.load(["secret-user-1", "secret-user-2", None])

    with caplog.at_level("DEBUG"):
        run_transfer(invalid_ids="skip")

    logs = caplog.text + "".join(capsys.readouterr())  # the task logger writes to stdout
    assert "secret-user" not in logs
    assert "2 distinct user id(s)" in logs


def test_nothing_to_erase_skips_the_task_and_writes_no_file(warehouse, run_transfer, s3_client):
    warehouse.load([])

    with pytest.raises(AirflowSkipException, match="Nothing to erase"):
        run_transfer()

    assert object_keys(s3_client) == []


def test_only_invalid_ids_in_skip_mode_is_nothing_to_erase(warehouse, run_transfer, s3_client):
    warehouse.load([None, ""])

    with pytest.raises(AirflowSkipException, match="Nothing to erase"):
        run_transfer(invalid_ids="skip")

    assert object_keys(s3_client) == []


def test_fingerprint_ignores_order_and_duplicates(sqlite_warehouse, postgres_conn_id, bucket):
    from tests.transfers.conftest import Warehouse

    sqlite_warehouse.load(["b", "a", "c", "a"])
    postgres_warehouse = Warehouse(postgres_conn_id, "%s")
    postgres_warehouse.load(["c", "c", "a", "b", "b"])

    first = make_runner(sqlite_warehouse, bucket)(s3_key_prefix="first")
    second = make_runner(postgres_warehouse, bucket)(s3_key_prefix="second")

    assert first["fingerprint"] == second["fingerprint"] == fingerprint_of({"a", "b", "c"})


def test_fingerprint_differs_for_a_different_set(warehouse, run_transfer):
    warehouse.load(["a", "b"])

    assert run_transfer()["fingerprint"] != fingerprint_of({"a", "b", "c"})


def test_missing_bucket_fails_and_writes_nothing(warehouse, aws_conn, s3_client):
    warehouse.load(["u1"])

    with pytest.raises(ClientError, match="NoSuchBucket"):
        make_runner(warehouse, "no-such-bucket")()

    assert s3_client.list_buckets()["Buckets"] == []


def _fail_on_call(monkeypatch, event: str, call_number: int) -> None:
    """Make the S3 client the operator builds raise on the n-th call of an API (botocore event)."""
    real_get_conn = S3Hook.get_conn
    calls = []

    def fail(**_kwargs):
        calls.append(event)
        if len(calls) == call_number:
            raise ConnectionError(f"injected fault on {event}")

    def get_conn(self):
        client = real_get_conn(self)
        client.meta.events.register(f"before-call.s3.{event}", fail)
        return client

    monkeypatch.setattr(S3Hook, "get_conn", get_conn)


def test_failure_after_a_file_was_written_leaves_no_partial_set(
    warehouse, run_transfer, s3_client, monkeypatch
):
    warehouse.load([f"user-{n}" for n in range(300)])
    _fail_on_call(monkeypatch, "CreateMultipartUpload", call_number=2)

    with pytest.raises(ConnectionError, match="injected fault"):
        run_transfer(max_file_bytes=MIN_FILE_BYTES)

    assert object_keys(s3_client) == []
    assert s3_client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_failure_inside_an_upload_aborts_it(warehouse, run_transfer, s3_client, monkeypatch):
    warehouse.load(["u1", "u2"])
    _fail_on_call(monkeypatch, "CompleteMultipartUpload", call_number=1)

    with pytest.raises(ConnectionError, match="injected fault"):
        run_transfer()

    assert object_keys(s3_client) == []
    assert s3_client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_part_files_of_an_earlier_attempt_are_replaced(warehouse, run_transfer, s3_client):
    s3_client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/part-00007.csv", Body=b"USER_ID\nold\n")
    s3_client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/notes.txt", Body=b"not ours")
    warehouse.load(["u1"])

    run_transfer()

    assert object_keys(s3_client) == [f"{PREFIX}/notes.txt", f"{PREFIX}/part-00000.csv"]


@pytest.mark.parametrize(
    ("argument", "value", "rule"),
    [
        ("s3_bucket", "Not_A_Bucket", "3 to 63 lowercase"),
        ("s3_bucket", "192.168.0.1", "IP address"),
        ("s3_key_prefix", "", "non-empty"),
        ("s3_key_prefix", "/", "non-empty"),
        ("s3_key_prefix", "erasure//run-1", "empty folder name"),
        ("s3_key_prefix", "erasure-runs/../other-team", "'.' or '..' folder name"),
        ("s3_key_prefix", "./run-1", "'.' or '..' folder name"),
        ("s3_key_prefix", "x" * 230, "dataLocation"),
        ("max_file_bytes", 8, f"between {MIN_FILE_BYTES} and"),
        ("max_file_bytes", 10**9, "between"),
        ("max_file_bytes", "many", "must be an integer"),
        ("invalid_ids", "ignore", "fail, skip"),
        ("fetch_size", 0, "at least 1"),
        ("stale_temp_hours", 0, "at least 1"),
    ],
)
def test_settings_are_checked_before_any_query(argument, value, rule, aws_conn):
    arguments = {
        "task_id": "export_user_ids",
        "conn_id": "no_such_connection",  # never reached
        "sql": "SELECT 1",
        "s3_bucket": "erasure-files",
        "s3_key_prefix": "erasure",
    }
    operator = SqlToPersonalizeDeletionFileOperator(**{**arguments, argument: value})

    with pytest.raises(AirflowFailException, match=f"Invalid {argument}: .*{rule}"):
        operator.execute(context={})


def test_rendered_integer_settings_are_accepted(warehouse, run_transfer, s3_client):
    warehouse.load(["u1"])

    summary = run_transfer(max_file_bytes=str(MIN_FILE_BYTES), fetch_size="100")

    assert all_ids(s3_client, summary) == ["u1"]


#: Arguments a user does not render: botocore settings are a dict, as in every AWS operator.
NOT_TEMPLATED = {"botocore_config"}


def assert_template_fields_exist(operator: SqlToPersonalizeDeletionFileOperator) -> None:
    """Each template field is an attribute of the instance, so rendering it cannot fail."""
    missing = [field for field in operator.template_fields if not hasattr(operator, field)]
    assert missing == []


def test_every_user_facing_argument_is_templated():
    operator = SqlToPersonalizeDeletionFileOperator(
        task_id="t", conn_id="c", sql="q.sql", s3_bucket="b", s3_key_prefix="p"
    )
    arguments = set(inspect.signature(SqlToPersonalizeDeletionFileOperator.__init__).parameters)
    arguments |= set(inspect.signature(AwsBaseOperator.__init__).parameters)
    user_facing = arguments - {"self", "kwargs", "region"} - NOT_TEMPLATED

    assert_template_fields_exist(operator)
    assert user_facing - set(operator.template_fields) == set()
    assert ".sql" in operator.template_ext


def test_query_parameters_are_bound(warehouse, run_transfer, s3_client):
    warehouse.load(["keep-1", "drop-1", "keep-2"])
    placeholder = warehouse.placeholder

    summary = run_transfer(
        sql=f"SELECT user_id FROM erasure_ids WHERE user_id LIKE {placeholder}", parameters=["keep-%"]
    )

    assert sorted(all_ids(s3_client, summary)) == ["keep-1", "keep-2"]


@pytest.mark.parametrize(
    "written_as", ["/erasure/run-1/", "erasure/run-1/", "/erasure/run-1", "erasure/run-1"]
)
def test_key_prefix_is_a_folder_however_its_slashes_are_written(
    written_as, sqlite_warehouse, bucket, s3_client
):
    sqlite_warehouse.load(["u1"])

    summary = make_runner(sqlite_warehouse, bucket)(s3_key_prefix=written_as)

    assert summary["data_folder"] == f"s3://{BUCKET}/erasure/run-1/"
    assert summary["s3_keys"] == ["erasure/run-1/part-00000.csv"]
    assert object_keys(s3_client) == ["erasure/run-1/part-00000.csv"]


def test_region_verify_and_botocore_config_reach_the_s3_client(aws_conn):
    operator = SqlToPersonalizeDeletionFileOperator(
        task_id="t",
        conn_id="c",
        sql="SELECT 1",
        s3_bucket="b",
        s3_key_prefix="p",
        region_name="eu-west-3",
        verify=False,
        botocore_config={"read_timeout": 7, "retries": {"max_attempts": 2}},
    )

    client = operator.hook.get_conn()

    assert isinstance(operator.hook, S3Hook)
    assert client.meta.region_name == "eu-west-3"
    assert client.meta.config.read_timeout == 7
    assert operator.hook.verify is False
