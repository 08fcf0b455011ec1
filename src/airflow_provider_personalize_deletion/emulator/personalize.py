"""
The emulated Personalize resources: dataset groups, data deletion jobs, and the jobs' lifecycle.

States are data: :data:`LIFECYCLE` says, for each status a job passes through, which status follows
and which :class:`JobTimings` field says how long the job stays. A job's status is never pushed by a
timer; it is computed from timestamps whenever the state is read (:meth:`PersonalizeState.advance`),
so zero timings make a job finish at the next read and no background thread is needed. When a job
reaches ``COMPLETED`` it reads its input from the emulator's S3 once: it either deletes the users or
turns ``FAILED`` with the reason.

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

from airflow_provider_personalize_deletion.emulator.job_input import JobInputError, read_user_ids

log = logging.getLogger(__name__)

PENDING, IN_PROGRESS, COMPLETED, FAILED = "PENDING", "IN_PROGRESS", "COMPLETED", "FAILED"
ACTIVE = "ACTIVE"

#: status -> (the status that follows, the JobTimings field holding how long the job stays).
LIFECYCLE: dict[str, tuple[str, str]] = {
    PENDING: (IN_PROGRESS, "pending_seconds"),
    IN_PROGRESS: (COMPLETED, "in_progress_seconds"),
}
#: The statuses a job can be held in (the ones it would otherwise leave on its own).
HOLDABLE_STATUSES = frozenset(LIFECYCLE)


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
    """A dataset group (always ``ACTIVE``) and the user ids it holds."""

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
    Every dataset group and data deletion job of the emulator, and the job faults tests inject.

    Callers hold :attr:`lock` around every use (the server is threaded).

    :param region: the region in the ARNs, and whose S3 partition jobs read from.
    :param timings: how long new jobs stay in each status (until :meth:`reset` or a new value).
    :param max_input_bytes: the largest total size of one job's input files.
    """

    def __init__(self, region: str, timings: JobTimings, max_input_bytes: int) -> None:
        self.lock = threading.RLock()
        self.region = region
        self.max_input_bytes = max_input_bytes
        self._initial_timings = timings
        self.reset()

    def reset(self) -> None:
        """Forget every resource and fault, and restore the initial timings."""
        self.timings = self._initial_timings
        self.dataset_groups: dict[str, DatasetGroup] = {}
        self.jobs: dict[str, DataDeletionJob] = {}
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

    def pending_jobs(self, dataset_group_arn: str) -> int:
        """:param dataset_group_arn: count the ``PENDING`` jobs of this dataset group."""
        return sum(
            1
            for job in self.jobs.values()
            if job.dataset_group_arn == dataset_group_arn and job.status == PENDING
        )

    def advance(self) -> None:
        """Move every job to the status its timings and holds give it now, oldest job first."""
        now = time.time()
        for job in sorted(self.jobs.values(), key=lambda job: job.sequence):
            self._advance(job, now)

    def _advance(self, job: DataDeletionJob, now: float) -> None:
        while job.status in LIFECYCLE and self._holds.get(job.name) != job.status:
            next_status, timing = LIFECYCLE[job.status]
            leaves_at = job.status_since + getattr(job.timings, timing)
            if now < leaves_at:
                return
            job.status, job.status_since = next_status, leaves_at
            if job.status == COMPLETED:
                self._finish(job)

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
        deleted = group.user_ids & listed
        group.user_ids -= deleted
        job.num_deleted = len(deleted)
        log.info(
            "Data deletion job %s completed: %d of %d listed users deleted.",
            job.name,
            len(deleted),
            len(listed),
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
        Keep a job in a status until :meth:`release`; a job past that status is not moved back.

        :param job_name: the job's name (created already or not yet).
        :param status: one of :data:`HOLDABLE_STATUSES`.
        """
        if status not in HOLDABLE_STATUSES:
            raise ValueError(f"A job can be held in {sorted(HOLDABLE_STATUSES)}, not {status!r}.")
        self._holds[job_name] = status

    def release(self, job_name: str) -> None:
        """
        Let a held job move on; it stays the full time of its status again, counted from now.

        :param job_name: the job's name.
        """
        self.advance()
        if self._holds.pop(job_name, None) is not None:
            for job in self.jobs.values():
                if job.name == job_name and job.status in LIFECYCLE:
                    job.status_since = time.time()


def _without_none(**members: Any) -> dict[str, Any]:
    return {name: value for name, value in members.items() if value is not None}
