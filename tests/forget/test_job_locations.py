"""The locations the jobs of the selected dataset groups read and wrote, found on the emulator: every
batch job, export and import, each resource listed and described once per run, paginated, with the
reasons (import source, job in progress, http path, item-only input) reported rather than skipped."""

from __future__ import annotations

import json

import boto3
import pytest

from airflow_provider_personalize_deletion.forget.find_locations import find_locations
from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
from tests.core.conftest import RECIPE_ARN, ROLE_ARN, SCHEMA_ARN

from .conftest import allow

KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/out"
#: The operations a run makes, and how many times each for the stage below (default page size).
EXPECTED_CALLS = {
    "ListDatasets": 2,  # one per group
    "ListDatasetExportJobs": 1,  # one per dataset
    "ListDatasetImportJobs": 1,
    "DescribeDatasetExportJob": 1,
    "DescribeDatasetImportJob": 1,
    "ListSolutions": 2,  # one per group
    "ListSolutionVersions": 2,  # one per solution
    "ListBatchInferenceJobs": 3,  # one per solution version
    "ListBatchSegmentJobs": 3,
    "DescribeBatchInferenceJob": 4,  # one per job
    "DescribeBatchSegmentJob": 1,
}


@pytest.fixture
def personalize(local_aws, aws_conn):
    return boto3.client("personalize", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region)


def put_lines(s3_client, bucket: str, key: str, lines: list[dict]) -> None:
    s3_client.put_object(
        Bucket=bucket, Key=key, Body="".join(json.dumps(line) + "\n" for line in lines).encode()
    )


def active_version(personalize, solution: str) -> str:
    arn = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    personalize.describe_solution_version(solutionVersionArn=arn)  # zero timings: ACTIVE at this read
    return arn


def batch_io(source: str, output: str, **output_more) -> dict:
    return {
        "jobInput": {"s3DataSource": {"path": source}},
        "jobOutput": {"s3DataDestination": {"path": output, **output_more}},
        "roleArn": ROLE_ARN,
    }


@pytest.fixture
def stage(emulator, personalize, s3_client, monkeypatch):
    """
    Two groups. ``shop``: an Interactions dataset with an import (``s3://data/imports/``) and an export
    (``s3://exports/out/``); one solution with two versions: inference jobs reading ``s3://batch/in`` (by
    prefix) into ``out/`` (KMS) and ``out2/``, a segment job; one inference job held IN PROGRESS.
    ``news``: one inference job whose paths are https URLs.
    """
    for bucket in ("data", "exports", "batch"):
        s3_client.create_bucket(Bucket=bucket)
    allow(monkeypatch, "s3://data/", "s3://exports/", "s3://batch/", "s3://copies/")
    s3_client.put_object(
        Bucket="data", Key="imports/x.csv", Body=b"USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1700000000\n"
    )
    put_lines(s3_client, "batch", "in/a.json", [{"userId": "u1"}, {"userId": "u2"}])
    put_lines(s3_client, "batch", "in_old/b.json", [{"userId": "u3"}])
    put_lines(s3_client, "batch", "items.json", [{"itemId": "i1"}])

    shop = emulator.create_dataset_group("shop", user_ids=["u1", "u2", "u3"])
    dataset = personalize.create_dataset(
        name="shop-interactions", schemaArn=SCHEMA_ARN, datasetGroupArn=shop, datasetType="Interactions"
    )["datasetArn"]
    personalize.create_dataset_import_job(
        jobName="import-1",
        datasetArn=dataset,
        dataSource={"dataLocation": "s3://data/imports/"},
        roleArn=ROLE_ARN,
    )
    personalize.create_dataset_export_job(
        jobName="export-1",
        datasetArn=dataset,
        roleArn=ROLE_ARN,
        jobOutput={"s3DataDestination": {"path": "s3://exports/out/"}},
    )
    solution = personalize.create_solution(name="shop-recs", datasetGroupArn=shop, recipeArn=RECIPE_ARN)[
        "solutionArn"
    ]
    first, second = active_version(personalize, solution), active_version(personalize, solution)
    personalize.create_batch_inference_job(
        jobName="infer-1",
        solutionVersionArn=first,
        **batch_io("s3://batch/in", "s3://batch/out/", kmsKeyArn=KMS_KEY),
    )
    personalize.create_batch_inference_job(
        jobName="infer-2", solutionVersionArn=second, **batch_io("s3://batch/in", "s3://batch/out2/")
    )
    personalize.create_batch_segment_job(
        jobName="segment-1",
        solutionVersionArn=first,
        **batch_io("s3://batch/items.json", "s3://batch/segments/"),
    )
    emulator.hold("infer-3", "IN PROGRESS")
    personalize.create_batch_inference_job(
        jobName="infer-3", solutionVersionArn=second, **batch_io("s3://batch/in/2026/", "s3://batch/running/")
    )

    news = emulator.create_dataset_group("news")
    news_solution = personalize.create_solution(name="news-recs", datasetGroupArn=news, recipeArn=RECIPE_ARN)
    personalize.create_batch_inference_job(
        jobName="infer-web",
        solutionVersionArn=active_version(personalize, news_solution["solutionArn"]),
        **batch_io("https://example.com/in.json", "https://example.com/out/"),
    )
    return [shop, news]


def outcomes(plan) -> set[tuple[str, str, str | None]]:
    return {(location.uri, location.format, location.reason) for location in plan.locations}


def test_every_job_path_is_found_once_with_its_format_and_reason(stage):
    plan = find_locations(PersonalizeHook(), stage)

    assert outcomes(plan) == {
        ("s3://data/imports/", "csv", "import_source"),
        ("s3://exports/out/", "export_csv", None),
        ("s3://batch/in", "batch_inference_input", None),
        ("s3://batch/out/", "batch_inference_output", None),
        ("s3://batch/out2/", "batch_inference_output", None),
        ("s3://batch/items.json", "batch_segment_input", "no_user_ids"),
        ("s3://batch/segments/", "batch_segment_output", None),
        ("s3://batch/in/2026/", "batch_inference_input", "job_in_progress"),
        ("s3://batch/running/", "batch_inference_output", "job_in_progress"),
        ("https://example.com/in.json", "batch_inference_input", "not_s3"),
        ("https://example.com/out/", "batch_inference_output", "not_s3"),
    }
    shared_input = next(location for location in plan.locations if location.uri == "s3://batch/in")
    assert [source.name.rsplit("/", 1)[-1] for source in shared_input.sources] == ["infer-1", "infer-2"]
    first_output = next(location for location in plan.locations if location.uri == "s3://batch/out/")
    assert first_output.kms_key_arns == (KMS_KEY,)


def test_the_files_the_emulators_jobs_wrote_resolve_to_their_locations(stage, s3_client):
    plan = find_locations(PersonalizeHook(), stage)

    def formats(bucket: str) -> dict[str, str | None]:
        keys = [obj["Key"] for obj in s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])]
        return {key: getattr(plan.resolve(bucket, key), "format", None) for key in keys}

    assert formats("batch") == {
        "in/a.json": "batch_inference_input",
        "in_old/b.json": "batch_inference_input",  # read by prefix: s3://batch/in covers in_old/
        "items.json": "batch_segment_input",
        "out/a.json.out": "batch_inference_output",
        "out/b.json.out": "batch_inference_output",
        "out2/a.json.out": "batch_inference_output",
        "out2/b.json.out": "batch_inference_output",
        "segments/items.json.out": "batch_segment_output",
    }
    assert formats("exports") == {"out/export-1/part-00000.csv": "export_csv"}


def test_each_resource_is_listed_and_described_once_per_run_however_often_its_group_is_named(stage, emulator):
    before = {operation: emulator.calls(operation) for operation in EXPECTED_CALLS}

    find_locations(PersonalizeHook(), [*stage, *stage, stage[0]])

    made = {operation: emulator.calls(operation) - before[operation] for operation in EXPECTED_CALLS}
    assert made == EXPECTED_CALLS


def test_every_list_is_paginated(stage, emulator):
    whole = find_locations(PersonalizeHook(), stage)
    emulator.set_max_page_size(1)
    before = emulator.calls("ListBatchInferenceJobs")

    paged = find_locations(PersonalizeHook(), stage)

    assert paged == whole
    # the second version has two inference jobs: two pages; the others one each (3 versions, 4 pages)
    assert emulator.calls("ListBatchInferenceJobs") - before == 4


def test_declared_locations_join_the_plan_and_opt_an_import_source_in(stage):
    declared = {
        "locations": [
            {"prefix": "s3://data/imports/", "format": "csv", "rewrite_import_source": True},
            {"prefix": "s3://copies/users/", "format": "csv"},
        ],
        "allowed_buckets": ["data", "batch", "copies"],
    }

    plan = find_locations(PersonalizeHook(), stage, declared)

    found = outcomes(plan)
    assert ("s3://data/imports/", "csv", None) in found
    assert ("s3://copies/users/", "csv", None) in found
    assert ("s3://exports/out/", "export_csv", "bucket_not_allowed") in found
    assert plan.counts()["scannable"] == 6


def test_a_jobs_location_outside_the_setting_is_reported_and_not_scanned_a_look_alike_prefix_too(
    stage, monkeypatch
):
    """Jobs are found from the dataset groups a run conf or Variable may select: where they read and wrote
    is scanned only within ``[personalize_deletion] forget_allowed_locations``. ``s3://batch/in`` (read by
    prefix: it also holds ``in_old/``) is not within ``s3://batch/in/``."""
    allow(monkeypatch, "s3://batch/in/", "s3://batch/out/")

    plan = find_locations(PersonalizeHook(), stage)

    found = outcomes(plan)
    assert ("s3://batch/out/", "batch_inference_output", None) in found
    assert ("s3://batch/in", "batch_inference_input", "location_not_allowed") in found
    assert ("s3://batch/out2/", "batch_inference_output", "location_not_allowed") in found
    assert ("s3://exports/out/", "export_csv", "location_not_allowed") in found
    assert ("s3://data/imports/", "csv", "location_not_allowed") in found
    assert [key for bucket, key in plan.listing_prefixes()] == ["out/"]
