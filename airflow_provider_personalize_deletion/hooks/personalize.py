"""Hook for the Amazon Personalize data deletion API."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from botocore import xform_name
from botocore.exceptions import ClientError

from airflow_provider_personalize_deletion.exceptions import (
    DataDeletionJobFailedError,
    DataDeletionJobTimeoutError,
    PersonalizeValidationError,
)

if TYPE_CHECKING:
    from botocore.config import Config
    from mypy_boto3_personalize.client import PersonalizeClient

    from airflow_provider_personalize_deletion.hooks.activity import Activity, ActivityPlan, Request

#: Refusals of CreateDataDeletionJob that mean "not now": the job can be created once the dataset
#: group is free again. botocore retries LimitExceededException as throttling; for this call the
#: hook stops it, so that the caller's slot wait (minutes to hours) takes over at once.
BUSY_ERROR_CODES: dict[str, str] = {
    "LimitExceededException": "5 PENDING data deletion jobs, the service's limit",
    "ResourceInUseException": "a resource it depends on is in use",
}

#: A data deletion job goes PENDING > IN_PROGRESS > COMPLETED | FAILED.
INTERMEDIATE_STATES: tuple[str, ...] = ("PENDING", "IN_PROGRESS")
FAILURE_STATES: tuple[str, ...] = ("FAILED",)
SUCCESS_STATES: tuple[str, ...] = ("COMPLETED",)

#: ListDataDeletionJobs returns at most this many jobs a page (the service model's maximum).
LIST_PAGE_SIZE = 100
#: The asynchronous activity listing makes at most this many calls at a time.
ASYNC_CONCURRENT_CALLS = 4
#: A summary of activity names at most this many ARNs (logs and error messages stay bounded).
SUMMARY_MAX_ARNS = 10


class PersonalizeHook(AwsBaseHook):
    """
    Interact with Amazon Personalize data deletion jobs.

    A thin wrapper around :external+boto3:py:class:`boto3.client("personalize") <Personalize.Client>`
    that validates each request against the service model before sending it, follows
    ``nextToken`` where botocore has no paginator, and serves this package's own waiter definitions
    (botocore has none for Personalize).

    Retries are botocore's, as the connection's ``config_kwargs`` or the task's ``botocore_config``
    set them (the hook changes no retry setting), with one exception: a CreateDataDeletionJob
    refused with one of :data:`BUSY_ERROR_CODES` is never retried by botocore, it is handed to the
    caller at once (the operator waits for a slot for as long as the dataset group needs).

    Additional arguments (such as ``aws_conn_id``) are passed down to
    :class:`~airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "personalize"
        super().__init__(*args, **kwargs)

    @property
    def client(self) -> PersonalizeClient:
        """The boto3 Personalize client, typed."""
        return self.conn  # type: ignore[return-value]

    @property
    def waiter_path(self) -> os.PathLike[str] | None:
        """This package's waiter definitions; the Amazon provider only looks in its own folder."""
        return Path(__file__).parents[1] / "waiters" / "personalize.json"

    def get_client_type(
        self, region_name: str | None = None, config: Config | None = None, deferrable: bool = False
    ) -> Any:
        """The boto3 client of :class:`AwsBaseHook`; a synchronous one never retries a busy create."""
        client: Any = super().get_client_type(region_name=region_name, config=config, deferrable=deferrable)
        if not deferrable:
            service = client.meta.service_model.service_id.hyphenize()
            # botocore asks the most specific handler first; a non-None answer decides.
            client.meta.events.register_first(
                f"needs-retry.{service}.CreateDataDeletionJob",
                _never_retry_busy_refusal,
                unique_id="personalize-create-busy-no-retry",
            )
        return client

    def create_data_deletion_job(
        self,
        job_name: str,
        dataset_group_arn: str,
        data_location: str,
        role_arn: str,
        tags: Mapping[str, str] | list[dict[str, str]] | None = None,
    ) -> str:
        """
        Create a data deletion job; the request is validated locally first.

        :param job_name: the job's name, unique in the account and region.
        :param dataset_group_arn: the dataset group to delete the users from.
        :param data_location: ``s3://`` URI of the USER_ID CSV file, or of a folder ending in ``/``.
        :param role_arn: IAM role that Personalize assumes to read ``data_location``.
        :param tags: tags for the job: a mapping of key to value, or boto3's list of
            ``{"tagKey": ..., "tagValue": ...}``.
        :return: the job's ARN.
        :raises PersonalizeValidationError: a parameter breaks a rule, before any call.
        :raises botocore.exceptions.ClientError: the service refused; a refusal of
            :data:`BUSY_ERROR_CODES` comes after one call, without botocore's retries.
        """
        request = build_create_request(job_name, dataset_group_arn, data_location, role_arn, tags)
        return self.client.create_data_deletion_job(**request)["dataDeletionJobArn"]

    def describe_data_deletion_job(self, data_deletion_job_arn: str) -> dict[str, Any]:
        """
        Describe one data deletion job.

        :param data_deletion_job_arn: the job's ARN.
        :return: the ``dataDeletionJob`` object of the response.
        """
        # Imported on first use, as the other validations here: not on the DAG-parse path.
        from airflow_provider_personalize_deletion.utils.service_model import validate_request

        request = {"dataDeletionJobArn": data_deletion_job_arn}
        validate_request("DescribeDataDeletionJob", request)
        return dict(self.client.describe_data_deletion_job(**request)["dataDeletionJob"])

    def describe_finished_data_deletion_job(self, data_deletion_job_arn: str) -> dict[str, Any]:
        """
        Describe a job that should have ended, and raise unless it COMPLETED.

        :param data_deletion_job_arn: the job's ARN.
        :return: the ``dataDeletionJob`` object of a COMPLETED job.
        :raises DataDeletionJobFailedError: the job FAILED (with the service's reason).
        :raises DataDeletionJobTimeoutError: the job is still running.
        """
        job = self.describe_data_deletion_job(data_deletion_job_arn)
        if not check_job_outcome(job):
            raise DataDeletionJobTimeoutError(data_deletion_job_arn, job["status"])
        return job

    def list_data_deletion_jobs(self, dataset_group_arn: str | None = None) -> Iterator[dict[str, Any]]:
        """
        Yield data deletion job summaries, newest first, following ``nextToken`` to the end.

        :param dataset_group_arn: only the jobs of this dataset group; all of the account's if None.
        """
        request: dict[str, Any] = {"maxResults": LIST_PAGE_SIZE}
        if dataset_group_arn is not None:
            request["datasetGroupArn"] = dataset_group_arn
        from airflow_provider_personalize_deletion.utils.service_model import validate_request

        validate_request("ListDataDeletionJobs", request)
        while True:
            response = self.client.list_data_deletion_jobs(**request)
            yield from map(dict, response.get("dataDeletionJobs", []))
            if not response.get("nextToken"):
                return
            request["nextToken"] = response["nextToken"]

    def find_data_deletion_job(self, dataset_group_arn: str, job_name: str) -> dict[str, Any] | None:
        """
        Return the summary of the dataset group's job with this name, or None.

        :param dataset_group_arn: the dataset group whose jobs are searched.
        :param job_name: the exact job name.
        """
        return next(
            (job for job in self.list_data_deletion_jobs(dataset_group_arn) if job["jobName"] == job_name),
            None,
        )

    def list_dataset_group_activity(self, dataset_group_arn: str) -> list[Activity]:
        """
        List what uses a dataset group's data, oldest first: see :func:`.activity.activity_plan`.

        Import jobs of every dataset; solutions with automatic training (DescribeSolution of each
        solution that is ACTIVE or being created); every solution version; the batch inference and
        batch segment jobs of ACTIVE versions (per version up to
        :data:`.activity.BATCH_JOBS_PER_VERSION_UP_TO` of them, else account-wide and filtered);
        recommenders. Every list call goes through botocore's paginator, 100 items a page.

        Calls: ``1 + D + 1 + S' + S + B + 1`` plus one per extra page of 100, with D datasets, S
        solutions, S' of them ACTIVE or being created, and B = 2 x the ACTIVE versions when they are at
        most 5, else 2 x ceil(the account's batch jobs of each kind / 100).

        :param dataset_group_arn: the dataset group's ARN.
        :return: the activity, oldest first; individual imports (PutEvents, PutUsers, PutItems) leave
            nothing the API lists.
        :raises PersonalizeValidationError: the ARN breaks the service model's rules, before any call.
        """
        plan = _start_plan(dataset_group_arn)
        try:
            requests = next(plan)
            while True:
                requests = plan.send([self._fetch(request) for request in requests])
        except StopIteration as done:
            return done.value

    async def async_list_dataset_group_activity(self, client: Any, dataset_group_arn: str) -> list[Activity]:
        """
        List what uses a dataset group's data with an aiobotocore client (e.g. in a trigger).

        The same calls as :meth:`list_dataset_group_activity` (the same plan and paginators), the calls
        of one level made concurrently, at most :data:`ASYNC_CONCURRENT_CALLS` at a time.

        :param client: an aiobotocore Personalize client (``await hook.get_async_conn()``, entered).
        :param dataset_group_arn: the dataset group's ARN.
        :return: the activity, oldest first.
        :raises PersonalizeValidationError: the ARN breaks the service model's rules, before any call.
        """
        plan = _start_plan(dataset_group_arn)
        slots = asyncio.Semaphore(ASYNC_CONCURRENT_CALLS)

        async def fetch(request: Request) -> list[dict[str, Any]]:
            async with slots:
                return await _async_fetch(client, request)

        try:
            requests = next(plan)
            while True:
                requests = plan.send(list(await asyncio.gather(*map(fetch, requests))))
        except StopIteration as done:
            return done.value

    def list_dataset_groups_by(
        self, selector: Literal["all"] | Mapping[str, str], field: str = "selector"
    ) -> list[str]:
        """
        Return the ARNs of the ACTIVE dataset groups a selector names, sorted.

        Calls: ceil(groups / 100) ListDatasetGroups, and for a tag filter one ListTagsForResource per
        ACTIVE group.

        :param selector: ``"all"`` for every ACTIVE dataset group of the account and region, or a mapping
            of tag key to value for the groups whose tags hold every one of them.
        :param field: the name to report in a validation error (e.g. the DAG parameter's).
        :raises PersonalizeValidationError: naming ``field`` and the rule, before any call.
        """
        wanted = _tag_selector(selector, field)
        pages = self.client.get_paginator("list_dataset_groups").paginate(
            PaginationConfig={"PageSize": LIST_PAGE_SIZE}
        )
        active = [group["datasetGroupArn"] for page in pages for group in page["datasetGroups"]
                  if group.get("status") == "ACTIVE"]  # fmt: skip
        if wanted is None:
            return sorted(active)
        return sorted(arn for arn in active if wanted.items() <= self._tags(arn).items())

    def overlapping_activity(self, job: Mapping[str, Any]) -> list[Activity]:
        """
        List what of a job's dataset group ran during the job's life, and warn when anything did.

        The job's life is ``[creationDateTime, lastUpdatedDateTime]`` (for an ended job, its creation to
        its end); see :func:`.activity.overlapping` for what counts. Amazon Personalize cannot guarantee
        that the users a job deleted are gone from a model trained, or from data imported, meanwhile: it
        recommends another data deletion job. Calls: those of :meth:`list_dataset_group_activity`.

        :param job: a ``dataDeletionJob`` description (DescribeDataDeletionJob), ended.
        :return: the overlapping activity, oldest first (solutions with automatic training never count
            by themselves: the solution versions they train do).
        """
        from airflow_provider_personalize_deletion.hooks.activity import overlapping  # see _start_plan

        found = overlapping(
            self.list_dataset_group_activity(job["datasetGroupArn"]),
            job["creationDateTime"],
            job["lastUpdatedDateTime"],
        )
        if found:
            self.log.warning(
                "Data deletion job %s overlapped %s; the deleted users may remain in what they produced: "
                "run another data deletion job once the dataset group is quiet",
                job["dataDeletionJobArn"],
                summarize_activity(found),
            )
        return found

    def _tags(self, resource_arn: str) -> dict[str, str]:
        tags = self.client.list_tags_for_resource(resourceArn=resource_arn)["tags"]
        return {tag["tagKey"]: tag["tagValue"] for tag in tags}

    def _fetch(self, request: Request) -> list[dict[str, Any]]:
        """Make one call of the activity plan and return its items."""
        method, params = _call_args(request)
        try:
            if not request.call.paginated:
                return [getattr(self.client, method)(**params)[request.call.result_key]]
            pages = self.client.get_paginator(method).paginate(**params)  # type: ignore[call-overload]
            return [item for page in pages for item in page.get(request.call.result_key, [])]
        except ClientError as error:
            return _vanished(request, error)

    def check_dataset_group_exists(self, dataset_group_arn: str) -> None:
        """
        Refuse a dataset group the service does not know, naming the parameter.

        :param dataset_group_arn: the dataset group's ARN.
        :raises PersonalizeValidationError: the dataset group does not exist.
        """
        try:
            self.client.describe_dataset_group(datasetGroupArn=dataset_group_arn)
        except self.client.exceptions.ResourceNotFoundException:
            raise PersonalizeValidationError(
                "datasetGroupArn", "must name an existing dataset group in this account and region"
            ) from None

    # Dataset export jobs and datasets (issue 19: proof by dataset export). Kept together here.

    def create_dataset_export_job(
        self,
        job_name: str,
        dataset_arn: str,
        role_arn: str,
        s3_path: str,
        ingestion_mode: str = "ALL",
        kms_key_arn: str | None = None,
        tags: Mapping[str, str] | list[dict[str, str]] | None = None,
    ) -> str:
        """
        Create a dataset export job; the request is validated locally first.

        :param job_name: the job's name, unique in the account and region.
        :param dataset_arn: the dataset to export (Interactions, Items or Users).
        :param role_arn: IAM role that Personalize assumes to write ``s3_path``.
        :param s3_path: ``s3://`` folder the CSV files go to.
        :param ingestion_mode: ``BULK``, ``PUT`` or ``ALL``. (default: ``ALL``; the service's is PUT)
        :param kms_key_arn: KMS key the files are encrypted with, if any.
        :param tags: tags for the job, as for :meth:`create_data_deletion_job`.
        :return: the job's ARN.
        :raises PersonalizeValidationError: a parameter breaks a rule, before any call.
        """
        request = build_export_request(
            job_name, dataset_arn, role_arn, s3_path, ingestion_mode, kms_key_arn, tags
        )
        return self.client.create_dataset_export_job(**request)["datasetExportJobArn"]

    def describe_dataset_export_job(self, dataset_export_job_arn: str) -> dict[str, Any]:
        """
        Describe one dataset export job.

        :param dataset_export_job_arn: the job's ARN.
        :return: the ``datasetExportJob`` object of the response.
        """
        return self._describe("DescribeDatasetExportJob", "datasetExportJob", dataset_export_job_arn)

    def list_dataset_export_jobs(self, dataset_arn: str) -> list[dict[str, Any]]:
        """
        Return a dataset's export job summaries (botocore's paginator, 100 a page).

        :param dataset_arn: the dataset whose export jobs are listed.
        """
        return list(self._paginate("ListDatasetExportJobs", "datasetExportJobs", datasetArn=dataset_arn))

    def list_datasets(self, dataset_group_arn: str) -> list[dict[str, Any]]:
        """
        Return a dataset group's dataset summaries (botocore's paginator, 100 a page).

        :param dataset_group_arn: the dataset group.
        :return: summaries with ``datasetArn``, ``datasetType``, ``status`` and more.
        """
        return list(self._paginate("ListDatasets", "datasets", datasetGroupArn=dataset_group_arn))

    # Solutions, their versions and batch jobs (issue 20: where batch jobs read and write users).

    def list_solutions(self, dataset_group_arn: str) -> list[dict[str, Any]]:
        """
        Return a dataset group's solution summaries (botocore's paginator, 100 a page).

        :param dataset_group_arn: the dataset group.
        """
        return list(self._paginate("ListSolutions", "solutions", datasetGroupArn=dataset_group_arn))

    def list_solution_versions(self, solution_arn: str) -> list[dict[str, Any]]:
        """
        Return a solution's version summaries (botocore's paginator, 100 a page).

        :param solution_arn: the solution.
        """
        return list(self._paginate("ListSolutionVersions", "solutionVersions", solutionArn=solution_arn))

    def list_batch_inference_jobs(self, solution_version_arn: str) -> list[dict[str, Any]]:
        """
        Return the batch inference job summaries of a solution version (botocore's paginator, 100 a page).

        A summary carries no S3 path: :meth:`describe_batch_inference_job` does.

        :param solution_version_arn: the solution version.
        """
        return list(
            self._paginate(
                "ListBatchInferenceJobs", "batchInferenceJobs", solutionVersionArn=solution_version_arn
            )
        )

    def list_batch_segment_jobs(self, solution_version_arn: str) -> list[dict[str, Any]]:
        """
        Return the batch segment job summaries of a solution version (botocore's paginator, 100 a page).

        :param solution_version_arn: the solution version.
        """
        return list(
            self._paginate(
                "ListBatchSegmentJobs", "batchSegmentJobs", solutionVersionArn=solution_version_arn
            )
        )

    def describe_batch_inference_job(self, batch_inference_job_arn: str) -> dict[str, Any]:
        """
        Describe one batch inference job: ``jobInput.s3DataSource`` and ``jobOutput.s3DataDestination``.

        :param batch_inference_job_arn: the job's ARN.
        :return: the ``batchInferenceJob`` object of the response.
        """
        return self._describe("DescribeBatchInferenceJob", "batchInferenceJob", batch_inference_job_arn)

    def describe_batch_segment_job(self, batch_segment_job_arn: str) -> dict[str, Any]:
        """
        Describe one batch segment job: ``jobInput.s3DataSource`` and ``jobOutput.s3DataDestination``.

        :param batch_segment_job_arn: the job's ARN.
        :return: the ``batchSegmentJob`` object of the response.
        """
        return self._describe("DescribeBatchSegmentJob", "batchSegmentJob", batch_segment_job_arn)

    def _paginate(self, operation: str, result_key: str, **params: str) -> Iterator[dict[str, Any]]:
        """
        Yield the items of a list call, page after page (botocore's paginator, 100 a page).

        :param operation: the API name, e.g. ``ListSolutions``.
        :param result_key: the response member holding the items.
        :param params: the parent's ARN, as the request member naming it; checked against the service
            model before any call.
        :raises PersonalizeValidationError: a parameter breaks the service model's rules.
        """
        from airflow_provider_personalize_deletion.utils.service_model import validate_member

        for member, value in params.items():
            validate_member(operation, member, value, field=member)
        pages = self.client.get_paginator(xform_name(operation)).paginate(  # type: ignore[call-overload]
            **params, PaginationConfig={"PageSize": LIST_PAGE_SIZE}
        )
        for page in pages:
            yield from map(dict, page.get(result_key, []))

    def _describe(self, operation: str, member: str, arn: str) -> dict[str, Any]:
        """
        Make one Describe call, validated first, and return the described object.

        :param operation: the API name, e.g. ``DescribeBatchSegmentJob``.
        :param member: the response member holding the object; the ARN's request member is ``<member>Arn``.
        :param arn: the resource's ARN.
        """
        from airflow_provider_personalize_deletion.utils.service_model import validate_request

        request = {f"{member}Arn": arn}
        validate_request(operation, request)
        return dict(getattr(self.client, xform_name(operation))(**request)[member])

    # Dataset import jobs and what an import waits for (issue 19, the import guard).

    def create_dataset_import_job(
        self,
        job_name: str,
        dataset_arn: str,
        data_location: str,
        role_arn: str,
        import_mode: str = "FULL",
        tags: Mapping[str, str] | list[dict[str, str]] | None = None,
    ) -> str:
        """
        Create a dataset import job; the request is validated locally first.

        :param job_name: the job's name, unique in the account and region.
        :param dataset_arn: the dataset to import into.
        :param data_location: ``s3://`` URI of the CSV file, or of a folder ending in ``/``.
        :param role_arn: IAM role that Personalize assumes to read ``data_location``.
        :param import_mode: ``FULL`` (replaces the dataset's bulk records) or ``INCREMENTAL`` (adds).
        :param tags: tags for the job, as for :meth:`create_data_deletion_job`.
        :return: the job's ARN.
        :raises PersonalizeValidationError: a parameter breaks a rule, before any call.
        """
        request = build_import_request(job_name, dataset_arn, data_location, role_arn, import_mode, tags)
        return self.client.create_dataset_import_job(**request)["datasetImportJobArn"]

    def describe_dataset_import_job(self, dataset_import_job_arn: str) -> dict[str, Any]:
        """
        Describe one dataset import job.

        :param dataset_import_job_arn: the job's ARN.
        :return: the ``datasetImportJob`` object of the response.
        """
        return self._describe("DescribeDatasetImportJob", "datasetImportJob", dataset_import_job_arn)

    def list_dataset_import_jobs(self, dataset_arn: str) -> Iterator[dict[str, Any]]:
        """
        Yield the import job summaries of one dataset (botocore's paginator, pages of 100).

        :param dataset_arn: the dataset.
        """
        return self._paginate("ListDatasetImportJobs", "datasetImportJobs", datasetArn=dataset_arn)

    def dataset_group_of(self, dataset_arn: str) -> str:
        """
        The ARN of the dataset group a dataset belongs to (DescribeDataset).

        :param dataset_arn: the dataset.
        :raises PersonalizeValidationError: the dataset does not exist.
        """
        try:
            return str(self.client.describe_dataset(datasetArn=dataset_arn)["dataset"]["datasetGroupArn"])
        except self.client.exceptions.ResourceNotFoundException:
            raise PersonalizeValidationError(
                "datasetArn", "must name an existing dataset in this account and region"
            ) from None

    def running_data_deletion_jobs(self, dataset_group_arn: str) -> list[Activity]:
        """
        The dataset group's data deletion jobs that are PENDING or IN_PROGRESS, oldest first.

        :param dataset_group_arn: the dataset group.
        """
        return _running_deletion_jobs(self.list_data_deletion_jobs(dataset_group_arn))

    async def async_running_data_deletion_jobs(self, client: Any, dataset_group_arn: str) -> list[Activity]:
        """
        :meth:`running_data_deletion_jobs` with an aiobotocore client (e.g. in a trigger).

        :param client: an aiobotocore Personalize client, entered.
        :param dataset_group_arn: the dataset group.
        """
        request: dict[str, Any] = {"datasetGroupArn": dataset_group_arn, "maxResults": LIST_PAGE_SIZE}
        jobs: list[dict[str, Any]] = []
        while True:
            response = await client.list_data_deletion_jobs(**request)
            jobs.extend(response.get("dataDeletionJobs", []))
            if not response.get("nextToken"):
                return _running_deletion_jobs(jobs)
            request["nextToken"] = response["nextToken"]


def build_create_request(
    job_name: str,
    dataset_group_arn: str,
    data_location: str,
    role_arn: str,
    tags: Mapping[str, str] | list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """
    Build and validate a CreateDataDeletionJob request.

    Besides the service model's rules, the data location must be an ``s3://`` URI: the model also
    admits ``http(s)://``, but a data deletion job only reads from S3.

    :param job_name: the job's name.
    :param dataset_group_arn: the dataset group to delete the users from.
    :param data_location: ``s3://`` URI of the file or folder of USER_ID CSV files.
    :param role_arn: IAM role Personalize assumes to read the data.
    :param tags: tags for the job: a mapping of key to value, or boto3's list of
        ``{"tagKey": ..., "tagValue": ...}``.
    :raises PersonalizeValidationError: naming the first parameter that breaks a rule.
    """
    return _job_request(
        "CreateDataDeletionJob",
        job_name,
        {
            "datasetGroupArn": dataset_group_arn,
            "dataSource": {"dataLocation": data_location},
            "roleArn": role_arn,
        },
        tags,
        _S3_SOURCE,
        data_location,
    )


def summarize_activity(activities: Sequence[Activity]) -> str:
    """
    Describe activity for a log line or an error message: counts by kind, then the ARNs (bounded).

    ``2 activities (1 dataset_import_job, 1 solution_version): arn:...import-job/a, arn:...``; no data,
    only kinds, counts and ARNs.

    :param activities: the activity to describe.
    """
    counts: dict[str, int] = {}
    for activity in activities:
        counts[activity.kind] = counts.get(activity.kind, 0) + 1
    by_kind = ", ".join(f"{count} {kind}" for kind, count in counts.items())
    arns = ", ".join(activity.arn for activity in activities[:SUMMARY_MAX_ARNS])
    more = len(activities) - SUMMARY_MAX_ARNS
    noun = "activity" if len(activities) == 1 else "activities"
    return f"{len(activities)} {noun} ({by_kind}): {arns}" + (f" and {more} more" if more > 0 else "")


def _tag_list(tags: object) -> list[Any]:
    """The service's list of tags, from a mapping or from a list already in that shape."""
    if isinstance(tags, Mapping):
        return [{"tagKey": key, "tagValue": value} for key, value in tags.items()]
    if isinstance(tags, (list, tuple)):
        return list(tags)  # each item is checked against the service model with the request
    raise PersonalizeValidationError(
        "tags", 'must be a mapping of key to value, or a list of {"tagKey": ..., "tagValue": ...}'
    )


@dataclass(frozen=True)
class _S3Location:
    """
    Where a create request names its S3 location, and the rule the service model does not check.

    :param member: the dotted path of the location in the request (the field an error names).
    :param rule: what the error says the location must be.
    :param folder: whether it must be a folder (end with ``/``).
    """

    member: str
    rule: str
    folder: bool = False

    def check(self, uri: str) -> None:
        """:raises PersonalizeValidationError: ``uri`` is not an ``s3://`` URI (a folder, if it must be)."""
        if not uri.startswith("s3://") or (self.folder and not uri.endswith("/")):
            raise PersonalizeValidationError(self.member, self.rule)


#: A file or folder a job reads (the model also admits ``http(s)://``, but the jobs read only from S3).
_S3_SOURCE = _S3Location("dataSource.dataLocation", "must be an s3:// URI")
#: The folder an export job writes to.
_S3_OUTPUT = _S3Location(
    "jobOutput.s3DataDestination.path", "must be an s3:// folder ending in /", folder=True
)


def _job_request(
    operation: str,
    job_name: str,
    members: dict[str, Any],
    tags: Mapping[str, str] | list[dict[str, str]] | None,
    location: _S3Location,
    uri: str,
) -> dict[str, Any]:
    """
    Build and validate the request of a Create*Job call: its name, members and tags (left out when empty),
    checked against the service model, then its S3 location against ``location``'s rule.

    :param operation: the API name (``CreateDatasetImportJob``).
    :param job_name: the job's name.
    :param members: the request's other members, in the order they are sent.
    :param tags: a mapping of key to value, or boto3's list of ``{"tagKey": ..., "tagValue": ...}``.
    :param location: where the request names its S3 location, and its rule.
    :param uri: that location.
    :raises PersonalizeValidationError: naming the first parameter that breaks a rule.
    """
    from airflow_provider_personalize_deletion.utils.service_model import validate_request

    request: dict[str, Any] = {"jobName": job_name, **members}
    if tags:
        request["tags"] = _tag_list(tags)
    validate_request(operation, request)
    location.check(uri)
    return request


def _start_plan(dataset_group_arn: str) -> ActivityPlan:
    # Imported on first use: DAG files import this module (through the operators) at every parse.
    from airflow_provider_personalize_deletion.hooks.activity import activity_plan
    from airflow_provider_personalize_deletion.utils.service_model import validate_member

    validate_member("ListSolutions", "datasetGroupArn", dataset_group_arn, field="datasetGroupArn")
    return activity_plan(dataset_group_arn)


def _call_args(request: Request) -> tuple[str, dict[str, Any]]:
    """The client method of a plan's request, and its parameters (with the page size of a list call)."""
    params = dict(request.params)
    if request.call.paginated:
        params["PaginationConfig"] = {"PageSize": LIST_PAGE_SIZE}
    return xform_name(request.call.operation), params


async def _async_fetch(client: Any, request: Request) -> list[dict[str, Any]]:
    """Make one call of the activity plan with an aiobotocore client and return its items."""
    method, params = _call_args(request)
    try:
        if not request.call.paginated:
            return [(await getattr(client, method)(**params))[request.call.result_key]]
        pages = client.get_paginator(method).paginate(**params)
        return [item async for page in pages for item in page.get(request.call.result_key, [])]
    except ClientError as error:
        return _vanished(request, error)


def _vanished(request: Request, error: ClientError) -> list[dict[str, Any]]:
    """A parent deleted since it was listed has nothing; any other error is raised."""
    if request.top_level or error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
        raise error
    return []


def _tag_selector(selector: object, field: str) -> dict[str, str] | None:
    """The tags a selector requires, None for ``"all"``; checked against TagResource's model."""
    if selector == "all":
        return None
    if not isinstance(selector, Mapping) or not selector:
        raise PersonalizeValidationError(field, 'must be "all" or a non-empty mapping of tag key to value')
    from airflow_provider_personalize_deletion.utils.service_model import validate_member

    validate_member("TagResource", "tags", _tag_list(selector), field=field)
    return dict(selector)


def _never_retry_busy_refusal(response: Any = None, **kwargs: Any) -> bool | None:
    """``needs-retry`` handler: False (do not retry) for a busy refusal, None (no opinion) otherwise."""
    if response is None:
        return None
    code = response[1].get("Error", {}).get("Code")
    return False if code in BUSY_ERROR_CODES else None


def check_job_outcome(job: dict[str, Any]) -> bool:
    """
    Check a job's status: True when COMPLETED, False while it runs; a FAILED or unknown status raises.

    :param job: a ``dataDeletionJob`` description or summary.
    :raises DataDeletionJobFailedError: the job FAILED (with the service's reason).
    :raises ValueError: the status is none the service documents.
    """
    status = job["status"]
    if status in SUCCESS_STATES:
        return True
    if status in INTERMEDIATE_STATES:
        return False
    if status in FAILURE_STATES:
        raise DataDeletionJobFailedError(job["dataDeletionJobArn"], job.get("failureReason"))
    raise ValueError(f"Data deletion job {job['dataDeletionJobArn']} has an unknown status {status!r}")


#: A dataset export job goes CREATE PENDING > CREATE IN_PROGRESS > ACTIVE | CREATE FAILED.
EXPORT_INTERMEDIATE_STATES: tuple[str, ...] = ("CREATE PENDING", "CREATE IN_PROGRESS")
EXPORT_FAILURE_STATES: tuple[str, ...] = ("CREATE FAILED",)
EXPORT_SUCCESS_STATES: tuple[str, ...] = ("ACTIVE",)
#: The ingestion modes of CreateDatasetExportJob: bulk imports, individual puts, or both.
INGESTION_MODES: tuple[str, ...] = ("BULK", "PUT", "ALL")


def build_export_request(
    job_name: str,
    dataset_arn: str,
    role_arn: str,
    s3_path: str,
    ingestion_mode: str = "ALL",
    kms_key_arn: str | None = None,
    tags: Mapping[str, str] | list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """
    Build and validate a CreateDatasetExportJob request.

    Besides the service model's rules, the path must be an ``s3://`` folder (ending with ``/``).

    :param job_name: the job's name.
    :param dataset_arn: the dataset to export.
    :param role_arn: IAM role Personalize assumes to write the files.
    :param s3_path: ``s3://`` folder of the output.
    :param ingestion_mode: ``BULK``, ``PUT`` or ``ALL``.
    :param kms_key_arn: KMS key of the output, if any.
    :param tags: tags for the job.
    :raises PersonalizeValidationError: naming the first parameter that breaks a rule.
    """
    if ingestion_mode not in INGESTION_MODES:
        raise PersonalizeValidationError("ingestionMode", f"must be one of {', '.join(INGESTION_MODES)}")
    destination: dict[str, Any] = {"path": s3_path}
    if kms_key_arn:
        destination["kmsKeyArn"] = kms_key_arn
    members = {
        "datasetArn": dataset_arn,
        "ingestionMode": ingestion_mode,
        "roleArn": role_arn,
        "jobOutput": {"s3DataDestination": destination},
    }
    return _job_request("CreateDatasetExportJob", job_name, members, tags, _S3_OUTPUT, s3_path)


def check_export_outcome(job: dict[str, Any]) -> bool:
    """
    Check an export job's status: True when ACTIVE, False while it runs; a failed or unknown one raises.

    :param job: a ``datasetExportJob`` description or summary.
    :raises DatasetExportJobFailedError: the job ended CREATE FAILED (with the service's reason, redacted).
    :raises ValueError: the status is none the service documents.
    """
    from airflow_provider_personalize_deletion.exceptions import DatasetExportJobFailedError

    status = job["status"]
    if status in EXPORT_SUCCESS_STATES:
        return True
    if status in EXPORT_INTERMEDIATE_STATES:
        return False
    if status in EXPORT_FAILURE_STATES:
        raise DatasetExportJobFailedError(job["datasetExportJobArn"], job.get("failureReason"))
    raise ValueError(f"Dataset export job {job['datasetExportJobArn']} has an unknown status {status!r}")


# Dataset import jobs (issue 19, the import guard).

#: An import job goes CREATE PENDING > CREATE IN_PROGRESS > ACTIVE | CREATE FAILED.
IMPORT_FAILURE_STATES: tuple[str, ...] = ("CREATE FAILED",)
IMPORT_SUCCESS_STATES: tuple[str, ...] = ("ACTIVE",)
IMPORT_INTERMEDIATE_STATES: tuple[str, ...] = ("CREATE PENDING", "CREATE IN_PROGRESS")


def build_import_request(
    job_name: str,
    dataset_arn: str,
    data_location: str,
    role_arn: str,
    import_mode: str = "FULL",
    tags: Mapping[str, str] | list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """
    Build and validate a CreateDatasetImportJob request; the location must be an ``s3://`` URI.

    :param job_name: the job's name.
    :param dataset_arn: the dataset to import into.
    :param data_location: ``s3://`` URI of the file or folder.
    :param role_arn: IAM role Personalize assumes to read the data.
    :param import_mode: ``FULL`` or ``INCREMENTAL``.
    :param tags: a mapping of key to value, or boto3's list of ``{"tagKey": ..., "tagValue": ...}``.
    :raises PersonalizeValidationError: naming the first parameter that breaks a rule.
    """
    members = {
        "datasetArn": dataset_arn,
        "dataSource": {"dataLocation": data_location},
        "roleArn": role_arn,
        "importMode": import_mode,
    }
    return _job_request("CreateDatasetImportJob", job_name, members, tags, _S3_SOURCE, data_location)


def check_import_outcome(job: dict[str, Any]) -> bool:
    """
    Check an import job's status: True when ACTIVE, False while it runs; CREATE FAILED or unknown raises.

    :param job: a ``datasetImportJob`` description.
    :raises DatasetImportJobFailedError: the job ended CREATE FAILED (with the service's reason, redacted).
    :raises ValueError: the status is none the service documents.
    """
    from airflow_provider_personalize_deletion.exceptions import DatasetImportJobFailedError

    status = job["status"]
    if status in IMPORT_SUCCESS_STATES:
        return True
    if status in IMPORT_INTERMEDIATE_STATES:
        return False
    if status in IMPORT_FAILURE_STATES:
        raise DatasetImportJobFailedError(job["datasetImportJobArn"], job.get("failureReason"))
    raise ValueError(f"Dataset import job {job['datasetImportJobArn']} has an unknown status {status!r}")


def _running_deletion_jobs(jobs: Iterable[Mapping[str, Any]]) -> list[Activity]:
    from airflow_provider_personalize_deletion.hooks.activity import Activity  # see _start_plan

    running = [
        Activity(
            kind="data_deletion_job",
            arn=job["dataDeletionJobArn"],
            status=job["status"],
            created=job["creationDateTime"],
            last_updated=job.get("lastUpdatedDateTime") or job["creationDateTime"],
        )
        for job in jobs
        if job["status"] in INTERMEDIATE_STATES
    ]
    return sorted(running, key=lambda activity: activity.created)
