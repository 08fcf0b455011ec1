"""
The Personalize API operations the emulator implements, on top of :class:`PersonalizeState`.

Each request is first checked against botocore's service model (the same rules the service applies:
required members, lengths, ranges, patterns), then against the service's business rules. Responses
are JSON-ready dictionaries in the shape of the model's output; timestamps are epoch seconds.

The Create / Describe / List operations of the resources that use a dataset group's data are built
from their description in :data:`.resources.KINDS`, with the few rules of each kind in :data:`_RULES`.
Tags given at creation and with ``TagResource`` are kept for ``ListTagsForResource``.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from airflow_provider_personalize_deletion.emulator import errors
from airflow_provider_personalize_deletion.emulator.dataset_records import NOT_EXPORTABLE
from airflow_provider_personalize_deletion.emulator.personalize import (
    ACTIVE,
    DatasetGroup,
    PersonalizeState,
)
from airflow_provider_personalize_deletion.emulator.resources import (
    CREATE_IN_PROGRESS,
    CREATE_PENDING,
    KINDS,
    Kind,
    Resource,
)
from airflow_provider_personalize_deletion.utils.service_model import find_violations

#: At most this many jobs of one dataset group may be PENDING at a time.
MAX_PENDING_JOBS_PER_DATASET_GROUP = 5
#: At most this many dataset export jobs may be CREATE PENDING or CREATE IN_PROGRESS at a time (per region).
#: The quotas page names no export limit; this is its limit on pending or in progress dataset import jobs,
#: which exports are taken to share (an inference), so that callers are built to respect one.
MAX_RUNNING_EXPORT_JOBS = 5
#: ``maxResults`` when the request has none: the documented maximum size of a page.
DEFAULT_MAX_RESULTS = 100
#: The dataset types ``CreateDataset`` accepts (case-insensitive), as the service model documents them.
DATASET_TYPES = frozenset({"INTERACTIONS", "ITEMS", "USERS", "ACTIONS", "ACTION_INTERACTIONS"})


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
    _tag(state, group.arn, params.get("tags"))
    return {"datasetGroupArn": group.arn, **({"domain": group.domain} if group.domain else {})}


def describe_dataset_group(state: PersonalizeState, params: dict[str, Any]) -> dict[str, Any]:
    return {"datasetGroup": dataset_group(state, params["datasetGroupArn"]).describe()}


def list_dataset_groups(state: PersonalizeState, params: dict[str, Any]) -> dict[str, Any]:
    return _page(list(state.dataset_groups.values()), params, "datasetGroups", state.max_page_size)


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
    _tag(state, job.arn, params.get("tags"))
    return {"dataDeletionJobArn": job.arn}


def describe_data_deletion_job(state: PersonalizeState, params: dict[str, Any]) -> dict[str, Any]:
    job = state.jobs.get(params["dataDeletionJobArn"])
    if job is None:
        raise errors.not_found(params["dataDeletionJobArn"])
    return {"dataDeletionJob": job.describe()}


def list_data_deletion_jobs(state: PersonalizeState, params: dict[str, Any]) -> dict[str, Any]:
    group_arn = params.get("datasetGroupArn")
    jobs = [job for job in state.jobs.values() if group_arn in (None, job.dataset_group_arn)]
    return _page(jobs, params, "dataDeletionJobs", state.max_page_size)


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


def interactions_dataset(state: PersonalizeState, dataset_group_arn: str) -> Resource:
    """
    Return the Interactions dataset of a dataset group, where PutEvents records go.

    :param state: the emulator's resources.
    :param dataset_group_arn: the group's ARN.
    :raises ServiceError: ``ResourceNotFoundException`` when the group or its Interactions dataset is missing.
    """
    group = dataset_group(state, dataset_group_arn)
    for item in state.resources.values():
        if (
            item.kind.name == "dataset"
            and item.parent_arn == group.arn
            and item.attributes["datasetType"].upper() == "INTERACTIONS"
        ):
            return item
    raise errors.not_found(f"{group.arn} (its Interactions dataset)")


Rule = Callable[[PersonalizeState, dict[str, Any], "DatasetGroup | Resource"], dict[str, Any]]


def _dataset_rules(state: PersonalizeState, params: dict[str, Any], group: Any) -> dict[str, Any]:
    dataset_type = params["datasetType"].upper()
    if dataset_type not in DATASET_TYPES:
        raise errors.invalid_input(f"datasetType must be one of {sorted(DATASET_TYPES)} (any case).")
    return {"_arn": state.arn("dataset", f"{group.name}/{dataset_type}"), **params}


def _export_job_rules(state: PersonalizeState, params: dict[str, Any], dataset: Any) -> dict[str, Any]:
    dataset_type = dataset.attributes["datasetType"].upper()
    if dataset_type in NOT_EXPORTABLE:
        raise errors.invalid_input(f"A dataset of type {dataset_type} cannot be exported.")
    running = [
        job
        for job in state.resources.values()
        if job.kind.name == "dataset-export-job" and job.status in (CREATE_PENDING, CREATE_IN_PROGRESS)
    ]
    if len(running) >= MAX_RUNNING_EXPORT_JOBS:
        raise errors.limit_exceeded(
            f"{MAX_RUNNING_EXPORT_JOBS} dataset export jobs are already CREATE PENDING or CREATE "
            "IN_PROGRESS, the service's limit. Wait for one to end before creating another."
        )
    return {"ingestionMode": "PUT"} | params


def _solution_rules(state: PersonalizeState, params: dict[str, Any], group: Any) -> dict[str, Any]:
    # The service model documents performAutoTraining's default as True.
    return {"performAutoTraining": True, "performHPO": False, "performAutoML": False} | params


def _solution_version_rules(state: PersonalizeState, params: dict[str, Any], solution: Any) -> dict[str, Any]:
    return {
        "_arn": f"{solution.arn}/{uuid.uuid4().hex[:8]}",
        "trainingMode": "FULL",
        "trainingType": "MANUAL",
        "recipeArn": solution.attributes.get("recipeArn"),
    } | params


def _batch_job_rules(state: PersonalizeState, params: dict[str, Any], version: Any) -> dict[str, Any]:
    if version.status != ACTIVE:
        raise errors.ServiceError(
            "ResourceInUseException", f"The solution version {version.arn} is not ACTIVE ({version.status})."
        )
    return params


#: Per kind, the service's rules beyond the service model: they return the members the resource gets
#: (its create request's, defaults, and an ``_arn`` when its ARN is not ``<kind>/<name>``).
_RULES: dict[str, Rule] = {
    "dataset": _dataset_rules,
    "dataset-import-job": lambda state, params, dataset: {"importMode": "FULL"} | params,
    "dataset-export-job": _export_job_rules,
    "solution": _solution_rules,
    "solution-version": _solution_version_rules,
    "batch-inference-job": _batch_job_rules,
    "batch-segment-job": _batch_job_rules,
}


def _creator(kind: Kind) -> Callable[[PersonalizeState, dict[str, Any]], dict[str, Any]]:
    def create(state: PersonalizeState, params: dict[str, Any]) -> dict[str, Any]:
        parent = _parent(state, kind, params[kind.parent_member])
        name = params.get("jobName", params.get("name"))
        attributes = _RULES.get(kind.name, lambda state, params, parent: params)(state, params, parent)
        attributes = {member: value for member, value in attributes.items() if member != "tags"}
        # The service model requires a name of every kind whose ARN is <kind>/<name>.
        arn = attributes.pop("_arn", None) or state.arn(kind.name, str(name))
        if arn in state.resources:
            raise errors.already_exists(arn)
        group_arn = parent.arn if isinstance(parent, DatasetGroup) else parent.dataset_group_arn
        state.add_resource(kind, name, arn, parent.arn, group_arn, attributes)
        _tag(state, arn, params.get("tags"))
        return {kind.arn_member: arn}

    return create


def _describer(kind: Kind) -> Callable[[PersonalizeState, dict[str, Any]], dict[str, Any]]:
    def describe(state: PersonalizeState, params: dict[str, Any]) -> dict[str, Any]:
        return {kind.member: resource(state, kind.name, params[kind.arn_member]).describe()}

    return describe


def _lister(kind: Kind) -> Callable[[PersonalizeState, dict[str, Any]], dict[str, Any]]:
    def list_resources(state: PersonalizeState, params: dict[str, Any]) -> dict[str, Any]:
        parent_arn = params.get(kind.parent_member)
        listed = [
            item
            for item in state.resources.values()
            if item.kind is kind and parent_arn in (None, item.parent_arn)
        ]
        return _page(listed, params, kind.list_member, state.max_page_size)

    return list_resources


def resource(state: PersonalizeState, kind_name: str, arn: str) -> Resource:
    """
    Return a resource of one kind by ARN.

    :param state: the emulator's resources.
    :param kind_name: its kind, a key of :data:`.resources.KINDS`.
    :param arn: its ARN.
    :raises ServiceError: ``ResourceNotFoundException`` when there is none.
    """
    found = state.resources.get(arn)
    if found is None or found.kind.name != kind_name:
        raise errors.not_found(arn)
    return found


def _parent(state: PersonalizeState, kind: Kind, arn: str) -> DatasetGroup | Resource:
    if kind.parent_kind is None:
        return dataset_group(state, arn)
    return resource(state, kind.parent_kind, arn)


def tag_resource(state: PersonalizeState, params: dict[str, Any]) -> dict[str, Any]:
    _known(state, params["resourceArn"])
    _tag(state, params["resourceArn"], params["tags"])
    return {}


def list_tags_for_resource(state: PersonalizeState, params: dict[str, Any]) -> dict[str, Any]:
    _known(state, params["resourceArn"])
    tags = state.tags.get(params["resourceArn"], {})
    return {"tags": [{"tagKey": key, "tagValue": value} for key, value in tags.items()]}


def _known(state: PersonalizeState, arn: str) -> None:
    if arn not in state.dataset_groups and arn not in state.jobs and arn not in state.resources:
        raise errors.not_found(arn)


def _tag(state: PersonalizeState, arn: str, tags: list[dict[str, str]] | None) -> None:
    for tag in tags or ():
        state.tags.setdefault(arn, {})[tag["tagKey"]] = tag["tagValue"]


def _page(
    items: Sequence[_Listed], params: dict[str, Any], member: str, max_page_size: int | None = None
) -> dict[str, Any]:
    """
    Return one page of a list operation, newest first.

    The ``nextToken`` names the list and the sequence number of the last item returned, so a page
    stays correct when newer items are created between calls.
    """
    newest_first = sorted(items, key=lambda item: item.sequence, reverse=True)
    if "nextToken" in params:
        after = _decode_token(params["nextToken"], member)
        newest_first = [item for item in newest_first if item.sequence < after]
    size = min(params.get("maxResults", DEFAULT_MAX_RESULTS), max_page_size or DEFAULT_MAX_RESULTS)
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
    "TagResource": tag_resource,
    "ListTagsForResource": list_tags_for_resource,
    **{f"Create{kind.operation}": _creator(kind) for kind in KINDS.values()},
    **{f"Describe{kind.operation}": _describer(kind) for kind in KINDS.values()},
    **{f"List{kind.plural}": _lister(kind) for kind in KINDS.values()},
}
