"""Exceptions this provider raises on top of Airflow's."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowFailException


class DataDeletionJobFailedError(AirflowFailException):
    """
    A data deletion job ended FAILED; retrying the task cannot change that, so it is not retried.

    :param job_arn: the job's ARN.
    :param reason: the service's ``failureReason``.
    """

    def __init__(self, job_arn: str, reason: str | None) -> None:
        self.job_arn = job_arn
        self.reason = reason or "no failureReason given"
        super().__init__(f"Personalize data deletion job {job_arn} FAILED: {self.reason}")


class DataDeletionJobTimeoutError(AirflowFailException):
    """
    A data deletion job was still running when the wait ran out.

    Not retried, like a sensor's timeout: the wait already covered the longest a job takes.

    :param job_arn: the job's ARN.
    :param status: the job's last status.
    """

    def __init__(self, job_arn: str, status: str) -> None:
        self.job_arn = job_arn
        self.status = status
        super().__init__(
            f"Personalize data deletion job {job_arn} is still {status} after the configured wait; "
            "it goes on in Personalize: wait again with a sensor on this ARN"
        )


class PersonalizeValidationError(AirflowFailException, ValueError):
    """
    A request parameter breaks a rule of the Personalize service model.

    The task fails without retries: the same input would break the same rule. The message names
    the parameter (``dataSource.dataLocation``, ``tags[3].tagKey``) and the rule; it never repeats
    the offending value, which may be personal data or a secret.

    :param field: dotted path of the offending parameter.
    :param rule: the rule it broke, in words.
    """

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"Invalid parameter {field!r}: {rule}")
