"""The create requests of the three job kinds: the exact dicts sent, and which rule a bad one breaks first."""

from __future__ import annotations

import pytest

from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from airflow_provider_personalize_deletion.hooks.personalize import (
    build_create_request,
    build_export_request,
    build_import_request,
)

ROLE = "arn:aws:iam::123456789012:role/PersonalizeS3"
GROUP = "arn:aws:personalize:us-east-1:123456789012:dataset-group/shop"
DATASET = "arn:aws:personalize:us-east-1:123456789012:dataset/shop/INTERACTIONS"
KMS = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TAGS = [{"tagKey": "team", "tagValue": "privacy"}]


def test_a_deletion_request_holds_exactly_the_group_location_role_and_tags():
    assert build_create_request("erase-1", GROUP, "s3://in/users.csv", ROLE) == {
        "jobName": "erase-1",
        "datasetGroupArn": GROUP,
        "dataSource": {"dataLocation": "s3://in/users.csv"},
        "roleArn": ROLE,
    }
    assert build_create_request("erase-1", GROUP, "s3://in/", ROLE, tags={"team": "privacy"}) == {
        "jobName": "erase-1",
        "datasetGroupArn": GROUP,
        "dataSource": {"dataLocation": "s3://in/"},
        "roleArn": ROLE,
        "tags": TAGS,
    }


def test_an_import_request_holds_exactly_the_dataset_location_role_mode_and_tags():
    assert build_import_request("import-1", DATASET, "s3://in/part-1.csv", ROLE) == {
        "jobName": "import-1",
        "datasetArn": DATASET,
        "dataSource": {"dataLocation": "s3://in/part-1.csv"},
        "roleArn": ROLE,
        "importMode": "FULL",
    }
    assert build_import_request("import-1", DATASET, "s3://in/", ROLE, "INCREMENTAL", TAGS) == {
        "jobName": "import-1",
        "datasetArn": DATASET,
        "dataSource": {"dataLocation": "s3://in/"},
        "roleArn": ROLE,
        "importMode": "INCREMENTAL",
        "tags": TAGS,
    }


def test_an_export_request_holds_exactly_the_dataset_mode_role_output_and_tags():
    assert build_export_request("export-1", DATASET, ROLE, "s3://out/v/") == {
        "jobName": "export-1",
        "datasetArn": DATASET,
        "ingestionMode": "ALL",
        "roleArn": ROLE,
        "jobOutput": {"s3DataDestination": {"path": "s3://out/v/"}},
    }
    assert build_export_request(
        "export-1", DATASET, ROLE, "s3://out/v/", "PUT", KMS, {"team": "privacy"}
    ) == {
        "jobName": "export-1",
        "datasetArn": DATASET,
        "ingestionMode": "PUT",
        "roleArn": ROLE,
        "jobOutput": {"s3DataDestination": {"path": "s3://out/v/", "kmsKeyArn": KMS}},
        "tags": TAGS,
    }


def test_empty_tags_and_kms_key_are_left_out():
    assert "tags" not in build_create_request("erase-1", GROUP, "s3://in/", ROLE, tags={})
    assert "tags" not in build_import_request("import-1", DATASET, "s3://in/", ROLE, tags=[])
    exported = build_export_request("export-1", DATASET, ROLE, "s3://out/", kms_key_arn="", tags={})
    assert "tags" not in exported
    assert exported["jobOutput"] == {"s3DataDestination": {"path": "s3://out/"}}


BUILDERS = {
    "deletion": lambda **change: build_create_request(
        **{"job_name": "erase-1", "dataset_group_arn": GROUP, "data_location": "s3://in/", "role_arn": ROLE}
        | change
    ),
    "import": lambda **change: build_import_request(
        **{"job_name": "import-1", "dataset_arn": DATASET, "data_location": "s3://in/", "role_arn": ROLE}
        | change
    ),
    "export": lambda **change: build_export_request(
        **{"job_name": "export-1", "dataset_arn": DATASET, "role_arn": ROLE, "s3_path": "s3://out/"} | change
    ),
}


@pytest.mark.parametrize(
    ("kind", "change", "field"),
    [
        ("deletion", {"data_location": "https://example.com/users.csv"}, "dataSource.dataLocation"),
        ("deletion", {"role_arn": "PersonalizeS3", "data_location": "https://x/"}, "roleArn"),
        ("deletion", {"tags": "team=privacy"}, "tags"),
        ("import", {"data_location": "https://example.com/data.csv"}, "dataSource.dataLocation"),
        ("import", {"import_mode": "PARTIAL", "data_location": "https://x/"}, "importMode"),
        ("import", {"tags": [{"tagKey": "k"}], "data_location": "https://x/"}, "tags[0].tagValue"),
        ("export", {"s3_path": "s3://out/no-slash"}, "jobOutput.s3DataDestination.path"),
        ("export", {"s3_path": "https://out/"}, "jobOutput.s3DataDestination.path"),
        ("export", {"ingestion_mode": "EVERYTHING", "job_name": "-bad name"}, "ingestionMode"),
        ("export", {"job_name": "-bad name", "s3_path": "s3://out/no-slash"}, "jobName"),
        (
            "export",
            {"kms_key_arn": "not-a-key", "s3_path": "https://out/"},
            "jobOutput.s3DataDestination.kmsKeyArn",
        ),
    ],
)
def test_a_bad_request_names_the_first_rule_it_breaks(kind, change, field):
    with pytest.raises(PersonalizeValidationError) as refused:
        BUILDERS[kind](**change)
    assert refused.value.field == field
