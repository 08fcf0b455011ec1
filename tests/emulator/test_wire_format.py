"""
Every response parses with botocore against the service model, through boto3 and aiobotocore alike.

Each scenario sets the stage with boto3, then makes one call of the operation under test with the
client of the test (boto3 or aiobotocore) and checks the parsed result against the operation's output
shape: the members the scenario must return are there, every member is one the model knows, and
every value has the model's type (timestamps parsed into datetimes).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

import pytest
from aiobotocore.session import get_session
from botocore import xform_name
from botocore.model import Shape

from tests.emulator.conftest import NO_RETRIES, ROLE_ARN

KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PYTHON_TYPES = {
    "string": str,
    "integer": int,
    "timestamp": datetime.datetime,
    "structure": dict,
    "list": list,
}


@dataclass(frozen=True)
class Scenario:
    """One call of ``operation``, after ``setup`` returned its parameters; ``members`` are the top-level ones
    the response must have, ``item_members`` those of its nested object or list items."""

    operation: str
    setup: Callable[[Any, Any, Any], dict[str, Any]]
    members: AbstractSet[str]
    item_members: AbstractSet[str] = frozenset()


def _group(personalize, **extra: Any) -> str:
    return personalize.create_dataset_group(name="shop", roleArn=ROLE_ARN, **extra)["datasetGroupArn"]


def _jobs(personalize, put_csv, emulator) -> list[str]:
    """Create a job that completes and a newer one that fails; return their ARNs."""
    group = _group(personalize)
    emulator.seed_users(group, ["alice"])
    emulator.fail_job("erase-failed", "Internal service error.")
    location = put_csv("erase.csv", ["alice"])
    return [
        personalize.create_data_deletion_job(
            jobName=name, datasetGroupArn=group, dataSource={"dataLocation": location}, roleArn=ROLE_ARN
        )["dataDeletionJobArn"]
        for name in ("erase-done", "erase-failed")
    ]


def _create_dataset_group(personalize, put_csv, emulator) -> dict[str, Any]:
    return {"name": "news", "domain": "ECOMMERCE"}


def _describe_dataset_group(personalize, put_csv, emulator) -> dict[str, Any]:
    return {"datasetGroupArn": _group(personalize, kmsKeyArn=KMS_KEY, domain="VIDEO_ON_DEMAND")}


def _list_dataset_groups(personalize, put_csv, emulator) -> dict[str, Any]:
    _group(personalize, domain="ECOMMERCE")
    emulator.create_dataset_group("news")
    return {"maxResults": 1}


def _create_data_deletion_job(personalize, put_csv, emulator) -> dict[str, Any]:
    return {
        "jobName": "erase-1",
        "datasetGroupArn": _group(personalize),
        "dataSource": {"dataLocation": "s3://bucket/erase.csv"},
        "roleArn": ROLE_ARN,
        "tags": [{"tagKey": "purpose", "tagValue": "gdpr"}],
    }


def _describe_data_deletion_job(personalize, put_csv, emulator) -> dict[str, Any]:
    return {"dataDeletionJobArn": _jobs(personalize, put_csv, emulator)[0]}


def _list_data_deletion_jobs(personalize, put_csv, emulator) -> dict[str, Any]:
    _jobs(personalize, put_csv, emulator)
    return {"maxResults": 1}


GROUP_SUMMARY = {"name", "datasetGroupArn", "status", "creationDateTime", "lastUpdatedDateTime"}
JOB_SUMMARY = {
    "dataDeletionJobArn",
    "datasetGroupArn",
    "jobName",
    "status",
    "creationDateTime",
    "lastUpdatedDateTime",
}

SCENARIOS = [
    Scenario("CreateDatasetGroup", _create_dataset_group, {"datasetGroupArn", "domain"}),
    Scenario(
        "DescribeDatasetGroup",
        _describe_dataset_group,
        {"datasetGroup"},
        GROUP_SUMMARY | {"domain", "roleArn", "kmsKeyArn"},
    ),
    Scenario("ListDatasetGroups", _list_dataset_groups, {"datasetGroups", "nextToken"}, GROUP_SUMMARY),
    Scenario("CreateDataDeletionJob", _create_data_deletion_job, {"dataDeletionJobArn"}),
    Scenario(
        "DescribeDataDeletionJob",
        _describe_data_deletion_job,
        {"dataDeletionJob"},
        JOB_SUMMARY | {"dataSource", "roleArn", "numDeleted"},
    ),
    Scenario(
        "ListDataDeletionJobs",
        _list_data_deletion_jobs,
        {"dataDeletionJobs", "nextToken"},
        JOB_SUMMARY | {"failureReason"},
    ),
]


def _problems(shape: Shape, value: Any, path: str = "") -> list[str]:
    """Every way ``value`` departs from ``shape``: a wrong type, a missing required or an unknown member."""
    expected_type = PYTHON_TYPES[shape.type_name]
    if not isinstance(value, expected_type):
        return [f"{path or 'response'} is a {type(value).__name__}, the model says {shape.type_name}"]
    if shape.type_name == "list":
        return [
            problem
            for index, item in enumerate(value)
            for problem in _problems(shape.member, item, f"{path}[{index}]")
        ]
    if shape.type_name != "structure":
        return []
    problems = [f"{path}.{name} is required" for name in shape.required_members if name not in value]
    for name, member_value in value.items():
        if name == "ResponseMetadata" and not path:
            continue
        if name not in shape.members:
            problems.append(f"{path}.{name} is not in the model")
        else:
            problems += _problems(shape.members[name], member_value, f"{path}.{name}")
    return problems


def _item_members(result: dict[str, Any], scenario: Scenario) -> set[str]:
    nested = next(value for name, value in result.items() if name in scenario.members and name != "nextToken")
    return set(nested[0] if isinstance(nested, list) else nested) if scenario.item_members else set()


def _check(personalize, scenario: Scenario, result: dict[str, Any]) -> None:
    output_shape = personalize.meta.service_model.operation_model(scenario.operation).output_shape
    assert _problems(output_shape, result) == []
    assert set(result) - {"ResponseMetadata"} == scenario.members
    assert _item_members(result, scenario) == set(scenario.item_members)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.operation)
def test_boto3_parses_the_response_of(scenario, personalize, put_csv, emulator):
    params = scenario.setup(personalize, put_csv, emulator)

    result = getattr(personalize, xform_name(scenario.operation))(**params)

    _check(personalize, scenario, result)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.operation)
async def test_aiobotocore_parses_the_response_of(scenario, local_aws, personalize, put_csv, emulator):
    params = scenario.setup(personalize, put_csv, emulator)

    async with get_session().create_client(
        "personalize", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region, config=NO_RETRIES
    ) as client:
        result = await getattr(client, xform_name(scenario.operation))(**params)

    _check(personalize, scenario, result)


async def test_aiobotocore_raises_the_modelled_exception_class(local_aws, emulator):
    async with get_session().create_client(
        "personalize", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region, config=NO_RETRIES
    ) as client:
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            await client.describe_data_deletion_job(
                dataDeletionJobArn="arn:aws:personalize:us-east-1:123456789012:data-deletion-job/nope"
            )


def test_an_error_is_an_aws_json_1_1_error_response(emulator, personalize):
    with pytest.raises(personalize.exceptions.ResourceNotFoundException) as raised:
        personalize.describe_dataset_group(
            datasetGroupArn="arn:aws:personalize:us-east-1:123456789012:dataset-group/x"
        )

    response = raised.value.response
    assert (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"],
        response["ResponseMetadata"]["HTTPHeaders"]["content-type"],
    ) == (400, "ResourceNotFoundException", "application/x-amz-json-1.1")
