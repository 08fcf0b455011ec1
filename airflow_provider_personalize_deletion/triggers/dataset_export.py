"""
The trigger that waits, in the triggerer, for a dataset export job to end.

Importing this module imports no AWS library: the triggerer imports it on its event loop (see
:mod:`.base`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_personalize_deletion.triggers.base import SharedClientWaiterTrigger

if TYPE_CHECKING:
    from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook

#: Seconds between two DescribeDatasetExportJob calls.
DEFAULT_EXPORT_WAITER_DELAY = 60
#: An export of a large dataset takes hours: 1440 polls a minute apart cover a day.
DEFAULT_EXPORT_WAITER_MAX_ATTEMPTS = 1440


class PersonalizeDatasetExportJobActiveTrigger(SharedClientWaiterTrigger):
    """
    Fire when a dataset export job is ACTIVE or CREATE FAILED, or at its deadline.

    The event is ``{"status": "success" | "timeout" | "error", "dataset_export_job_arn": ..., "message":
    ...}``; the task that deferred decides with :func:`exported_job_from_event`. It polls on the
    triggerer's shared client (see :mod:`.client_pool`), with the waiter ``dataset_export_job_active``.

    :param dataset_export_job_arn: ARN of the job to wait for.
    :param waiter_delay: seconds between two polls. (default: 60)
    :param waiter_max_attempts: with ``waiter_delay``, how long to wait. (default: 1440, a day at 60 s)

    The AWS settings (``aws_conn_id``, ``region_name``, ``verify``, ``botocore_config``) are those of
    :class:`~.base.SharedClientWaiterTrigger`.
    """

    job_arn_field = "dataset_export_job_arn"
    job_member = "datasetExportJob"
    job_noun = "dataset export job"
    waiter_name = "dataset_export_job_active"
    default_waiter_delay = DEFAULT_EXPORT_WAITER_DELAY
    default_waiter_max_attempts = DEFAULT_EXPORT_WAITER_MAX_ATTEMPTS


def exported_job_from_event(hook: PersonalizeHook, event: dict[str, Any] | None) -> dict[str, Any]:
    """
    Decide, after the trigger fired, from the job's own description.

    :param hook: the task's hook, to describe the job.
    :param event: the event of :class:`PersonalizeDatasetExportJobActiveTrigger`.
    :return: the ``datasetExportJob`` description of an ACTIVE job.
    :raises DatasetExportJobFailedError: the job ended CREATE FAILED (reason redacted).
    :raises DatasetExportJobWaitError: the job has not ended (the trigger met an error or reached its
        deadline).
    """
    from airflow.providers.amazon.aws.utils import validate_execute_complete_event

    from airflow_provider_personalize_deletion.exceptions import DatasetExportJobWaitError
    from airflow_provider_personalize_deletion.hooks.personalize import check_export_outcome

    event = validate_execute_complete_event(event)
    job = hook.describe_dataset_export_job(event["dataset_export_job_arn"])
    if check_export_outcome(job):
        return job
    raise DatasetExportJobWaitError(job["datasetExportJobArn"], job["status"], event.get("message"))
