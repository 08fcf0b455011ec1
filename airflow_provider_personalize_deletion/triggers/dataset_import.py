"""
The trigger that waits, in the triggerer, for a dataset import job to end.

Importing this module imports no AWS library: the triggerer imports it on its event loop (see
:mod:`.base`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_personalize_deletion.triggers.base import SharedClientWaiterTrigger
from airflow_provider_personalize_deletion.triggers.personalize import (
    DEFAULT_WAITER_DELAY,
    DEFAULT_WAITER_MAX_ATTEMPTS,
)

if TYPE_CHECKING:
    from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook


class PersonalizeDatasetImportJobActiveTrigger(SharedClientWaiterTrigger):
    """
    Fire when a dataset import job is ACTIVE or CREATE FAILED, or at its deadline.

    The event is ``{"status": "success" | "timeout" | "error", "dataset_import_job_arn": ...,
    "message": ...}``; the task that deferred decides with :func:`active_import_job_from_event`. The
    triggers of one triggerer with the same AWS settings share one client (see :mod:`.client_pool`).

    :param dataset_import_job_arn: ARN of the job to wait for.
    :param waiter_delay: seconds between two polls. (default: 60)
    :param waiter_max_attempts: with ``waiter_delay``, how long to wait. (default: 1500, 25 hours at 60 s)

    The AWS settings (``aws_conn_id``, ``region_name``, ``verify``, ``botocore_config``) are those of
    :class:`~.base.SharedClientWaiterTrigger`.
    """

    job_arn_field = "dataset_import_job_arn"
    job_member = "datasetImportJob"
    job_noun = "dataset import job"
    waiter_name = "dataset_import_job_active"
    default_waiter_delay = DEFAULT_WAITER_DELAY
    default_waiter_max_attempts = DEFAULT_WAITER_MAX_ATTEMPTS


def active_import_job_from_event(hook: PersonalizeHook, event: dict[str, Any] | None) -> dict[str, Any]:
    """
    Decide, after the trigger fired, from the job's own description and the event's status.

    :param hook: the task's hook, to describe the job.
    :param event: the event of :class:`PersonalizeDatasetImportJobActiveTrigger`.
    :return: the ``datasetImportJob`` description of an ACTIVE job.
    :raises DatasetImportJobFailedError: the job ended CREATE FAILED (reason redacted).
    :raises DatasetImportJobWaitError: the trigger met an error or reached its deadline, and the job has
        not ended.
    """
    from airflow.providers.amazon.aws.utils import validate_execute_complete_event

    from airflow_provider_personalize_deletion.exceptions import DatasetImportJobWaitError
    from airflow_provider_personalize_deletion.hooks.personalize import check_import_outcome

    event = validate_execute_complete_event(event)
    arn = event["dataset_import_job_arn"]
    job = hook.describe_dataset_import_job(arn)
    if check_import_outcome(job):
        return job
    raise DatasetImportJobWaitError(arn, job["status"], event.get("message"))
