"""
The emulated resources that use a dataset group's data: datasets and their import and export jobs,
solutions and their versions, batch inference and batch segment jobs, recommenders.

Each kind is described once, as data (:data:`KINDS`): the API names of its operations, the request
member naming its parent, the lifecycle its status follows, whether it trains a model. Responses are
projections of one flat record on the service model's output shapes, so a describe answer and a list
summary carry exactly the members botocore expects.

Statuses follow the same rules as data deletion jobs (see
:mod:`~airflow_provider_personalize_deletion.emulator.personalize`): computed from timestamps whenever
the state is read, with holds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from airflow_provider_personalize_deletion.utils.service_model import operation_model

ACTIVE = "ACTIVE"
CREATE_PENDING, CREATE_IN_PROGRESS, CREATE_FAILED = "CREATE PENDING", "CREATE IN_PROGRESS", "CREATE FAILED"
BATCH_PENDING, BATCH_IN_PROGRESS = "PENDING", "IN PROGRESS"

#: Import and export jobs, solution versions, recommenders: status -> (next status, JobTimings field).
CREATE_LIFECYCLE: dict[str, tuple[str, str]] = {
    CREATE_PENDING: (CREATE_IN_PROGRESS, "pending_seconds"),
    CREATE_IN_PROGRESS: (ACTIVE, "in_progress_seconds"),
}
#: Batch inference and batch segment jobs.
BATCH_LIFECYCLE: dict[str, tuple[str, str]] = {
    BATCH_PENDING: (BATCH_IN_PROGRESS, "pending_seconds"),
    BATCH_IN_PROGRESS: (ACTIVE, "in_progress_seconds"),
}
#: Resources without a lifecycle (datasets, solutions) are ACTIVE as soon as they are created.
NO_LIFECYCLE: dict[str, tuple[str, str]] = {}
#: The status in which a model's training runs: its users are the group's users when it is entered.
TRAINING_STATUS = CREATE_IN_PROGRESS


@dataclass(frozen=True)
class Kind:
    """
    One kind of resource, as data.

    :param name: the kind, also the resource type in its ARN (``dataset-import-job``).
    :param operation: the suffix of its API names (``DatasetImportJob`` for ``CreateDatasetImportJob``).
    :param plural: the suffix of its list operation (``DatasetImportJobs``).
    :param parent_member: the create request's member naming the parent (``datasetArn``).
    :param parent_kind: the parent's kind, or None for a dataset group.
    :param lifecycle: the statuses it moves through on its own.
    :param trains: whether it trains a model (whose users the emulator tracks).
    """

    name: str
    operation: str
    plural: str
    parent_member: str
    parent_kind: str | None
    lifecycle: dict[str, tuple[str, str]]
    trains: bool = False

    @property
    def member(self) -> str:
        """The describe response's member and the ARN member's stem, e.g. ``datasetImportJob``."""
        return self.operation[0].lower() + self.operation[1:]

    @property
    def arn_member(self) -> str:
        """The member holding the ARN, e.g. ``datasetImportJobArn``."""
        return f"{self.member}Arn"

    @property
    def list_member(self) -> str:
        """The list response's member, e.g. ``datasetImportJobs``."""
        return self.plural[0].lower() + self.plural[1:]

    @property
    def initial_status(self) -> str:
        """The status a new resource of this kind has."""
        return next(iter(self.lifecycle), ACTIVE)


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("dataset", "Dataset", "Datasets", "datasetGroupArn", None, NO_LIFECYCLE),
        Kind(
            "dataset-import-job", "DatasetImportJob", "DatasetImportJobs", "datasetArn", "dataset",
            CREATE_LIFECYCLE,
        ),
        Kind(
            "dataset-export-job", "DatasetExportJob", "DatasetExportJobs", "datasetArn", "dataset",
            CREATE_LIFECYCLE,
        ),
        Kind("solution", "Solution", "Solutions", "datasetGroupArn", None, NO_LIFECYCLE),
        Kind(
            "solution-version", "SolutionVersion", "SolutionVersions", "solutionArn", "solution",
            CREATE_LIFECYCLE, trains=True,
        ),
        Kind(
            "batch-inference-job", "BatchInferenceJob", "BatchInferenceJobs", "solutionVersionArn",
            "solution-version", BATCH_LIFECYCLE,
        ),
        Kind(
            "batch-segment-job", "BatchSegmentJob", "BatchSegmentJobs", "solutionVersionArn",
            "solution-version", BATCH_LIFECYCLE,
        ),
        Kind(
            "recommender", "Recommender", "Recommenders", "datasetGroupArn", None, CREATE_LIFECYCLE,
            trains=True,
        ),
    )
}  # fmt: skip


@dataclass
class Resource:
    """
    One resource of a :class:`Kind`; ``status`` is as of the last advance of the state.

    :param kind: what it is.
    :param name: its name (``name`` or ``jobName``); solution versions may have none.
    :param arn: its ARN.
    :param sequence: its place in creation order (lists are newest first).
    :param dataset_group_arn: the dataset group whose data it uses.
    :param parent_arn: the ARN its create request named in ``kind.parent_member``.
    :param created: creation time, epoch seconds.
    :param timings: how long it stays in each status of its lifecycle.
    :param attributes: the create request's members (without tags) and computed members, as the
        describe answer shows them.
    """

    kind: Kind
    name: str | None
    arn: str
    sequence: int
    dataset_group_arn: str
    parent_arn: str
    created: float
    timings: Any
    attributes: dict[str, Any]
    status: str = ""
    status_since: float = 0.0
    #: The user ids its model was trained on (trained kinds, from the start of training on).
    model_users: set[str] | None = None
    training_started: float | None = None
    training_ended: float | None = None

    def __post_init__(self) -> None:
        self.status = self.status or self.kind.initial_status
        self.status_since = self.status_since or self.created

    @property
    def lifecycle(self) -> dict[str, tuple[str, str]]:
        """The statuses this resource leaves on its own."""
        return self.kind.lifecycle

    def record(self) -> dict[str, Any]:
        """Every member this resource can answer with, before projection on an output shape."""
        return {
            **self.attributes,
            self.kind.arn_member: self.arn,
            "datasetGroupArn": self.dataset_group_arn,
            self.kind.parent_member: self.parent_arn,
            "status": self.status,
            "creationDateTime": self.created,
            "lastUpdatedDateTime": self.status_since,
        }

    def describe(self) -> dict[str, Any]:
        """Return the ``Describe<Kind>`` response's object."""
        return _project(self.record(), f"Describe{self.kind.operation}", self.kind.member)

    def summary(self) -> dict[str, Any]:
        """Return the summary ``List<Kinds>`` answers with."""
        return _project(self.record(), f"List{self.kind.plural}", self.kind.list_member)

    def trained_during(self, start: float, end: float) -> bool:
        """
        Whether its training ran at any moment of ``[start, end]`` (closed: touching counts).

        :param start: the start, epoch seconds.
        :param end: the end, epoch seconds.
        """
        if self.training_started is None or self.training_started > end:
            return False
        return self.training_ended is None or self.training_ended >= start


def _project(record: dict[str, Any], operation: str, member: str) -> dict[str, Any]:
    names = _output_members(operation, member)
    return {name: record[name] for name in names if record.get(name) is not None}


@functools.lru_cache(maxsize=32)
def _output_members(operation: str, member: str) -> tuple[str, ...]:
    """The members of the object (or of each list item) an operation's output holds in ``member``."""
    shape: Any = operation_model(operation).output_shape.members[member]  # type: ignore[union-attr]
    if shape.type_name == "list":
        shape = shape.member
    return tuple(shape.members)
