"""The emulator's command line: what it creates at start, for someone trying the provider from its wheel."""

from __future__ import annotations

import json

import boto3
import pytest

from airflow_provider_personalize_deletion.emulator import EmulatorClient, LocalAws
from airflow_provider_personalize_deletion.emulator.cli import parse_args, seed
from airflow_provider_personalize_deletion.emulator.personalize import JobTimings


def group_arns(lines: list[str]) -> list[str]:
    variable_line = next(line for line in lines if "personalize_erasure_dataset_group_arns" in line)
    return json.loads(variable_line.split("'")[1])


def test_the_command_line_creates_an_encrypted_bucket_and_groups_holding_the_users(
    local_aws: LocalAws, emulator: EmulatorClient, s3_client
):
    args = parse_args(["--bucket", "erasure", "--dataset-group", "shop", "--dataset-group", "news"])
    lines = seed(local_aws, args.bucket, args.dataset_group, ["user-1", "user-2"])

    encryption = s3_client.get_bucket_encryption(Bucket="erasure")["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    arns = group_arns(lines)
    assert [arn.rsplit("/", 1)[1] for arn in arns] == ["shop", "news"]
    assert all(emulator.users(arn) == {"user-1", "user-2"} for arn in arns)
    assert not any("user-1" in line for line in lines)


def test_dataset_groups_need_no_bucket(local_aws: LocalAws, emulator: EmulatorClient):
    lines = seed(local_aws, [], ["shop"], [])
    assert [arn.rsplit("/", 1)[1] for arn in group_arns(lines)] == ["shop"]


def test_a_bucket_outside_us_east_1_is_created_in_the_emulators_region():
    with LocalAws(timings=JobTimings(0, 0), region="eu-west-1") as aws:
        seed(aws, ["erasure"], [], [])
        s3 = boto3.client(
            "s3", endpoint_url=aws.endpoint_url, region_name="eu-west-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        assert s3.get_bucket_location(Bucket="erasure")["LocationConstraint"] == "eu-west-1"


def test_the_users_file_is_read_one_id_per_line(tmp_path):
    users = tmp_path / "users.txt"
    users.write_bytes("\ufeffuser-1\r\n\r\nuser 2\n   \n".encode())
    assert parse_args(["--users", str(users)]).users == ["user-1", "user 2"]


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--bucket", "Bad_Bucket"], "--bucket: a bucket name is 3 to 63 lowercase"),
        (["--bucket", "ab"], "--bucket: a bucket name is 3 to 63"),
        (["--bucket", "erasure", "--bucket", "erasure"], "--bucket: each name may be given once"),
        (["--dataset-group", "a b"], "--dataset-group: a dataset group name"),
        (["--dataset-group", "x" * 64], "--dataset-group: a dataset group name"),
        (["--dataset-group", "shop", "--dataset-group", "shop"], "--dataset-group: each name may be given"),
    ],
)
def test_a_bad_name_is_refused_naming_the_option_before_the_emulator_starts(argv, named, capsys):
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    assert exited.value.code == 2
    assert named in capsys.readouterr().err


def test_a_users_file_that_is_not_utf8_is_refused_without_a_traceback(tmp_path, capsys):
    users = tmp_path / "users.txt"
    users.write_bytes(b"user-\xff\n")
    with pytest.raises(SystemExit):
        parse_args(["--users", str(users)])
    err = capsys.readouterr().err
    assert "is not UTF-8 text" in err
    assert "Traceback" not in err
    assert "user-" not in err.replace(str(users), "")
