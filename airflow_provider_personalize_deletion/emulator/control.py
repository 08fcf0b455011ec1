"""
:class:`EmulatorClient`: the Python client of the emulator's control API (see :mod:`.control_api`).

It speaks plain HTTP, so a test in another process than the emulator can use it too.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any


class EmulatorControlError(RuntimeError):
    """The emulator refused a control command; the message says why."""


class EmulatorClient:
    """
    Set the stage for a test and inject faults into a running emulator.

    :param endpoint_url: the emulator's URL, e.g. ``http://127.0.0.1:4566``.
    :param timeout: seconds to wait for each answer.
    """

    def __init__(self, endpoint_url: str, timeout: float = 10.0) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.timeout = timeout

    def reset(self) -> None:
        """
        Drop every dataset group, job, resource, tag, fault and call count, and every S3 bucket;
        restore the timings and the page size.
        """
        self._command("reset")

    def create_dataset_group(
        self,
        name: str,
        user_ids: Iterable[str] = (),
        kms_key_arn: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """
        Create a dataset group holding users, as ``CreateDatasetGroup`` would (not counted as a call).

        :param name: the group's name.
        :param user_ids: the user ids the group holds.
        :param kms_key_arn: the group's KMS key, if any.
        :param tags: the group's tags, key to value.
        :return: the group's ARN.
        """
        body = {"name": name, "userIds": list(user_ids), "kmsKeyArn": kms_key_arn, "tags": dict(tags or {})}
        return self._command("create-dataset-group", body)["datasetGroupArn"]

    def seed_users(self, dataset_group_arn: str, user_ids: Iterable[str]) -> None:
        """
        Add user ids to those a dataset group holds.

        :param dataset_group_arn: the group's ARN.
        :param user_ids: the user ids to add.
        """
        self._command("seed-users", {"datasetGroupArn": dataset_group_arn, "userIds": list(user_ids)})

    def users(self, dataset_group_arn: str) -> set[str]:
        """:param dataset_group_arn: return the user ids this group holds now."""
        return set(self._command("users", {"datasetGroupArn": dataset_group_arn})["userIds"])

    def jobs(self) -> list[dict[str, Any]]:
        """Return every data deletion job as ``DescribeDataDeletionJob`` would, oldest first."""
        return self._command("jobs")["jobs"]

    def calls(self, operation: str | None = None) -> int:
        """
        Count the Personalize API requests received since the last reset.

        :param operation: count only this API name (e.g. ``CreateDataDeletionJob``); None for all.
        """
        return self._command("calls", {"operation": operation})["count"]

    def throttle(self, count: int, operation: str | None = None) -> None:
        """
        Answer the next matching Personalize calls with ``ThrottlingException`` (HTTP 400).

        :param count: how many calls.
        :param operation: only calls of this API name; None for any.
        """
        self._command("throttle", {"count": count, "operation": operation})

    def fail_job(self, job_name: str | None, reason: str) -> None:
        """
        Make a job end ``FAILED`` with this ``failureReason`` instead of reading its input.

        :param job_name: the job's name, or None for the next job created.
        :param reason: the failure reason.
        """
        self._command("fail-job", {"jobName": job_name, "reason": reason})

    def hold(self, job_name: str, status: str) -> None:
        """
        Keep a job or resource (created already or not yet) in a status until :meth:`release`.

        Data deletion jobs: ``PENDING`` or ``IN_PROGRESS``. Import jobs, solution versions (a training
        "in progress") and recommenders: ``CREATE PENDING`` or ``CREATE IN_PROGRESS``. Batch inference and
        batch segment jobs: ``PENDING`` or ``IN PROGRESS``. A resource created with zero timings and held
        before any other request stops in the held status.

        :param job_name: the name (of a job, a solution version, a recommender), or the ARN.
        :param status: the status to keep it in.
        """
        self._command("hold", {"jobName": job_name, "status": status})

    def release(self, job_name: str) -> None:
        """
        Let what was held by this name or ARN move on (the full time of its status, counted from now).

        :param job_name: the name or ARN given to :meth:`hold`.
        """
        self._command("release", {"jobName": job_name})

    def model_users(self, model_arn: str) -> set[str]:
        """
        Return the user ids a model holds now: those of its group when its training started, less the
        ones each data deletion job that completed without overlapping its training listed.

        :param model_arn: the ARN of a solution version or a recommender (empty before training starts).
        """
        return set(self._command("model-users", {"arn": model_arn})["userIds"])

    def auto_train(self, solution_arn: str, name: str | None = None) -> str:
        """
        Start an automatic training now, as the service does on its schedule for a solution with
        ``performAutoTraining`` (not counted as a call); it follows the activity timings and holds.

        :param solution_arn: the solution, which must use automatic training.
        :param name: the new solution version's name (to hold it by), if any.
        :return: the new solution version's ARN (``trainingType`` ``AUTOMATIC``).
        """
        body = {"solutionArn": solution_arn, "name": name}
        return self._command("auto-train", body)["solutionVersionArn"]

    def set_activity_timings(self, pending_seconds: float, in_progress_seconds: float) -> None:
        """
        Set how long import jobs, solution versions, recommenders and batch jobs created from now on stay
        in their pending and in-progress statuses.

        :param pending_seconds: time in ``CREATE PENDING`` / ``PENDING``.
        :param in_progress_seconds: time in ``CREATE IN_PROGRESS`` / ``IN PROGRESS`` (a training's length).
        """
        body = {"pendingSeconds": pending_seconds, "inProgressSeconds": in_progress_seconds}
        self._command("activity-timings", body)

    def set_max_page_size(self, size: int | None) -> None:
        """
        Make every list operation answer at most ``size`` items a page, whatever ``maxResults`` asks
        (the service may return fewer): a test sees several pages without creating hundreds of items.

        :param size: the largest page; None to answer as ``maxResults`` asks.
        """
        self._command("page-size", {"maxPageSize": size})

    def set_latency(self, seconds: float) -> None:
        """:param seconds: delay added to every Personalize response."""
        self._command("latency", {"seconds": seconds})

    def set_timings(self, pending_seconds: float, in_progress_seconds: float) -> None:
        """
        Set how long jobs created from now on stay in each status.

        :param pending_seconds: time in ``PENDING``.
        :param in_progress_seconds: time in ``IN_PROGRESS``.
        """
        self._command(
            "timings", {"pendingSeconds": pending_seconds, "inProgressSeconds": in_progress_seconds}
        )

    def _command(self, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.endpoint_url}/_emulator/{name}",
            data=json.dumps(body or {}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise EmulatorControlError(json.loads(error.read()).get("error", str(error))) from None
