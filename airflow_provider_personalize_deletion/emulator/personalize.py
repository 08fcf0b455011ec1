"""
The emulated Personalize resources: dataset groups, data deletion jobs, the resources that use a group's
data (:mod:`.resources`), and their lifecycles.

States are data: :data:`LIFECYCLE` (and the tables of :mod:`.resources`) say, for each status a job
passes through, which status follows and which :class:`JobTimings` field says how long the job stays.
A status is never pushed by a timer; it is computed from timestamps whenever the state is read
(:meth:`PersonalizeState.advance`), transition after transition in the order of their times, so zero
timings make a job finish at the next read and no background thread is needed. When a data deletion
job reaches ``COMPLETED`` it reads its input from the emulator's S3 once: it either deletes the users or
turns ``FAILED`` with the reason.

Models play the service's documented risk. A model (a solution version, a recommender) is trained on
the users its dataset group holds when its training starts (``CREATE IN_PROGRESS``). When a data
deletion job completes, every model of the group whose training did not run at any moment of the job's
life (creation to completion) loses the listed users, as the service deletes them "from the models and
datasets"; a model whose training overlapped the job keeps them, until a later job on the same users
completes without overlapping it.

User ids are personal data: they are never logged, only counted.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID

from airflow_provider_personalize_deletion.emulator import batch_jobs, dataset_jobs
from airflow_provider_personalize_deletion.emulator.dataset_records import DatasetRecords
from airflow_provider_personalize_deletion.emulator.job_input import JobInputError, read_user_ids
from airflow_provider_personalize_deletion.emulator.resources import (
    CREATE_FAILED,
    KINDS,
    TRAINING_STATUS,
    Kind,
    Resource,
)

log = logging.getLogger(__name__)

PENDING, IN_PROGRESS, COMPLETED, FAILED = "PENDING", "IN_PROGRESS", "COMPLETED", "FAILED"
ACTIVE = "ACTIVE"

#: status -> (the status that follows, the JobTimings field holding how long the job stays).
LIFECYCLE: dict[str, tuple[str, str]] = {
    PENDING: (IN_PROGRESS, "pending_seconds"),
    IN_PROGRESS: (COMPLETED, "in_progress_seconds"),
}
#: Per kind name, what a job of that kind does when it reaches ACTIVE (imports, exports, batch jobs).
RUNNERS = {**dataset_jobs.RUNNERS, **batch_jobs.RUNNERS}
#: The statuses a job or resource can be held in (the ones it would otherwise leave on its own).
HOLDABLE_STATUSES = frozenset(LIFECYCLE).union(*(kind.lifecycle for kind in KINDS.values()))


@dataclass(frozen=True)
class JobTimings:
    """
    How long a data deletion job stays in each status before it moves on.

    :param pending_seconds: time in ``PENDING``; 0 moves on at the next read.
    :param in_progress_seconds: time in ``IN_PROGRESS``; 0 moves on at the next read.
    """

    pending_seconds: float = 3.0
    in_progress_seconds: float = 5.0


@dataclass
class DatasetGroup:
    """
    A dataset group (always ``ACTIVE``) and the user ids it holds beyond its datasets' records (the
    control API's ``seed-users``: users without a record to show).
    """

    name: str
    arn: str
    sequence: int
    created: float
    role_arn: str | None = None
    kms_key_arn: str | None = None
    domain: str | None = None
    user_ids: set[str] = field(default_factory=set)

    def summary(self) -> dict[str, Any]:
        """Return the ``DatasetGroupSummary`` of ``ListDatasetGroups``."""
        return _without_none(
            name=self.name,
            datasetGroupArn=self.arn,
            status=ACTIVE,
            creationDateTime=self.created,
            lastUpdatedDateTime=self.created,
            domain=self.domain,
        )

    def describe(self) -> dict[str, Any]:
        """Return the ``DatasetGroup`` of ``DescribeDatasetGroup``."""
        return {**self.summary(), **_without_none(roleArn=self.role_arn, kmsKeyArn=self.kms_key_arn)}


@dataclass
class DataDeletionJob:
    """A data deletion job; ``status`` is as of the last :meth:`PersonalizeState.advance`."""

    name: str
    arn: str
    sequence: int
    dataset_group_arn: str
    data_location: str
    role_arn: str
    timings: JobTimings
    created: float
    status: str = PENDING
    status_since: float = 0.0
    num_deleted: int | None = None
    failure_reason: str | None = None

    @property
    def lifecycle(self) -> dict[str, tuple[str, str]]:
        """The statuses this job leaves on its own."""
        return LIFECYCLE

    def summary(self) -> dict[str, Any]:
        """Return the ``DataDeletionJobSummary`` of ``ListDataDeletionJobs``."""
        return _without_none(
            dataDeletionJobArn=self.arn,
            datasetGroupArn=self.dataset_group_arn,
            jobName=self.name,
            status=self.status,
            creationDateTime=self.created,
            lastUpdatedDateTime=self.status_since,
            failureReason=self.failure_reason,
        )

    def describe(self) -> dict[str, Any]:
        """Return the ``DataDeletionJob`` of ``DescribeDataDeletionJob``."""
        return {
            **self.summary(),
            **_without_none(
                dataSource={"dataLocation": self.data_location},
                roleArn=self.role_arn,
                numDeleted=self.num_deleted,
            ),
        }


class PersonalizeState:
    """
    Every dataset group, data deletion job and other resource of the emulator, and the faults tests inject.

    Callers hold :attr:`lock` around every use (the server is threaded).

    :param region: the region in the ARNs, and whose S3 partition jobs read from.
    :param timings: how long new data deletion jobs stay in each status (until :meth:`reset` or a new
        value).
    :param max_input_bytes: the largest total size of one job's input files.
    :param activity_timings: how long new import jobs, solution versions, recommenders and batch jobs
        stay in each status; the same as ``timings`` when None.
    """

    def __init__(
        self,
        region: str,
        timings: JobTimings,
        max_input_bytes: int,
        activity_timings: JobTimings | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.region = region
        self.max_input_bytes = max_input_bytes
        self._initial_timings = timings
        self._initial_activity_timings = activity_timings or timings
        self.reset()

    def reset(self) -> None:
        """Forget every resource and fault, and restore the initial timings and page size."""
        self.timings = self._initial_timings
        self.activity_timings = self._initial_activity_timings
        #: The most items a list page holds, whatever ``maxResults`` asks (None: as asked).
        self.max_page_size: int | None = None
        self.dataset_groups: dict[str, DatasetGroup] = {}
        self.jobs: dict[str, DataDeletionJob] = {}
        self.resources: dict[str, Resource] = {}
        self.tags: dict[str, dict[str, str]] = {}
        #: Per dataset ARN, its records (created with the dataset's first record).
        self.records: dict[str, DatasetRecords] = {}
        #: ``s3://`` prefixes the service's role may not read or write (a fault tests inject).
        self.denied_prefixes: list[str] = []
        #: The most records one file of a dataset export holds.
        self.export_part_records = dataset_jobs.DEFAULT_EXPORT_PART_RECORDS
        #: The name of the users array in batch segment output (the guide and real outputs disagree).
        self.segment_users_member = batch_jobs.SEGMENT_USERS_MEMBERS[0]
        self._sequence = itertools.count()
        self._holds: dict[str, str] = {}
        self._failures: dict[str | None, str] = {}

    def arn(self, resource_type: str, name: str) -> str:
        """
        Return the ARN of a resource of this emulator.

        :param resource_type: ``dataset-group`` or ``data-deletion-job``.
        :param name: the resource's name.
        """
        return f"arn:aws:personalize:{self.region}:{DEFAULT_ACCOUNT_ID}:{resource_type}/{name}"

    def add_dataset_group(self, name: str, **attributes: Any) -> DatasetGroup:
        """
        Create a dataset group (the caller checked that the name is free).

        :param name: the group's name.
        :param attributes: optional :class:`DatasetGroup` fields (``role_arn``, ``kms_key_arn``, ``domain``).
        """
        arn = self.arn("dataset-group", name)
        group = DatasetGroup(
            name=name, arn=arn, sequence=next(self._sequence), created=time.time(), **attributes
        )
        self.dataset_groups[group.arn] = group
        return group

    def add_job(self, name: str, group: DatasetGroup, data_location: str, role_arn: str) -> DataDeletionJob:
        """
        Create a ``PENDING`` data deletion job (the caller checked the service's rules).

        :param name: the job's name.
        :param group: the dataset group it deletes from.
        :param data_location: the S3 location of its input.
        :param role_arn: the role the service would read the input with.
        """
        now = time.time()
        job = DataDeletionJob(
            name=name,
            arn=self.arn("data-deletion-job", name),
            sequence=next(self._sequence),
            dataset_group_arn=group.arn,
            data_location=data_location,
            role_arn=role_arn,
            timings=self.timings,
            created=now,
            status_since=now,
        )
        if None in self._failures and job.name not in self._failures:
            self._failures[job.name] = self._failures.pop(None)
        self.jobs[job.arn] = job
        log.info("Data deletion job %s created for %s.", job.name, group.arn)
        return job

    def add_resource(
        self,
        kind: Kind,
        name: str | None,
        arn: str,
        parent_arn: str,
        dataset_group_arn: str,
        attributes: dict[str, Any],
    ) -> Resource:
        """
        Create a resource in the first status of its lifecycle (the caller checked the service's rules).

        :param kind: what it is.
        :param name: its name, if any.
        :param arn: its ARN.
        :param parent_arn: the ARN its create request named as parent.
        :param dataset_group_arn: the dataset group whose data it uses.
        :param attributes: its members as a describe answer shows them.
        """
        resource = Resource(
            kind=kind,
            name=name,
            arn=arn,
            sequence=next(self._sequence),
            dataset_group_arn=dataset_group_arn,
            parent_arn=parent_arn,
            created=time.time(),
            timings=self.activity_timings,
            attributes=attributes,
        )
        self.resources[arn] = resource
        log.info("%s %s created for %s.", kind.operation, arn, dataset_group_arn)
        return resource

    def pending_jobs(self, dataset_group_arn: str) -> int:
        """:param dataset_group_arn: count the ``PENDING`` jobs of this dataset group."""
        return sum(
            1
            for job in self.jobs.values()
            if job.dataset_group_arn == dataset_group_arn and job.status == PENDING
        )

    def advance(self) -> None:
        """
        Move every job and resource to the status its timings and holds give it now.

        Transitions happen one at a time in the order of their times (the oldest item first at equal
        times), so a job that completes sees every training that started before it.
        """
        now = time.time()
        while (due := self._next_transition(now)) is not None:
            leaves_at, item = due
            item.status, item.status_since = item.lifecycle[item.status][0], leaves_at
            if isinstance(item, DataDeletionJob):
                if item.status == COMPLETED:
                    self._finish(item)
            elif item.kind.trains:
                self._train(item)
            elif item.status == ACTIVE and item.kind.name in RUNNERS:
                self._run_job(item)

    def _next_transition(self, now: float) -> tuple[float, DataDeletionJob | Resource] | None:
        """The earliest transition due by ``now``: its time and the item making it."""
        due: list[tuple[float, int, DataDeletionJob | Resource]] = []
        for item in self._lifecycled():
            if item.status in item.lifecycle and not self._held(item):
                leaves_at = item.status_since + getattr(item.timings, item.lifecycle[item.status][1])
                if leaves_at <= now:
                    due.append((leaves_at, item.sequence, item))
        if not due:
            return None
        leaves_at, _, item = min(due, key=lambda entry: entry[:2])
        return leaves_at, item

    def _lifecycled(self) -> list[DataDeletionJob | Resource]:
        return [*self.jobs.values(), *self.resources.values()]

    def _held(self, item: DataDeletionJob | Resource) -> bool:
        return item.status in (self._holds.get(item.arn), self._holds.get(item.name or ""))

    def _train(self, model: Resource) -> None:
        """A model entered a status: its training starts (on the group's users now) or ends."""
        if model.status == TRAINING_STATUS:
            model.training_started = model.status_since
            model.model_users = self.group_users(model.dataset_group_arn)
        elif model.training_started is not None and model.training_ended is None:
            model.training_ended = model.status_since

    def dataset_records(self, dataset: Resource) -> DatasetRecords:
        """:param dataset: a dataset; return its records (none yet: an empty set of records)."""
        if dataset.arn not in self.records:
            self.records[dataset.arn] = DatasetRecords(dataset.attributes["datasetType"].upper())
        return self.records[dataset.arn]

    def group_records(self, dataset_group_arn: str) -> list[DatasetRecords]:
        """:param dataset_group_arn: return the records of every dataset of this group."""
        return [
            records
            for arn, records in self.records.items()
            if arn in self.resources and self.resources[arn].dataset_group_arn == dataset_group_arn
        ]

    def group_users(self, dataset_group_arn: str) -> set[str]:
        """:param dataset_group_arn: the user ids the group holds: seeded ones and those of its records."""
        users = set(self.dataset_groups[dataset_group_arn].user_ids)
        for records in self.group_records(dataset_group_arn):
            users |= records.user_ids()
        return users

    def denied(self, location: str) -> bool:
        """:param location: an ``s3://`` URI; whether the service's role is denied access to it."""
        return any(location.startswith(prefix) for prefix in self.denied_prefixes)

    def _run_job(self, job: Resource) -> None:
        """An import, export or batch job reached ACTIVE: it runs now, or ends CREATE FAILED."""
        failure_reason = self._failures.pop(job.name or "", None)
        if failure_reason is None:
            failure_reason = RUNNERS[job.kind.name](self, job)
        if failure_reason is not None:
            job.status = CREATE_FAILED
            job.attributes["failureReason"] = failure_reason
            log.info("%s %s failed.", job.kind.operation, job.arn)

    def models(self, dataset_group_arn: str) -> list[Resource]:
        """:param dataset_group_arn: return this group's models (solution versions, recommenders)."""
        return [
            resource
            for resource in self.resources.values()
            if resource.kind.trains and resource.dataset_group_arn == dataset_group_arn
        ]

    def _finish(self, job: DataDeletionJob) -> None:
        failure_reason = self._failures.pop(job.name, None)
        if failure_reason is None:
            try:
                listed = read_user_ids(job.data_location, self.region, self.max_input_bytes)
            except JobInputError as error:
                failure_reason = str(error)
        if failure_reason is not None:
            job.status, job.failure_reason = FAILED, failure_reason
            log.info("Data deletion job %s failed.", job.name)
            return
        group = self.dataset_groups[job.dataset_group_arn]
        deleted = self.group_users(group.arn) & listed
        group.user_ids -= deleted
        for records in self.group_records(group.arn):
            records.remove_users(deleted)
        job.num_deleted = len(deleted)
        kept = 0
        for model in self.models(group.arn):
            if model.trained_during(job.created, job.status_since):
                kept += model.model_users is not None and bool(model.model_users & listed)
            elif model.model_users is not None:
                model.model_users -= listed
        log.info(
            "Data deletion job %s completed: %d of %d listed users deleted; %d models trained during "
            "the job keep some of them.",
            job.name,
            len(deleted),
            len(listed),
            kept,
        )

    def fail_job(self, job_name: str | None, reason: str) -> None:
        """
        Make a job end ``FAILED`` instead of reading its input.

        :param job_name: the job's name (created already or not yet), or None for the next job created.
        :param reason: its ``failureReason``.
        """
        self._failures[job_name] = reason

    def hold(self, job_name: str, status: str) -> None:
        """
        Keep a job or resource in a status until :meth:`release`; one past that status is not moved back.

        A resource created with zero timings and held before the next read stops in the held status.

        :param job_name: the name (created already or not yet) or the ARN of a data deletion job, an
            import job, a solution version, a batch job or a recommender.
        :param status: one of :data:`HOLDABLE_STATUSES`.
        """
        if status not in HOLDABLE_STATUSES:
            raise ValueError(f"A job can be held in {sorted(HOLDABLE_STATUSES)}, not {status!r}.")
        self._holds[job_name] = status

    def release(self, job_name: str) -> None:
        """
        Let a held job or resource move on; it stays the full time of its status again, from now.

        :param job_name: the name or ARN it was held by.
        """
        self.advance()
        if self._holds.pop(job_name, None) is not None:
            for item in self._lifecycled():
                if job_name in (item.name, item.arn) and item.status in item.lifecycle:
                    item.status_since = time.time()


def _without_none(**members: Any) -> dict[str, Any]:
    return {name: value for name, value in members.items() if value is not None}
