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
)
#: The key under which a job description carries the FAILED jobs it replaced (create task, XCom
#: ``superseded_job_arns``).
SUPERSEDED = "supersededJobArns"


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
    def status(self) -> str:
        """COMPLETED only when every expected job exists and COMPLETED."""
        statuses = {job["status"] for job in self.jobs}
        if statuses & set(FAILURE_STATES):
            return "FAILED"
        if len(self.jobs) < self.expected_jobs:
            return "NOT_CREATED"
        if statuses & set(INTERMEDIATE_STATES):
            return "IN_PROGRESS"
        return "COMPLETED" if statuses <= set(SUCCESS_STATES) else "UNKNOWN"

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
        missing = self.expected_jobs - len(self.jobs)
        if missing > 0:
            reasons.append(f"{missing} deletion job(s) were not created")
        return f"{self.dataset_group_arn} is {self.status}" + (f" ({'; '.join(reasons)})" if reasons else "")

    def as_record(self) -> dict[str, Any]:
        """The group's part of the audit record."""
        return {
            "dataset_group_arn": self.dataset_group_arn,
            "status": self.status,
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
            }
            for group in groups
            for job in group.jobs
        ]
    }
