"""Waiting for a created job: in the triggerer when deferrable, else in the worker with the same waiter."""

from __future__ import annotations

from typing import Any, ClassVar, cast

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.waiter_with_logging import wait
from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
from airflow_provider_personalize_deletion.triggers.base import SharedClientWaiterTrigger
from airflow_provider_personalize_deletion.triggers.wait_bounds import check_attempts, check_interval


def check_job_wait_settings(waiter_delay: object, waiter_max_attempts: object) -> None:
    """
    Refuse a bad wait for a created job when the operator is built, before its create call.

    :raises ValueError: ``waiter_delay`` is not a finite number of seconds of at least 1, or
        ``waiter_max_attempts`` not a whole number of at least 1; the error names which.
    """
    check_interval("waiter_delay", waiter_delay)
    check_attempts("waiter_max_attempts", waiter_max_attempts)


class JobWaitMixin(AwsBaseOperator[PersonalizeHook]):
    """
    The wait for a created job, a base of the create operators.

    The operator sets :attr:`job_trigger`, ``deferrable``, ``waiter_delay`` and ``waiter_max_attempts``,
    and implements ``execute_complete``, which the trigger's event resumes.
    """

    #: The trigger of the job: its waiter, the waiter's argument and log lines serve both waits.
    job_trigger: ClassVar[type[SharedClientWaiterTrigger]]

    deferrable: bool
    waiter_delay: int
    waiter_max_attempts: int

    def _defer_or_wait(self, arn: str) -> str | None:
        """
        Defer to :attr:`job_trigger` when deferrable; else wait here until the waiter ends.

        :param arn: the job's ARN.
        :return: what the wait met when it ended without success (the job's description says why), or
            None.
        """
        trigger = self.job_trigger(
            waiter_delay=self.waiter_delay,
            waiter_max_attempts=self.waiter_max_attempts,
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            botocore_config=self.botocore_config,
            **cast("dict[str, Any]", {self.job_trigger.job_arn_field: arn}),
        )
        if self.deferrable:
            self.defer(trigger=trigger, method_name="execute_complete")
        try:
            wait(
                waiter=self.hook.get_waiter(trigger.waiter_name),
                waiter_delay=trigger.waiter_delay,
                waiter_max_attempts=trigger.attempts,
                args=trigger.waiter_args,
                failure_message=trigger.failure_message,
                status_message=trigger.status_message,
                status_args=trigger.status_queries,
            )
        except AirflowException as error:
            self.log.info("Waiting ended without success; the job's description says why")
            return str(error)
        return None
