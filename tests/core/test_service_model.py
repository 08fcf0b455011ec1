"""Local validation against the service model: the field and the rule, before any call."""

from __future__ import annotations

import pytest

from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from airflow_provider_personalize_deletion.utils.service_model import (
    find_violations,
    validate_request,
)

GOOD = {
    "jobName": "erase-2026-11-28",
    "datasetGroupArn": "arn:aws:personalize:us-east-1:123456789012:dataset-group/shop",
    "dataSource": {"dataLocation": "s3://bucket/key.csv"},
    "roleArn": "arn:aws:iam::123456789012:role/PersonalizeDeletion",
    "tags": [{"tagKey": "purpose", "tagValue": "gdpr: art. 17"}],
}


def with_(**changes):
    return {**GOOD, **changes}


def test_a_request_that_follows_every_rule_passes():
    assert find_violations("CreateDataDeletionJob", GOOD) == []


@pytest.mark.parametrize(
    ("request_", "field", "rule_part"),
    [
        (with_(jobName="-starts-with-dash"), "jobName", "pattern"),
        (with_(jobName="has space"), "jobName", "pattern"),
        (with_(jobName="x" * 64), "jobName", "at most 63"),
        (with_(jobName=""), "jobName", "at least 1"),
        (with_(datasetGroupArn="shop"), "datasetGroupArn", "pattern"),
        (with_(roleArn="arn:aws:iam::12345:role/R"), "roleArn", "pattern"),
        (with_(dataSource={"dataLocation": "s3://" + "k" * 252}), "dataSource.dataLocation", "at most 256"),
        (with_(tags=[{"tagKey": "a$b", "tagValue": ""}]), "tags[0].tagKey", "pattern"),
        (with_(tags=[{"tagKey": "k", "tagValue": "v"}] * 201), "tags", "at most 200 items"),
        ({k: v for k, v in GOOD.items() if k != "roleArn"}, "roleArn", "required"),
        (with_(unknown="x"), "unknown", "not a parameter"),
    ],
)
def test_each_broken_rule_names_the_field_and_the_rule(request_, field, rule_part):
    with pytest.raises(PersonalizeValidationError) as error:
        validate_request("CreateDataDeletionJob", request_)
    assert error.value.field == field
    assert rule_part in error.value.rule
    assert field in str(error.value)


def test_unicode_letters_are_allowed_in_tags_as_the_service_allows_them():
    assert (
        find_violations("CreateDataDeletionJob", with_(tags=[{"tagKey": "équipe", "tagValue": "数据"}])) == []
    )


def test_the_message_does_not_repeat_the_offending_value():
    secret = "user-4711@example.com"
    with pytest.raises(PersonalizeValidationError) as error:
        validate_request("CreateDataDeletionJob", with_(jobName=secret))
    assert secret not in str(error.value)


def test_integer_bounds_are_checked():
    assert find_violations("ListDataDeletionJobs", {"maxResults": 101})[0].field == "maxResults"
