"""
:class:`EmulatorClient`: the Python client of the emulator's control API (see :mod:`.control_api`).

It speaks plain HTTP, so a test in another process than the emulator can use it too.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable
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
        """Drop every dataset group, job, fault and call count, and every S3 bucket; restore the timings."""
        self._command("reset")

    def create_dataset_group(
        self, name: str, user_ids: Iterable[str] = (), kms_key_arn: str | None = None
    ) -> str:
        """
        Create a dataset group holding users, as ``CreateDatasetGroup`` would (not counted as a call).

        :param name: the group's name.
        :param user_ids: the user ids the group holds.
        :param kms_key_arn: the group's KMS key, if any.
        :return: the group's ARN.
        """
        body = {"name": name, "userIds": list(user_ids), "kmsKeyArn": kms_key_arn}
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
        Keep a job (created already or not yet) in ``PENDING`` or ``IN_PROGRESS`` until :meth:`release`.

        :param job_name: the job's name.
        :param status: ``PENDING`` or ``IN_PROGRESS``.
        """
        self._command("hold", {"jobName": job_name, "status": status})

    def release(self, job_name: str) -> None:
        """:param job_name: let this held job move on (after the full time of its status, from now)."""
        self._command("release", {"jobName": job_name})

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
