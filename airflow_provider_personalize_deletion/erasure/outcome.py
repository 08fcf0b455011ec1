"""Decide a run's outcome from its deletion jobs, and write it down for an auditor."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_personalize_deletion.hooks.personalize import (
    FAILURE_STATES,
    INTERMEDIATE_STATES,
    SUCCESS_STATES,
)
from airflow_provider_personalize_deletion.utils.json_safe import json_safe
from airflow_provider_personalize_deletion.utils.redaction import redact_failure_reason

#: A run's outcomes; only ``erased`` marks requests done.
ERASED, FAILED, NOTHING_TO_ERASE, DRY_RUN = "erased", "failed", "nothing_to_erase", "dry_run"

#: The fields of a job description worth keeping in the audit trail.
_AUDIT_JOB_FIELDS = (
    "jobName",
    "dataDeletionJobArn",
    "status",
    "numDeleted",
    "failureReason",
    "creationDateTime",
    "lastUpdatedDateTime",
    "supersededJobArns",
    "erasureRound",
    "overlappingActivity",
)
#: The key under which a job description carries the FAILED jobs it replaced (create task, XCom
#: ``superseded_job_arns``).
SUPERSEDED = "supersededJobArns"
#: The key under which a job description carries its round: 0 for the initial jobs, then 1, 2, ...
#: for the follow-up jobs on the same file.
ROUND = "erasureRound"
#: The key under which a COMPLETED job's description carries what of its dataset group ran during its
#: life (``Activity.as_record()`` each; empty when nothing did; None when the job did not complete).
OVERLAP = "overlappingActivity"


@dataclass
class GroupOutcome:
    """
    What happened in one dataset group: its jobs, and whether all of them completed.

    :param dataset_group_arn: the dataset group.
    :param expected_jobs: how many jobs the run meant to create in it (one per deletion file).
    :param jobs: the descriptions of the jobs that were created.
    """

    dataset_group_arn: str
    expected_jobs: int
    jobs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last_jobs(self) -> list[dict[str, Any]]:
        """The last job on each file (jobs in round order: the initial job, then its follow-ups)."""
        last: dict[Any, dict[str, Any]] = {}
        for job in sorted(self.jobs, key=lambda item: item.get(ROUND, 0)):
            last[job.get("dataSource", {}).get("dataLocation")] = job
        return list(last.values())

    @property
    def status(self) -> str:
        """
        COMPLETED only when every expected job exists, none FAILED, and the last job on each file
        COMPLETED with nothing overlapping it; OVERLAPPED when one of those overlapped activity.
        """
        if {job["status"] for job in self.jobs} & set(FAILURE_STATES):
            return "FAILED"
        last = self.last_jobs
        statuses = {job["status"] for job in last}
        if len(last) < self.expected_jobs:
            return "NOT_CREATED"
        if statuses & set(INTERMEDIATE_STATES):
            return "IN_PROGRESS"
        if not statuses <= set(SUCCESS_STATES):
            return "UNKNOWN"
        return "OVERLAPPED" if any(job.get(OVERLAP) != [] for job in last) else "COMPLETED"

    @property
    def problem(self) -> str | None:
        """Why the group is not erased, in words; None when it is."""
        if self.status == "COMPLETED":
            return None
        reasons = [
            f"{job['jobName']}: {redact_failure_reason(job['failureReason'])}"
            for job in self.jobs
            if job.get("failureReason")
        ]
        if self.status == "OVERLAPPED":
            overlapped = [job for job in self.last_jobs if job.get(OVERLAP) != []]
            reasons.append(
                f"{len(overlapped)} last job(s) overlapped a training, import or batch job and the "
                "follow-up jobs (max_follow_up_jobs) ran out: the users may remain in what ran meanwhile"
            )
        missing = self.expected_jobs - len(self.last_jobs)
        if missing > 0:
            reasons.append(f"{missing} deletion job(s) were not created")
        return f"{self.dataset_group_arn} is {self.status}" + (f" ({'; '.join(reasons)})" if reasons else "")

    def as_record(self) -> dict[str, Any]:
        """The group's part of the audit record."""
        return {
            "dataset_group_arn": self.dataset_group_arn,
            "status": self.status,
            "follow_up_jobs": sum(1 for job in self.jobs if job.get(ROUND, 0) > 0),
            "jobs": [
                json_safe(
                    {
                        **{key: job.get(key) for key in _AUDIT_JOB_FIELDS},
                        "failureReason": redact_failure_reason(job.get("failureReason")),
                    }
                )
                for job in self.jobs
            ],
        }


def group_outcomes(
    dataset_group_arns: Iterable[str], files_per_group: int, jobs: Iterable[dict[str, Any]]
) -> list[GroupOutcome]:
    """
    Sort job descriptions into their dataset groups.

    :param dataset_group_arns: the groups of the run.
    :param files_per_group: how many jobs each group should have (one per deletion file).
    :param jobs: descriptions of the jobs that were created.
    """
    groups = {arn: GroupOutcome(arn, files_per_group) for arn in dataset_group_arns}
    for job in jobs:
        group = job["datasetGroupArn"]
        groups.setdefault(group, GroupOutcome(group, files_per_group)).jobs.append(job)
    return list(groups.values())


def erasure_record(groups: Iterable[GroupOutcome]) -> dict[str, Any]:
    """
    What is stored on each erased request: the jobs that erased it, and how many users each deleted.

    :param groups: outcomes whose status is COMPLETED.
    """
    return {
        "jobs": [
            {
                "dataset_group_arn": group.dataset_group_arn,
                "job_arn": job["dataDeletionJobArn"],
                "num_deleted": job.get("numDeleted"),
                "round": job.get(ROUND, 0),
            }
            for group in groups
            for job in group.jobs
        ]
    }
