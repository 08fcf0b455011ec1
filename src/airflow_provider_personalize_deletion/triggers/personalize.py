"""Trigger that waits, in the triggerer, for a data deletion job to end."""

from __future__ import annotations

from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger

from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook

#: Seconds between two DescribeDataDeletionJob calls.
DEFAULT_WAITER_DELAY = 60
#: A job can take up to a day: 1500 polls a minute apart cover 25 hours.
DEFAULT_WAITER_MAX_ATTEMPTS = 1500


class PersonalizeDataDeletionJobCompletedTrigger(AwsBaseWaiterTrigger):
    """
    Fire when a data deletion job is COMPLETED or FAILED, or when the attempts run out.

    The event is ``{"status": "success" | "error", "data_deletion_job_arn": ..., "message": ...}``;
    the task that deferred describes the job once more to decide, so the event needs no more.

    :param data_deletion_job_arn: ARN of the job to wait for.
    :param waiter_delay: seconds between two polls. (default: 60)
    :param waiter_max_attempts: polls before giving up. (default: 1500, 25 hours at the default delay)
    :param aws_conn_id: the Airflow connection used for AWS credentials.
    :param region_name: the AWS region of the job.
    :param verify: whether to verify SSL certificates. See:
        https://boto3.amazonaws.com/v1/documentation/api/latest/reference/core/session.html
    :param botocore_config: configuration dictionary (key-values) for the botocore client. See:
        https://botocore.amazonaws.com/v1/documentation/api/latest/reference/config.html
    """

    aws_hook_class = PersonalizeHook

    def __init__(
        self,
        *,
        data_deletion_job_arn: str,
        waiter_delay: int = DEFAULT_WAITER_DELAY,
        waiter_max_attempts: int = DEFAULT_WAITER_MAX_ATTEMPTS,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
    ) -> None:
        super().__init__(
            serialized_fields={"data_deletion_job_arn": data_deletion_job_arn},
            waiter_name="data_deletion_job_complete",
            waiter_args={"dataDeletionJobArn": data_deletion_job_arn},
            failure_message="Personalize data deletion job failed.",
            status_message="Status of Personalize data deletion job is",
            status_queries=["dataDeletionJob.status"],
            return_key="data_deletion_job_arn",
            return_value=data_deletion_job_arn,
            waiter_delay=waiter_delay,
            waiter_max_attempts=waiter_max_attempts,
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            verify=verify,
            botocore_config=botocore_config,
        )
