"""
:class:`EmulatorClient`: the Python client of the emulator's control API (see :mod:`.control_api`).

It speaks plain HTTP, so a test in another process than the emulator can use it too.
"""

from __future__ import annotations

import json
import time
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
        Drop every dataset group, job, resource, record, tag, fault and call count, and every S3 bucket;
        restore the timings, the page size and the export part size.
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
        Add user ids to those a dataset group holds, without a record in any dataset (a deletion job removes
        them; an export does not show them: use :meth:`seed_records` for users an export should show).

        :param dataset_group_arn: the group's ARN.
        :param user_ids: the user ids to add.
        """
        self._command("seed-users", {"datasetGroupArn": dataset_group_arn, "userIds": list(user_ids)})

    def users(self, dataset_group_arn: str) -> set[str]:
        """
        :param dataset_group_arn: return the user ids this group holds now: seeded ones and those of every
            record of its datasets.
        """
        return set(self._command("users", {"datasetGroupArn": dataset_group_arn})["userIds"])

    def seed_records(
        self, dataset_arn: str, records: Iterable[Mapping[str, str]], ingestion_mode: str = "BULK"
    ) -> None:
        """
        Add records to a dataset, as an INCREMENTAL import (``BULK``) or individual puts (``PUT``) would.

        :param dataset_arn: the dataset's ARN.
        :param records: field name to value, e.g. ``{"USER_ID": ..., "ITEM_ID": ..., "TIMESTAMP": ...}``.
        :param ingestion_mode: how they arrived: ``BULK`` or ``PUT``.
        """
        body = {
            "datasetArn": dataset_arn,
            "records": [dict(r) for r in records],
            "ingestionMode": ingestion_mode,
        }
        self._command("seed-records", body)

    def records(self, dataset_arn: str, ingestion_mode: str = "ALL") -> list[dict[str, str]]:
        """
        Return a dataset's records now, as an export of this ingestion mode would hold them (bulk first).

        :param dataset_arn: the dataset's ARN.
        :param ingestion_mode: ``BULK``, ``PUT`` or ``ALL``.
        """
        body = {"datasetArn": dataset_arn, "ingestionMode": ingestion_mode}
        return self._command("records", body)["records"]

    def put_events(
        self, dataset_group_arn: str, user_id: str, item_ids: Iterable[str], event_type: str = "click"
    ) -> None:
        """
        Record events of one user as PutEvents does: ``PUT`` records of the group's Interactions dataset.

        :param dataset_group_arn: the group (it must have an Interactions dataset).
        :param user_id: the user.
        :param item_ids: one event per item, sent now.
        :param event_type: the events' type.
        """
        events = [{"itemId": item, "eventType": event_type, "sentAt": time.time()} for item in item_ids]
        body = {"datasetGroupArn": dataset_group_arn, "userId": user_id, "eventList": events}
        self._command("put-events", body)

    def put_users(self, dataset_arn: str, users: Mapping[str, Mapping[str, str]]) -> None:
        """
        Record users as PutUsers does: ``PUT`` records of a Users dataset, replacing the user's earlier one.

        :param dataset_arn: the Users dataset.
        :param users: user id to properties (schema fields in camel case, e.g. ``{"membership": "gold"}``).
        """
        body = [{"userId": user, "properties": json.dumps(dict(props))} for user, props in users.items()]
        self._command("put-users", {"datasetArn": dataset_arn, "users": body})

    def deny_path(self, prefix: str) -> None:
        """
        Deny the service's role every ``s3://`` location under a prefix: an import or a batch job reading
        it, or an export or a batch job writing it, ends ``CREATE FAILED`` with an access-denied reason.

        :param prefix: an ``s3://`` URI prefix.
        """
        self._command("deny-path", {"prefix": prefix})

    def set_export_part_size(self, records: int) -> None:
        """:param records: the most records one file of a dataset export holds (until reset)."""
        self._command("export-part-size", {"records": records})

    def set_segment_users_member(self, member: str) -> None:
        """
        Name the users array of batch segment output from now on (until reset).

        :param member: ``usersList`` (real outputs', the default) or ``recommendedUsers`` (the guide's).
        """
        self._command("segment-users-member", {"member": member})

    def jobs(self) -> list[dict[str, Any]]:
        """Return every data deletion job as ``DescribeDataDeletionJob`` would, oldest first."""
        return self._command("jobs")["jobs"]

    def calls(self, operation: str | None = None) -> int:
        """
        Count the Personalize API requests received since the last reset.

        :param operation: count only this API name (e.g. ``CreateDataDeletionJob``, or an S3 operation
            such as ``DeleteObjects``); None for all Personalize requests.
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

    def set_latency(self, seconds: float, operation: str | None = None) -> None:
        """
        Delay the answers to Personalize calls, or to one S3 operation (the call is received, then it
        waits: an S3 request is carried out after the delay, whether or not its client is still there).

        :param seconds: the delay; 0 removes it.
        :param operation: only calls of this API name (e.g. ``CreateDataDeletionJob``, or an S3
            operation such as ``DeleteObjects``, ``PutObject``, ``UploadPart``); None for every
            Personalize call without a delay of its own.
        """
        self._command("latency", {"seconds": seconds, "operation": operation})

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
