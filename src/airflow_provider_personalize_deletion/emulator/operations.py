"""
The Personalize API operations the emulator implements, on top of :class:`PersonalizeState`.

Each request is first checked against botocore's service model (the same rules the service applies:
required members, lengths, ranges, patterns), then against the service's business rules. Responses
are JSON-ready dictionaries in the shape of the model's output; timestamps are epoch seconds.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from airflow_provider_personalize_deletion.emulator import errors
from airflow_provider_personalize_deletion.emulator.personalize import (
    DatasetGroup,
    PersonalizeState,
)
from airflow_provider_personalize_deletion.utils.service_model import find_violations

#: At most this many jobs of one dataset group may be PENDING at a time.
MAX_PENDING_JOBS_PER_DATASET_GROUP = 5
#: ``maxResults`` when the request has none: the documented maximum size of a page.
DEFAULT_MAX_RESULTS = 100


class _Listed(Protocol):
    sequence: int

    def summary(self) -> dict[str, Any]: ...


def handle(state: PersonalizeState, action: str, params: dict[str, Any]) -> dict[str, Any]:
    """
    Run one Personalize API operation.

    :param state: the emulator's resources; the caller holds its lock.
    :param action: the API name, one of :data:`OPERATIONS`.
    :param params: the decoded JSON request.
    :raises ServiceError: what the service would answer instead of a result.
    """
    violations = find_violations(action, params)
    if violations:
        raise errors.invalid_input(str(violations[0].as_error()))
    state.advance()
    return OPERATIONS[action](state, params)


def create_dataset_group(state: PersonalizeState, params: dict[str, Any]) -> dict[str, Any]:
    arn = state.arn("dataset-group", params["name"])
    if arn in state.dataset_groups:
        raise errors.already_exists(arn)
    group = state.add_dataset_group(
        params["name"],
        role_arn=params.get("roleArn"),
        kms_key_arn=params.get("kmsKeyArn"),
        domain=params.get("domain"),
    )
    return {"datasetGroupArn": group.arn, **({"domain": group.domain} if group.domain else {})}


def describe_dataset_group(state: PersonalizeState, params: dict[str, Any]) -> dict[str, Any]:
    return {"datasetGroup": dataset_group(state, params["datasetGroupArn"]).describe()}


def list_dataset_groups(state: PersonalizeState, params: dict[str, Any]) -> dict[str, Any]:
    return _page(list(state.dataset_groups.values()), params, "datasetGroups")


def create_data_deletion_job(state: PersonalizeState, params: dict[str, Any]) -> dict[str, Any]:
    group = dataset_group(state, params["datasetGroupArn"])
    arn = state.arn("data-deletion-job", params["jobName"])
    if arn in state.jobs:
        raise errors.already_exists(arn)
    if state.pending_jobs(group.arn) >= MAX_PENDING_JOBS_PER_DATASET_GROUP:
        raise errors.limit_exceeded(
            f"The dataset group {group.arn} already has {MAX_PENDING_JOBS_PER_DATASET_GROUP} data deletion "
            "jobs with status PENDING. Wait for one to start before creating another."
        )
    job = state.add_job(params["jobName"], group, params["dataSource"]["dataLocation"], params["roleArn"])
    return {"dataDeletionJobArn": job.arn}


def describe_data_deletion_job(state: PersonalizeState, params: dict[str, Any]) -> dict[str, Any]:
    job = state.jobs.get(params["dataDeletionJobArn"])
    if job is None:
        raise errors.not_found(params["dataDeletionJobArn"])
    return {"dataDeletionJob": job.describe()}


def list_data_deletion_jobs(state: PersonalizeState, params: dict[str, Any]) -> dict[str, Any]:
    group_arn = params.get("datasetGroupArn")
    jobs = [job for job in state.jobs.values() if group_arn in (None, job.dataset_group_arn)]
    return _page(jobs, params, "dataDeletionJobs")


def dataset_group(state: PersonalizeState, arn: str) -> DatasetGroup:
    """
    Return a dataset group by ARN.

    :param state: the emulator's resources.
    :param arn: the dataset group's ARN.
    :raises ServiceError: ``ResourceNotFoundException`` when there is none.
    """
    group = state.dataset_groups.get(arn)
    if group is None:
        raise errors.not_found(arn)
    return group


def _page(items: Sequence[_Listed], params: dict[str, Any], member: str) -> dict[str, Any]:
    """
    Return one page of a list operation, newest first.

    The ``nextToken`` names the list and the sequence number of the last item returned, so a page
    stays correct when newer items are created between calls.
    """
    newest_first = sorted(items, key=lambda item: item.sequence, reverse=True)
    if "nextToken" in params:
        after = _decode_token(params["nextToken"], member)
        newest_first = [item for item in newest_first if item.sequence < after]
    size = params.get("maxResults", DEFAULT_MAX_RESULTS)
    page, rest = newest_first[:size], newest_first[size:]
    response: dict[str, Any] = {member: [item.summary() for item in page]}
    if rest:
        response["nextToken"] = base64.urlsafe_b64encode(f"{member}:{page[-1].sequence}".encode()).decode()
    return response


def _decode_token(token: str, member: str) -> int:
    try:
        name, _, sequence = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if name == member:
            return int(sequence)
    except (binascii.Error, UnicodeError, ValueError):
        pass
    raise errors.invalid_next_token()


OPERATIONS: dict[str, Callable[[PersonalizeState, dict[str, Any]], dict[str, Any]]] = {
    "CreateDatasetGroup": create_dataset_group,
    "DescribeDatasetGroup": describe_dataset_group,
    "ListDatasetGroups": list_dataset_groups,
    "CreateDataDeletionJob": create_data_deletion_job,
    "DescribeDataDeletionJob": describe_data_deletion_job,
    "ListDataDeletionJobs": list_data_deletion_jobs,
}
