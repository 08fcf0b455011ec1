"""Sensor that waits for a data deletion job to be COMPLETED, in a worker or in the triggerer."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import conf
from airflow.sdk.bases.sensor import PokeReturnValue

from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook, check_job_outcome
from airflow_provider_personalize_deletion.triggers.personalize import (
    DEFAULT_WAITER_DELAY,
    PersonalizeDataDeletionJobCompletedTrigger,
    completed_job_from_event,
)
from airflow_provider_personalize_deletion.triggers.wait_bounds import check_interval, deadline_in

if TYPE_CHECKING:
    from airflow.sdk import Context

#: A job can take up to a day; wait 25 hours by default.
DEFAULT_TIMEOUT = timedelta(hours=25)


class PersonalizeDataDeletionJobSensor(AwsBaseSensor[PersonalizeHook]):
    """
    Wait for a data deletion job to be COMPLETED; fail, without retrying, when it is FAILED.

    In deferrable mode the wait runs in the triggerer and holds no worker slot; an AWS error met
    there (an access denied on DescribeDataDeletionJob) fails the task with that error
    (:class:`~airflow_provider_personalize_deletion.exceptions.DataDeletionJobWaitError`, retried
    like any error), never as a timeout. Either way the task returns (XCom) the final job
    description as plain JSON: ``status``, ``numDeleted``, the ARNs, ISO-8601 timestamps, and a
    ``failureReason`` only in redacted form.

    **What overlapped.** Once the job COMPLETED, the sensor lists the dataset group's activity and adds
    ``overlapping_activity`` to its result: every import job, training (solution version), batch
    inference or batch segment job and recommender creation whose life (creation to last update, or
    to now while in progress) intersects the job's (``creationDateTime`` to ``lastUpdatedDateTime``),
    as ``{"kind", "arn", "status", "created", "last_updated"}`` records (ISO 8601), oldest first; an
    empty list when nothing overlapped. Amazon Personalize cannot guarantee that the users are gone
    from a model trained or data imported meanwhile and recommends another data deletion job: the
    sensor logs a warning but does not fail (the DAG decides, e.g. a follow-up job on the same file).
    Individual imports (PutEvents, PutUsers, PutItems) leave nothing the API lists: they are not seen.

    :param data_deletion_job_arn: ARN of the job to wait for. (templated)
    :param deferrable: wait in the triggerer instead of a worker.
        (default: ``[operators] default_deferrable``, False unless configured)
    :param poke_interval: seconds between two DescribeDataDeletionJob calls, a finite number, 0 or more;
        in the triggerer at least 1. (default: 60)
    :param timeout: how long to wait, in seconds (finite, 0 or more) or as a timedelta; in the
        triggerer the last call is made when it runs out, even when that is sooner than
        ``poke_interval``. (default: 25 hours)
    :param check_overlap: list what ran during the job's life (``overlapping_activity``); when False,
        ``overlapping_activity`` is None (not checked) and no List call is made. (default: True)
    :param aws_conn_id: the Airflow connection used for AWS credentials. (templated)
    :param region_name: AWS region of the job. (templated)
    :param verify: whether to verify SSL certificates. (templated)
    :param botocore_config: configuration dictionary (key-values) for the botocore client. (templated)
    """

    aws_hook_class = PersonalizeHook
    template_fields: Sequence[str] = aws_template_fields("data_deletion_job_arn")
    ui_color = "#8ab4f8"

    def __init__(
        self,
        *,
        data_deletion_job_arn: str,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float = DEFAULT_WAITER_DELAY,
        timeout: float | timedelta = DEFAULT_TIMEOUT,
        check_overlap: bool = True,
        **kwargs: Any,
    ) -> None:
        for name, value in (("poke_interval", poke_interval), ("timeout", timeout)):
            if value is not None and not isinstance(value, timedelta):  # Airflow fails on inf: OverflowError
                check_interval(name, value, minimum=0)
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        self.data_deletion_job_arn = data_deletion_job_arn
        self.deferrable = deferrable
        self.check_overlap = check_overlap

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        delay = max(1, int(self.poke_interval))
        self.defer(
            trigger=PersonalizeDataDeletionJobCompletedTrigger(
                data_deletion_job_arn=self.data_deletion_job_arn,
                waiter_delay=delay,
                waiter_max_attempts=max(1, math.ceil(self.timeout / delay)),
                deadline=deadline_in(self.timeout),
                aws_conn_id=self.aws_conn_id,
                region_name=self.region_name,
                verify=self.verify,
                botocore_config=self.botocore_config,
            ),
            method_name="execute_complete",
        )

    def poke(self, context: Context) -> PokeReturnValue:
        job = self.hook.describe_data_deletion_job(self.data_deletion_job_arn)
        self.log.info("Data deletion job %s is %s", job["jobName"], job["status"])
        if check_job_outcome(job):
            return PokeReturnValue(is_done=True, xcom_value=self._completed(job))
        return PokeReturnValue(is_done=False)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Decide from the job's description and the trigger's event: :func:`completed_job_from_event`."""
        return self._completed(completed_job_from_event(self.hook, event))

    def _completed(self, job: dict[str, Any]) -> dict[str, Any]:
        self.log.info(
            "Data deletion job %s COMPLETED: %s users deleted", job["jobName"], job.get("numDeleted")
        )
        overlap = None
        if self.check_overlap:
            overlap = [item.as_record() for item in self.hook.overlapping_activity(job)]
        if "failureReason" in job:
            from airflow_provider_personalize_deletion.utils.redaction import redact_failure_reason

            job = {**job, "failureReason": redact_failure_reason(job["failureReason"])}
        from airflow_provider_personalize_deletion.utils.json_safe import json_safe

        return {**json_safe(job), "overlapping_activity": overlap}
