"""The emulator's command line: what it creates at start, for someone trying the provider from its wheel."""

from __future__ import annotations

import json

from airflow_provider_personalize_deletion.emulator import EmulatorClient, LocalAws
from airflow_provider_personalize_deletion.emulator.cli import parse_args, seed


def test_the_command_line_creates_an_encrypted_bucket_and_groups_holding_the_users(
    local_aws: LocalAws, emulator: EmulatorClient, s3_client
):
    args = parse_args(["--bucket", "erasure", "--dataset-group", "shop", "--dataset-group", "news"])
    lines = seed(local_aws, args.bucket, args.dataset_group, ["user-1", "user-2"])

    encryption = s3_client.get_bucket_encryption(Bucket="erasure")["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    variable_line = next(line for line in lines if "personalize_erasure_dataset_group_arns" in line)
    arns = json.loads(variable_line.split("'")[1])
    assert [arn.rsplit("/", 1)[1] for arn in arns] == ["shop", "news"]
    assert all(emulator.users(arn) == {"user-1", "user-2"} for arn in arns)
    assert not any("user-1" in line for line in lines)


def test_the_users_file_is_read_one_id_per_line(tmp_path):
    users = tmp_path / "users.txt"
    users.write_text("user-1\nuser 2\n")
    args = parse_args(["--users", str(users)])
    assert [line.rstrip("\r\n") for line in args.users] == ["user-1", "user 2"]
