"""Exceptions this provider raises on top of Airflow's."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException, AirflowFailException


def _redacted(text: str | None, default: str) -> str:
    """
    ``text`` redacted (see :func:`.redaction.redact_failure_reason`), or ``default`` when there is none.

    The redaction module is imported here, when an error is raised: DAG files import this module
    (through the operators) at every parse, and compiling its patterns costs more than the rest.

    :param text: the service's message.
    :param default: what to say when it gave none.
    """
    from airflow_provider_personalize_deletion.utils.redaction import redact_failure_reason

    return redact_failure_reason(text) or default


class DataDeletionJobFailedError(AirflowFailException):
    """
    A data deletion job ended FAILED; retrying the task cannot change that, so it is not retried.

    The service's reason may quote a user id: it is kept redacted (``reason``, the message).

    :param job_arn: the job's ARN.
    :param reason: the service's ``failureReason``.
    """

    def __init__(self, job_arn: str, reason: str | None) -> None:
        self.job_arn = job_arn
        self.reason = _redacted(reason, "no failureReason given")
        super().__init__(f"Personalize data deletion job {job_arn} FAILED: {self.reason}")


class DatasetImportJobFailedError(AirflowFailException):
    """
    A dataset import job ended CREATE FAILED; retrying the task cannot change that, so it is not retried.

    The service's reason may quote a value of the file: it is kept redacted (``reason``, the message).

    :param job_arn: the job's ARN.
    :param reason: the service's ``failureReason``.
    """

    def __init__(self, job_arn: str, reason: str | None) -> None:
        self.job_arn = job_arn
        self.reason = _redacted(reason, "no failureReason given")
        super().__init__(f"Personalize dataset import job {job_arn} FAILED: {self.reason}")


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


class DataDeletionJobWaitError(AirflowException):
    """
    Waiting for a data deletion job in the triggerer ended with an error, not with the job's outcome.

    An AWS error while polling (an access denied, a network failure): the job itself may be fine.
    The task is retried like on any other error; its retry carries on with the same job.

    :param job_arn: the job's ARN.
    :param message: the trigger's message (redacted and bounded here).
    """

    def __init__(self, job_arn: str, message: str | None) -> None:
        self.job_arn = job_arn
        self.message = _redacted(message, "no message given")
        super().__init__(f"Waiting for Personalize data deletion job {job_arn} failed: {self.message}")


class DatasetImportJobWaitError(AirflowException):
    """
    Waiting for a dataset import job ended (an AWS error while polling, or the attempts ran out) while
    the job had not ended. The task is retried like on any other error; its retry carries on with the
    same job.

    :param job_arn: the job's ARN.
    :param status: the job's status.
    :param message: the trigger's or waiter's message (redacted and bounded here).
    """

    def __init__(self, job_arn: str, status: str, message: str | None) -> None:
        self.job_arn = job_arn
        self.message = _redacted(message, "no message given")
        super().__init__(
            f"Waiting for Personalize dataset import job {job_arn} ended while it is still {status}: "
            f"{self.message}"
        )


class DatasetGroupNotQuietError(AirflowException):
    """
    Something that must not overlap a new job still ran on its dataset group when the job was to be
    created (a training or import before a data deletion job; a data deletion job before an import).

    Raised at once with ``action_if_not_quiet="fail"``, or when ``quiet_timeout`` ran out. No job was
    created; a retry of the task looks again (and waits again, with ``"wait"``).

    :param dataset_group_arn: the dataset group.
    :param summary: what was in progress: kinds, counts and ARNs (never data).
    :param detail: why the task gave up (the setting, or how long it waited).
    :param consequence: why the job was not created; by default, a data deletion job's reason.
    """

    def __init__(self, dataset_group_arn: str, summary: str, detail: str, consequence: str = "") -> None:
        self.dataset_group_arn = dataset_group_arn
        self.summary = summary
        consequence = consequence or (
            "Amazon Personalize cannot guarantee a data deletion job's effect on models trained or data "
            "imported while it runs; no job was created"
        )
        super().__init__(
            f"Dataset group {dataset_group_arn} is not quiet, {detail}: in progress {summary}. {consequence}"
        )


class DatasetGroupActivityError(AirflowException):
    """
    Waiting in the triggerer for a quiet dataset group ended with an error (an access denied on a
    List call, a network failure), not with an answer. The task is retried like on any other error.

    :param dataset_group_arn: the dataset group.
    :param message: the trigger's message (redacted and bounded here).
    """

    def __init__(self, dataset_group_arn: str, message: str | None) -> None:
        self.dataset_group_arn = dataset_group_arn
        self.message = _redacted(message, "no message given")
        super().__init__(
            f"Listing the activity of dataset group {dataset_group_arn} in the triggerer failed: "
            f"{self.message}"
        )


class FingerprintKeyError(AirflowFailException):
    """
    The setting ``[personalize_deletion] fingerprint_key`` is unset or too short.

    Not retried: a retry reads the same configuration. The message never quotes the value.
    """


class SuppressionKeyError(AirflowFailException):
    """
    The suppression list holds entries made with a key the reader was not given.

    The fingerprint key changed or was lost since they were written: no id can be checked against
    them, and none is passed as not suppressed. Retrying cannot help, so the task is not retried.

    :param table: the suppression table.
    :param foreign: how many entries carry each key id the reader was not given.
    :param given: the key ids of the keys the reader was given, the current key's first.
    :param advice: what to do; by default, restore the key or re-key the list.
    """

    def __init__(self, table: str, foreign: dict[str, int], given: list[str], advice: str = "") -> None:
        self.table = table
        self.foreign = dict(foreign)
        self.given = list(given)
        entries = ", ".join(f"{count} under key id {key_id}" for key_id, count in sorted(foreign.items()))
        previous = f" (previous keys: {', '.join(given[1:])})" if given[1:] else ""
        super().__init__(
            f"The suppression list {table} holds entries made with another key: {entries}; the "
            f"fingerprint key given has key id {given[0]}{previous}. The key changed or was lost since "
            "they were written, so no user id can be checked against them and none is reported as not "
            "suppressed. "
            + (
                advice
                or "Restore the key that made them, or re-key the list with "
                "`personalize-deletion-suppression rekey` (README: Re-keying the suppression list)"
            )
        )


class DatasetExportJobFailedError(AirflowFailException):
    """
    A dataset export job ended CREATE FAILED; retrying the task cannot change that.

    The service's reason may quote a value of the data: it is kept redacted (``reason``, the message).

    :param job_arn: the job's ARN.
    :param reason: the service's ``failureReason``.
    """

    def __init__(self, job_arn: str, reason: str | None) -> None:
        self.job_arn = job_arn
        self.reason = _redacted(reason, "no failureReason given")
        super().__init__(f"Personalize dataset export job {job_arn} FAILED: {self.reason}")


class DatasetExportJobWaitError(AirflowException):
    """
    Waiting for a dataset export job ended without an outcome (an AWS error, or the attempts ran out).

    :param job_arn: the job's ARN.
    :param status: the job's last status.
    :param message: what the wait met.
    """

    def __init__(self, job_arn: str, status: str, message: str | None) -> None:
        self.job_arn = job_arn
        super().__init__(
            f"Personalize dataset export job {job_arn} is still {status}: {message or 'no detail'}"
        )
