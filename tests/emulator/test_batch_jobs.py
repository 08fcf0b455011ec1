"""Batch jobs in the emulator: inference reads JSON Lines by prefix and writes ``<input name>.out`` per input
file, one line per input line; segment jobs write the users their model holds, under a configurable array
name; both run on the emulator's clock and fail with a reason naming the file, never a value."""

from __future__ import annotations

import json

import pytest

from airflow_provider_personalize_deletion.emulator import EmulatorControlError
from tests.core.conftest import RECIPE_ARN
from tests.emulator.conftest import ROLE_ARN

BUCKET = "batch"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/batch-out"


@pytest.fixture
def batch_bucket(s3_client):
    s3_client.create_bucket(Bucket=BUCKET)
    return BUCKET


@pytest.fixture
def trained(emulator, personalize):
    """An ACTIVE solution version trained on alice, bob and carol."""
    group = emulator.create_dataset_group("shop", user_ids=["alice", "bob", "carol"])
    solution = personalize.create_solution(name="recs", datasetGroupArn=group, recipeArn=RECIPE_ARN)
    arn = personalize.create_solution_version(solutionArn=solution["solutionArn"])["solutionVersionArn"]
    assert (
        personalize.describe_solution_version(solutionVersionArn=arn)["solutionVersion"]["status"] == "ACTIVE"
    )
    return arn


def put_lines(s3_client, key: str, lines: list[dict]) -> None:
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    s3_client.put_object(Bucket=BUCKET, Key=key, Body=body)


def read_lines(s3_client, key: str) -> list[dict]:
    body = s3_client.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines()]


def output_keys(s3_client, prefix: str) -> list[str]:
    listed = s3_client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return sorted(obj["Key"] for obj in listed)


def inference(personalize, version: str, source: str, output: str, name: str = "infer-1", **more) -> dict:
    arn = personalize.create_batch_inference_job(
        jobName=name,
        solutionVersionArn=version,
        jobInput={"s3DataSource": {"path": source}},
        jobOutput={"s3DataDestination": {"path": output, **more}},
        roleArn=ROLE_ARN,
        numResults=3,
    )["batchInferenceJobArn"]
    return personalize.describe_batch_inference_job(batchInferenceJobArn=arn)["batchInferenceJob"]


def segment(personalize, version: str, source: str, output: str, name: str = "segment-1") -> dict:
    arn = personalize.create_batch_segment_job(
        jobName=name,
        solutionVersionArn=version,
        jobInput={"s3DataSource": {"path": source}},
        jobOutput={"s3DataDestination": {"path": output}},
        roleArn=ROLE_ARN,
    )["batchSegmentJobArn"]
    return personalize.describe_batch_segment_job(batchSegmentJobArn=arn)["batchSegmentJob"]


def test_inference_writes_one_out_file_per_input_file_with_one_line_per_input_line(
    s3_client, personalize, batch_bucket, trained
):
    put_lines(s3_client, "in/a.json", [{"userId": "alice"}, {"userId": "bob", "itemList": ["i1"]}])
    put_lines(s3_client, "in/b.json", [{"itemId": "i9"}])

    job = inference(personalize, trained, f"s3://{BUCKET}/in/", f"s3://{BUCKET}/out/")

    assert job["status"] == "ACTIVE"
    assert output_keys(s3_client, "out/") == ["out/a.json.out", "out/b.json.out"]
    lines = read_lines(s3_client, "out/a.json.out")
    assert [line["input"] for line in lines] == [{"userId": "alice"}, {"userId": "bob", "itemList": ["i1"]}]
    assert all(line["error"] is None for line in lines)
    assert [len(line["output"]["recommendedItems"]) for line in lines] == [3, 3]
    assert [len(line["output"]["scores"]) for line in lines] == [3, 3]


def test_inference_reads_its_input_by_prefix_so_in_also_reads_in_old(
    s3_client, personalize, batch_bucket, trained
):
    put_lines(s3_client, "in/a.json", [{"userId": "alice"}])
    put_lines(s3_client, "in_old/b.json", [{"userId": "bob"}])

    inference(personalize, trained, f"s3://{BUCKET}/in", f"s3://{BUCKET}/out")

    assert output_keys(s3_client, "out") == ["out/a.json.out", "out/b.json.out"]


def test_inference_output_is_encrypted_with_the_jobs_kms_key(s3_client, personalize, batch_bucket, trained):
    put_lines(s3_client, "in.json", [{"userId": "alice"}])

    inference(personalize, trained, f"s3://{BUCKET}/in.json", f"s3://{BUCKET}/out/", kmsKeyArn=KMS_KEY)

    head = s3_client.head_object(Bucket=BUCKET, Key="out/in.json.out")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", KMS_KEY)


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (
            b'{"userId": "alice"}\nnot json\n',
            "Line 2 of the input file s3://batch/in.json is not a JSON object",
        ),
        (b"\x1f\x8b\x08\x00gzip", "s3://batch/in.json is not UTF-8 encoded JSON Lines"),
    ],
)
def test_an_input_that_is_not_json_lines_fails_the_job_naming_file_and_line(
    s3_client, personalize, batch_bucket, trained, body, rule
):
    s3_client.put_object(Bucket=BUCKET, Key="in.json", Body=body)

    job = inference(personalize, trained, f"s3://{BUCKET}/in.json", f"s3://{BUCKET}/out/")

    assert job["status"] == "CREATE FAILED"
    assert rule in job["failureReason"]
    assert "alice" not in job["failureReason"]
    assert output_keys(s3_client, "out/") == []


def test_a_missing_input_or_a_denied_output_fails_the_job(
    emulator, s3_client, personalize, batch_bucket, trained
):
    missing = inference(personalize, trained, f"s3://{BUCKET}/nothing/", f"s3://{BUCKET}/out/")
    put_lines(s3_client, "in.json", [{"userId": "alice"}])
    emulator.deny_path(f"s3://{BUCKET}/denied/")
    denied = inference(
        personalize, trained, f"s3://{BUCKET}/in.json", f"s3://{BUCKET}/denied/", name="infer-2"
    )

    assert (missing["status"], denied["status"]) == ("CREATE FAILED", "CREATE FAILED")
    assert "No input data found" in missing["failureReason"]
    assert "cannot write" in denied["failureReason"]


def test_a_batch_job_writes_nothing_before_it_reaches_active(
    emulator, s3_client, personalize, batch_bucket, trained
):
    put_lines(s3_client, "in.json", [{"userId": "alice"}])
    emulator.hold("infer-1", "IN PROGRESS")

    job = inference(personalize, trained, f"s3://{BUCKET}/in.json", f"s3://{BUCKET}/out/")
    assert job["status"] == "IN PROGRESS"
    assert output_keys(s3_client, "out/") == []

    emulator.release("infer-1")
    arn = job["batchInferenceJobArn"]
    assert (
        personalize.describe_batch_inference_job(batchInferenceJobArn=arn)["batchInferenceJob"]["status"]
        == "ACTIVE"
    )
    assert output_keys(s3_client, "out/") == ["out/in.json.out"]


def test_segment_output_lists_the_users_the_model_was_trained_on_as_users_list(
    s3_client, personalize, batch_bucket, trained
):
    put_lines(s3_client, "items.json", [{"itemId": "i1"}, {"itemId": "i2"}])

    job = segment(personalize, trained, f"s3://{BUCKET}/items.json", f"s3://{BUCKET}/segments/")

    assert job["status"] == "ACTIVE"
    lines = read_lines(s3_client, "segments/items.json.out")
    assert [line["input"] for line in lines] == [{"itemId": "i1"}, {"itemId": "i2"}]
    assert [line["output"] for line in lines] == [{"usersList": ["alice", "bob", "carol"]}] * 2


def test_the_segment_users_array_can_be_named_as_the_guide_names_it(
    emulator, s3_client, personalize, batch_bucket, trained
):
    put_lines(s3_client, "items.json", [{"itemId": "i1"}])
    emulator.set_segment_users_member("recommendedUsers")

    segment(personalize, trained, f"s3://{BUCKET}/items.json", f"s3://{BUCKET}/segments/")

    assert read_lines(s3_client, "segments/items.json.out")[0]["output"] == {
        "recommendedUsers": ["alice", "bob", "carol"]
    }


def test_an_unknown_segment_users_array_name_is_refused(emulator):
    with pytest.raises(EmulatorControlError, match="usersList"):
        emulator.set_segment_users_member("users")


def test_reset_restores_the_users_list_name(emulator, s3_client, personalize, batch_bucket, trained):
    emulator.set_segment_users_member("recommendedUsers")
    emulator.reset()
    s3_client.create_bucket(Bucket=BUCKET)
    put_lines(s3_client, "items.json", [{"itemId": "i1"}])
    group = emulator.create_dataset_group("shop", user_ids=["dave"])
    solution = personalize.create_solution(name="recs", datasetGroupArn=group, recipeArn=RECIPE_ARN)
    version = personalize.create_solution_version(solutionArn=solution["solutionArn"])["solutionVersionArn"]
    personalize.describe_solution_version(solutionVersionArn=version)

    segment(personalize, version, f"s3://{BUCKET}/items.json", f"s3://{BUCKET}/segments/")

    assert read_lines(s3_client, "segments/items.json.out")[0]["output"] == {"usersList": ["dave"]}
