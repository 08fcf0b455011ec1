"""The plan of a find-and-forget run's locations: each once, reasons as data, the object's location by
specificity, running jobs and import sources protecting what lies inside them, a plan safe for XCom."""

from __future__ import annotations

import json

import pytest

from airflow_provider_personalize_deletion.forget.locations import (
    LocationPlan,
    ScanLocation,
    Source,
    build_plan,
    s3_location,
)

JOB_A = Source("batch_inference_job", "arn:aws:personalize:us-east-1:1:batch-inference-job/a", "ACTIVE")
JOB_B = Source("batch_inference_job", "arn:aws:personalize:us-east-1:1:batch-inference-job/b", "ACTIVE")
RUNNING = Source(
    "batch_inference_job", "arn:aws:personalize:us-east-1:1:batch-inference-job/c", "IN PROGRESS"
)
IMPORT = Source("dataset_import_job", "arn:aws:personalize:us-east-1:1:dataset-import-job/i", "ACTIVE")
DECLARED = Source("declared", "forget_locations.locations[0]")


def batch_input(uri: str, source: Source = JOB_A, reason: str | None = None) -> ScanLocation:
    return s3_location(uri, "batch_inference_input", source, reason=reason)


def test_a_path_shared_by_two_jobs_is_one_location_naming_both():
    plan = build_plan([batch_input("s3://b/in", JOB_A), batch_input("s3://b/in", JOB_B)])

    assert len(plan.locations) == 1
    assert plan.locations[0].sources == (JOB_A, JOB_B)


def test_a_shared_path_of_a_job_still_running_is_not_scanned():
    plan = build_plan([batch_input("s3://b/in", JOB_A), batch_input("s3://b/in", RUNNING, "job_in_progress")])

    assert [location.reason for location in plan.locations] == ["job_in_progress"]


def test_batch_input_is_a_prefix_so_in_covers_in_old():
    plan = build_plan([batch_input("s3://b/in")])

    assert plan.resolve("b", "in_old/a.json") is plan.locations[0]
    assert plan.resolve("b", "other/a.json") is None
    assert plan.resolve("c", "in/a.json") is None


def test_a_batch_output_holds_only_its_out_files():
    output = s3_location("s3://b/out/", "batch_inference_output", JOB_A, key_suffix=".out")
    plan = build_plan([output])

    assert plan.resolve("b", "out/in.json.out") == output
    assert plan.resolve("b", "out/_manifest.json") is None


def test_an_object_belongs_to_the_most_specific_location():
    broad = batch_input("s3://b/data")
    output = s3_location("s3://b/data/out/", "batch_inference_output", JOB_B, key_suffix=".out")
    plan = build_plan([broad, output])

    assert plan.resolve("b", "data/out/a.json.out").format == "batch_inference_output"
    assert plan.resolve("b", "data/a.json").format == "batch_inference_input"


def test_an_exact_key_beats_any_prefix():
    exact = s3_location("s3://b/data/a.jsonl", "jsonl", DECLARED, prefix=False)
    plan = build_plan([s3_location("s3://b/data/a", "csv", DECLARED), exact])

    assert plan.resolve("b", "data/a.jsonl").format == "jsonl"
    assert plan.resolve("b", "data/a.jsonl.bak").format == "csv"


@pytest.mark.parametrize("declared", [("s3://b/out/a", True), ("s3://b/out/a.json.out", False)])
def test_a_declaration_never_changes_the_format_a_jobs_file_is_read_in(declared):
    """Read as ``jsonl``, a batch output names no user (``input.userId``): it would pass as clean."""
    uri, prefix = declared
    output = s3_location("s3://b/out/", "batch_inference_output", JOB_A, key_suffix=".out")
    plan = build_plan([output, s3_location(uri, "jsonl", DECLARED, prefix=prefix)])

    assert plan.resolve("b", "out/a.json.out") == output
    if prefix:  # what no job covers is the declaration's
        assert plan.resolve("b", "out/a.json.bak").format == "jsonl"


def test_a_location_inside_a_running_jobs_path_is_not_scanned():
    plan = build_plan(
        [batch_input("s3://b/in", RUNNING, "job_in_progress"), batch_input("s3://b/in/2026/", JOB_A)]
    )

    assert plan.resolve("b", "in/2026/a.json").reason == "job_in_progress"
    assert plan.scannable == ()


def test_a_location_around_a_running_jobs_path_is_scanned_outside_it_only():
    plan = build_plan(
        [batch_input("s3://b/in", JOB_A), batch_input("s3://b/in/2026/", RUNNING, "job_in_progress")]
    )

    assert plan.resolve("b", "in/2025/a.json").scannable
    assert not plan.resolve("b", "in/2026/a.json").scannable


def test_an_import_source_is_not_scanned_nor_what_lies_inside_it():
    imported = s3_location("s3://b/imports/", "csv", IMPORT, reason="import_source")
    copy = s3_location("s3://b/imports/copy/", "csv", DECLARED)
    plan = build_plan([imported, copy])

    assert [location.reason for location in plan.locations] == ["import_source", "import_source"]


def test_an_import_source_inside_a_location_that_opts_in_is_scanned():
    imported = s3_location("s3://b/imports/2026/x.csv", "csv", IMPORT, reason="import_source")
    opted = s3_location("s3://b/imports/", "csv", DECLARED, rewrite_import_source=True)
    plan = build_plan([imported, opted])

    assert all(location.scannable for location in plan.locations)


def test_an_opted_in_import_source_still_being_imported_is_not_scanned():
    running = Source("dataset_import_job", IMPORT.name, "CREATE IN_PROGRESS")
    imported = s3_location("s3://b/imports/x.csv", "csv", running, reason="import_source")
    opted = s3_location("s3://b/imports/", "csv", DECLARED, rewrite_import_source=True)
    plan = build_plan([imported, opted])

    assert plan.resolve("b", "imports/x.csv").reason == "job_in_progress"
    assert plan.resolve("b", "imports/y.csv").scannable


def test_an_http_path_is_reported_not_scannable():
    plan = build_plan([batch_input("https://b.s3.amazonaws.com/in/a.json")])

    assert plan.locations[0].reason == "not_s3"
    assert plan.counts() == {"not_s3": 1}
    assert plan.listing_prefixes() == []


def test_a_bucket_outside_the_allow_list_is_reported_not_scannable():
    plan = build_plan(
        [batch_input("s3://mine/in/"), batch_input("s3://theirs/in/")], allowed_buckets=["mine"]
    )

    assert [(location.bucket, location.reason) for location in plan.locations] == [
        ("mine", None),
        ("theirs", "bucket_not_allowed"),
    ]


def test_listing_prefixes_list_each_object_once():
    plan = build_plan(
        [
            batch_input("s3://b/in"),
            batch_input("s3://b/in/2026/", JOB_B),
            s3_location("s3://b/inbox/", "csv", DECLARED),
            s3_location("s3://c/", "jsonl", DECLARED),
        ]
    )

    assert plan.listing_prefixes() == [("b", "in"), ("c", "")]


def test_a_plan_survives_a_round_trip_through_json():
    plan = build_plan(
        [
            batch_input("s3://b/in", JOB_A),
            s3_location("s3://b/out/", "batch_inference_output", JOB_A, key_suffix=".out"),
            s3_location("http://example.com/x", "export_csv", JOB_B),
        ],
        vanished=2,
    )

    again = LocationPlan.from_record(json.loads(json.dumps(plan.as_record())))

    assert again == plan
    assert again.resolve("b", "out/a.out") == plan.resolve("b", "out/a.out")


@pytest.mark.parametrize(("member", "value"), [("format", "parquet"), ("reason", "because")])
def test_a_location_refuses_a_format_or_reason_it_does_not_know(member, value):
    with pytest.raises(ValueError, match=member):
        ScanLocation(**{**batch_input("s3://b/in").__dict__, member: value})
