"""
Triggers that wait, in the triggerer, for a data deletion job to end or a dataset group to be quiet.

Importing this module imports no AWS library: the triggerer imports it on its event loop (see
:mod:`.base`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, cast

from airflow.triggers.base import TriggerEvent

from airflow_provider_personalize_deletion.triggers.base import SharedClientTrigger, SharedClientWaiterTrigger

if TYPE_CHECKING:
    from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook

#: What a quiet wait may watch: a group's activity (before a deletion job), or its data deletion jobs
#: (before an import).
QUIET_WATCHES = ("activity", "data_deletion_jobs")
#: Seconds between two DescribeDataDeletionJob calls.
DEFAULT_WAITER_DELAY = 60
#: A job can take up to a day: 1500 polls a minute apart cover 25 hours.
DEFAULT_WAITER_MAX_ATTEMPTS = 1500
#: Seconds between two listings of a dataset group's activity while waiting for it to be quiet.
DEFAULT_QUIET_POLL_INTERVAL = 300
#: A training can take hours: wait up to a day for a dataset group to be quiet.
DEFAULT_QUIET_TIMEOUT = 24 * 3600


class PersonalizeDataDeletionJobCompletedTrigger(SharedClientWaiterTrigger):
    """
    Fire when a data deletion job is COMPLETED or FAILED, or when the attempts run out.

    The event is ``{"status": "success" | "timeout" | "error", "data_deletion_job_arn": ...,
    "message": ...}``: ``timeout`` when the attempts ran out, ``error`` when the job FAILED or polling
    met an AWS error. The task that deferred decides with :func:`completed_job_from_event`.

    Unlike other Amazon-provider triggers, which open one aiobotocore client each, the triggers of
    one triggerer that use the same connection, region, SSL setting and botocore config share one
    client (see :mod:`.client_pool`): a triggerer holding a thousand deletion jobs keeps one client,
    not a thousand. Its waiter attributes (``waiter_name``, ``waiter_args``, ``status_queries`` ...) are
    those of the Amazon provider's ``AwsBaseWaiterTrigger``, so that its ``run`` works on it too (the
    triggerer benchmark's baseline runs it so).

    :param data_deletion_job_arn: ARN of the job to wait for.
    :param waiter_delay: seconds between two polls. (default: 60)
    :param waiter_max_attempts: polls before giving up. (default: 1500, 25 hours at the default delay)

    The AWS settings (``aws_conn_id``, ``region_name``, ``verify``, ``botocore_config``) are those of
    :class:`~.base.SharedClientWaiterTrigger`.
    """

    job_arn_field = "data_deletion_job_arn"
    job_member = "dataDeletionJob"
    job_noun = "data deletion job"
    waiter_name = "data_deletion_job_complete"
    default_waiter_delay = DEFAULT_WAITER_DELAY
    default_waiter_max_attempts = DEFAULT_WAITER_MAX_ATTEMPTS


class PersonalizeDatasetGroupQuietTrigger(SharedClientTrigger):
    """
    Fire when nothing is in progress on a dataset group, or when the attempts run out.

    Each poll lists the dataset group's activity with
    :meth:`~.PersonalizeHook.async_list_dataset_group_activity` on the triggerer's shared client (see
    :mod:`.client_pool`) and looks for what is in progress (import jobs, trainings, batch jobs, recommenders
    being created); the first poll is made after a jittered pause of at most a fifth of ``waiter_delay``
    (see :mod:`.poll_jitter`). A listing throttled past the client's retries is made again after the
    next pause and does not count as an attempt, as the job triggers do. The event is
    ``{"status": "success" | "timeout" | "error", "dataset_group_arn": ..., "in_progress": [...],
    "message": ...}``: ``in_progress`` holds the :meth:`~.activity.Activity.as_record` of what was in
    progress at the last poll (empty on success); ``error`` when a List call failed (not throttled).
    The task that deferred looks again before it creates a job.

    With ``watch="data_deletion_jobs"`` each poll lists the group's data deletion jobs instead, and waits
    until none is PENDING or IN_PROGRESS (what an import waits for).

    There is no botocore waiter for this (a listing is several calls).

    :param dataset_group_arn: the dataset group to watch.
    :param watch: ``"activity"`` (default) or ``"data_deletion_jobs"``: what must not be in progress.
    :param waiter_delay: seconds between two polls. (default: 300)
    :param waiter_max_attempts: polls before giving up. (default: 288, 24 hours at the default delay)
    :param aws_conn_id: the Airflow connection used for AWS credentials.
    :param region_name: the AWS region of the dataset group.
    :param verify: whether to verify SSL certificates.
    :param botocore_config: configuration dictionary (key-values) for the botocore client.
    """

    def __init__(
        self,
        *,
        dataset_group_arn: str,
        watch: str = "activity",
        waiter_delay: int = DEFAULT_QUIET_POLL_INTERVAL,
        waiter_max_attempts: int = DEFAULT_QUIET_TIMEOUT // DEFAULT_QUIET_POLL_INTERVAL,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
    ) -> None:
        super().__init__(
            # The default is left out, so that the serialized form of earlier versions stays the same.
            serialized_fields={"dataset_group_arn": dataset_group_arn}
            | ({"watch": watch} if watch != "activity" else {}),
            return_key="dataset_group_arn",
            return_value=dataset_group_arn,
            waiter_delay=waiter_delay,
            waiter_max_attempts=waiter_max_attempts,
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            verify=verify,
            botocore_config=botocore_config,
        )
        if watch not in QUIET_WATCHES:
            raise ValueError(f"Invalid parameter 'watch': must be one of {QUIET_WATCHES}")
        self.dataset_group_arn = dataset_group_arn
        self.watch = watch

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield await self._wait_for_quiet()

    async def _wait_for_quiet(self) -> TriggerEvent:
        """Poll on the shared client; the client is released before the event is handed over."""
        busy: list[dict[str, Any]] = []
        async with self.shared_client() as opened:
            from airflow.providers.amazon.aws.utils.waiter_with_logging import (
                RETRIABLE_ERROR_CODES as THROTTLING_ERROR_CODES,
            )
            from botocore.exceptions import BotoCoreError, ClientError

            from airflow_provider_personalize_deletion.hooks.activity import in_progress
            from airflow_provider_personalize_deletion.hooks.personalize import summarize_activity

            hook = cast("PersonalizeHook", opened.hook)
            attempt = poll = 0
            while attempt < max(1, self.attempts):
                await self.pause_before(poll)
                poll += 1
                try:
                    if self.watch == "data_deletion_jobs":
                        now_busy = await hook.async_running_data_deletion_jobs(
                            opened.client, self.dataset_group_arn
                        )
                    else:
                        activity = await hook.async_list_dataset_group_activity(
                            opened.client, self.dataset_group_arn
                        )
                        now_busy = in_progress(activity)
                except ClientError as error:
                    if error.response.get("Error", {}).get("Code") not in THROTTLING_ERROR_CODES:
                        return self.event("error", str(error), in_progress=busy)
                    self.log.info("Listing throttled (%s): listing again after a pause", error)
                    continue  # not an attempt: the pool has slowed down, the wait goes on
                except BotoCoreError as error:
                    return self.event("error", str(error), in_progress=busy)
                attempt += 1
                if not now_busy:
                    return self.event("success", in_progress=[])
                busy = [item.as_record() for item in now_busy]
                self.log.info(
                    "Dataset group %s is not quiet (poll %d of %d): %s",
                    self.dataset_group_arn,
                    attempt,
                    self.attempts,
                    summarize_activity(now_busy),
                )
        return self.event("timeout", f"still not quiet after {self.attempts} polls", in_progress=busy)


def completed_job_from_event(hook: PersonalizeHook, event: dict[str, Any] | None) -> dict[str, Any]:
    """
    Decide, after the trigger fired, from the job's own description and the event's status.

    :param hook: the task's hook, to describe the job.
    :param event: the event of :class:`PersonalizeDataDeletionJobCompletedTrigger`.
    :return: the ``dataDeletionJob`` description of a COMPLETED job.
    :raises DataDeletionJobFailedError: the job FAILED (reason redacted).
    :raises DataDeletionJobWaitError: the trigger met an error and the job has not ended.
    :raises DataDeletionJobTimeoutError: the trigger ran out of attempts and the job has not ended.
    """
    from airflow.providers.amazon.aws.utils import validate_execute_complete_event
    from botocore.exceptions import ClientError

    from airflow_provider_personalize_deletion.exceptions import (
        DataDeletionJobTimeoutError,
        DataDeletionJobWaitError,
    )
    from airflow_provider_personalize_deletion.hooks.personalize import check_job_outcome

    event = validate_execute_complete_event(event)
    arn = event["data_deletion_job_arn"]
    try:
        job = hook.describe_data_deletion_job(arn)
    except ClientError:
        if event["status"] != "error":
            raise
        # The worker cannot describe the job either: the trigger's error is the one to report.
        raise DataDeletionJobWaitError(arn, event.get("message")) from None
    if check_job_outcome(job):
        return job
    if event["status"] == "error":
        raise DataDeletionJobWaitError(arn, event.get("message"))
    raise DataDeletionJobTimeoutError(arn, job["status"])
