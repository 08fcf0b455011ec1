"""
The S3 locations the Personalize jobs of some dataset groups read and wrote, found through the API.

For each dataset group: ListDatasets > ListDatasetExportJobs and ListDatasetImportJobs > Describe* of
each job; ListSolutions > ListSolutionVersions > ListBatchInferenceJobs and ListBatchSegmentJobs >
Describe* of each job. Every list goes through botocore's paginator; every resource is listed or
described once per call of :func:`find_job_locations`, however many requests name its group. A
resource deleted between being listed and being described is counted (``vanished``), not an error.

Calls: ``2G + D + 2E' + S + 2V + J`` plus one per extra page of 100, with G dataset groups, D datasets,
S solutions, V solution versions and J jobs described (E' = import and export listings, one each per
dataset).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from airflow_provider_personalize_deletion.forget.formats import (
    BATCH_INFERENCE_INPUT,
    BATCH_INFERENCE_OUTPUT,
    BATCH_SEGMENT_INPUT,
    BATCH_SEGMENT_OUTPUT,
    CSV,
    EXPORT_CSV,
)
from airflow_provider_personalize_deletion.forget.locations import (
    BATCH_OUTPUT_SUFFIX,
    ScanLocation,
    Source,
    first_reason,
    s3_location,
)

if TYPE_CHECKING:
    from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook

#: Per kind of job, the statuses of one that has ended (its files no longer change).
ENDED_STATUSES: dict[str, frozenset[str]] = {
    "batch_inference_job": frozenset({"ACTIVE", "CREATE FAILED"}),
    "batch_segment_job": frozenset({"ACTIVE", "CREATE FAILED"}),
    "dataset_export_job": frozenset({"ACTIVE", "CREATE FAILED"}),
    "dataset_import_job": frozenset({"ACTIVE", "CREATE FAILED"}),
}


@dataclass(frozen=True)
class JobPaths:
    """
    How one kind of job's description names its paths, and in which format each is read.

    :param kind: the :class:`.Source` kind.
    :param arn_member: the ARN's member in the description.
    :param paths: ``(path in the description, format, key suffix)`` for each path it reads or writes.
    """

    kind: str
    arn_member: str
    paths: tuple[tuple[tuple[str, ...], str, str], ...]


_INPUT = ("jobInput", "s3DataSource")
_OUTPUT = ("jobOutput", "s3DataDestination")
BATCH_INFERENCE = JobPaths(
    "batch_inference_job",
    "batchInferenceJobArn",
    ((_INPUT, BATCH_INFERENCE_INPUT, ""), (_OUTPUT, BATCH_INFERENCE_OUTPUT, BATCH_OUTPUT_SUFFIX)),
)
BATCH_SEGMENT = JobPaths(
    "batch_segment_job",
    "batchSegmentJobArn",
    ((_INPUT, BATCH_SEGMENT_INPUT, ""), (_OUTPUT, BATCH_SEGMENT_OUTPUT, BATCH_OUTPUT_SUFFIX)),
)
DATASET_EXPORT = JobPaths("dataset_export_job", "datasetExportJobArn", ((_OUTPUT, EXPORT_CSV, ""),))
#: An import's ``dataSource`` has ``dataLocation`` instead of ``path``; no KMS key.
DATASET_IMPORT = JobPaths("dataset_import_job", "datasetImportJobArn", ((("dataSource",), CSV, ""),))


@dataclass
class JobLocations:
    """
    What :func:`find_job_locations` found.

    :param locations: one per path of each job, unmerged (see :func:`.locations.build_plan`).
    :param vanished: resources deleted between being listed and being described.
    """

    locations: list[ScanLocation]
    vanished: int = 0


def find_job_locations(hook: PersonalizeHook, dataset_group_arns: Iterable[str]) -> JobLocations:
    """
    List every job of the dataset groups and return the locations their descriptions name.

    :param hook: a Personalize hook.
    :param dataset_group_arns: the dataset groups, repeated or not (each is walked once).
    :raises PersonalizeValidationError: an ARN breaks the service model's rules, before any call for it.
    """
    walk = _Walk(hook)
    for group_arn in sorted(set(dataset_group_arns)):
        for dataset in hook.list_datasets(group_arn):
            arn = dataset["datasetArn"]
            walk.jobs(DATASET_EXPORT, hook.list_dataset_export_jobs, arn, hook.describe_dataset_export_job)
            walk.jobs(DATASET_IMPORT, hook.list_dataset_import_jobs, arn, hook.describe_dataset_import_job)
        for solution in hook.list_solutions(group_arn):
            for version in walk.listed(hook.list_solution_versions, solution["solutionArn"]):
                arn = version["solutionVersionArn"]
                walk.jobs(
                    BATCH_INFERENCE, hook.list_batch_inference_jobs, arn, hook.describe_batch_inference_job
                )
                walk.jobs(BATCH_SEGMENT, hook.list_batch_segment_jobs, arn, hook.describe_batch_segment_job)
    return JobLocations(walk.found, walk.vanished)


class _Walk:
    """The locations found so far, and the resources that vanished meanwhile."""

    def __init__(self, hook: PersonalizeHook) -> None:
        self.hook = hook
        self.found: list[ScanLocation] = []
        self.vanished = 0

    def listed(
        self, list_call: Callable[[str], Iterable[dict[str, Any]]], parent_arn: str
    ) -> Iterator[dict[str, Any]]:
        """The items of a list call under a parent; none when the parent was deleted since it was listed."""
        try:
            items = list(list_call(parent_arn))
        except ClientError as error:
            self._vanished(error)
            items = []
        yield from items

    def jobs(
        self,
        paths: JobPaths,
        list_call: Callable[[str], Iterable[dict[str, Any]]],
        parent_arn: str,
        describe: Callable[[str], dict[str, Any]],
    ) -> None:
        """List a parent's jobs of one kind and add the locations of each job's description."""
        for summary in self.listed(list_call, parent_arn):
            try:
                job = describe(summary[paths.arn_member])
            except ClientError as error:
                self._vanished(error)
                continue
            self.found.extend(job_locations(paths, job))

    def _vanished(self, error: ClientError) -> None:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise error
        self.vanished += 1


def job_locations(paths: JobPaths, job: dict[str, Any]) -> list[ScanLocation]:
    """
    The locations one job's description names, with the reasons known from the job alone.

    An import source is ``import_source``; a job that has not ended is ``job_in_progress``; batch
    segment input is ``no_user_ids``; a path that is not ``s3://`` is ``not_s3``.

    :param paths: how the kind of job names its paths.
    :param job: its description (Describe*'s object).
    """
    status = job.get("status")
    reason = None if status in ENDED_STATUSES[paths.kind] else "job_in_progress"
    if paths.kind == "dataset_import_job":
        reason = "import_source"
    found = []
    for members, format, suffix in paths.paths:
        data: Any = job
        for member in members:
            data = data.get(member) or {}
        uri = data.get("path") or data.get("dataLocation")
        if not uri:
            continue
        source = Source(paths.kind, job[paths.arn_member], status, data.get("kmsKeyArn"))
        own_reason = first_reason(reason, "no_user_ids") if format == BATCH_SEGMENT_INPUT else reason
        found.append(s3_location(uri, format, source, key_suffix=suffix, reason=own_reason))
    return found
