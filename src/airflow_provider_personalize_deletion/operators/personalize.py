"""Operator that creates an Amazon Personalize data deletion job exactly once."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils import validate_execute_complete_event
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.amazon.aws.utils.waiter_with_logging import wait
from airflow.providers.common.compat.sdk import AirflowException, conf
from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from botocore.exceptions import ClientError

from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook, build_create_request
from airflow_provider_personalize_deletion.links.personalize import PersonalizeDataDeletionJobLink
from airflow_provider_personalize_deletion.triggers.personalize import (
    DEFAULT_WAITER_DELAY,
    DEFAULT_WAITER_MAX_ATTEMPTS,
    PersonalizeDataDeletionJobCompletedTrigger,
)
from airflow_provider_personalize_deletion.utils.job_names import deterministic_job_name

if TYPE_CHECKING:
    from airflow.sdk import Context


def _same_input(described: dict[str, Any], job: dict[str, Any]) -> bool:
    """Whether an existing job deletes from the same dataset group, reading the same location."""
    return (
        described["datasetGroupArn"] == job["dataset_group_arn"]
        and described["dataSource"]["dataLocation"] == job["data_location"]
    )


#: What to do when a job of the same name already exists and this task did not record creating it.
IF_EXISTS_CHOICES = ("reuse", "fail")

#: Refusals that mean "not now": the job is created once the dataset group is free again.
BUSY_ERROR_CODES = {
    "LimitExceededException": "5 PENDING data deletion jobs, the service's limit",
    "ResourceInUseException": "a resource it depends on is in use",
}

#: Key under which the created job's ARN is kept in Airflow 3.3's durable ``task_state_store``.
TASK_STATE_KEY = "personalize_data_deletion_job_arn"


class PersonalizeCreateDataDeletionJobOperator(AwsBaseOperator[PersonalizeHook]):
    """
    Create a data deletion job that erases the users listed in a USER_ID CSV from a dataset group.

    **Exactly once.** Unless ``job_name`` is given, the job is named after the task instance (DAG,
    task, run, map index) and its input (dataset group, data location), so every try of the task
    has the same name. Before creating, the task looks for the ARN it recorded in
    ``task_state_store`` (Airflow 3.3+), then for a job of that name in the dataset group; the
    create call itself is refused by the service with ResourceAlreadyExistsException for a name in
    use. A retried task, even one whose worker died between the create call and pushing the ARN,
    thus carries on with the job it already created. A job is only reused if it deletes from the
    same dataset group and reads the same data location: a cleared task whose input changed gets a
    new job, and a fixed ``job_name`` shared by other input is refused.

    **Limits.** A dataset group takes at most 5 PENDING jobs; when the service answers
    LimitExceededException (or ResourceInUseException, a resource the job needs being busy), the
    task waits and tries again (in the triggerer when deferrable), each wait as long as it has
    already waited (between ``slot_wait_delay`` and ``slot_wait_max_delay``), for up to
    ``slot_wait_timeout``. botocore's standard retry mode retries LimitExceededException itself a
    few times first.

    **Bad input** (a rule of the service model broken, a non-``s3://`` location, an unknown dataset
    group) is refused before the create call, by an error naming the parameter and the rule.

    Returns (XCom) the job's ARN.

    :param dataset_group_arn: the dataset group to delete the users from. (templated)
    :param data_location: ``s3://`` URI of the USER_ID CSV file, or of a folder ending in ``/``.
        (templated)
    :param role_arn: IAM role Personalize assumes to read ``data_location``. (templated)
    :param job_name: the job's name. (default: derived from the task instance; templated)
    :param tags: tags for the job, as a mapping of key to value. (templated)
    :param if_exists: ``"reuse"`` carries on with an existing job of the same name and input;
        ``"fail"`` raises. A job this task recorded creating in ``task_state_store`` is always
        reused; without that store (before Airflow 3.3), ``"fail"`` also raises for the task's own
        job when a worker died after creating it. (default: ``"reuse"``)
    :param wait_for_completion: wait until the job is COMPLETED (and fail if it FAILED).
        (default: False)
    :param deferrable: wait in the triggerer instead of a worker, for the job and for a slot.
        (default: ``[operators] default_deferrable``, False unless configured)
    :param waiter_delay: seconds between two status checks of the job. (default: 60)
    :param waiter_max_attempts: status checks before giving up. (default: 1500, 25 hours at 60 s)
    :param slot_wait_delay: first wait, in seconds, after LimitExceededException. (default: 30)
    :param slot_wait_max_delay: longest single wait for a slot, in seconds. (default: 600)
    :param slot_wait_timeout: give up waiting for a slot after this many seconds. (default: 6 hours)
    :param aws_conn_id: the Airflow connection used for AWS credentials. (templated)
    :param region_name: AWS region of the dataset group. (templated)
    :param verify: whether to verify SSL certificates. (templated)
    :param botocore_config: configuration dictionary (key-values) for the botocore client.
    """

    aws_hook_class = PersonalizeHook
    template_fields: Sequence[str] = aws_template_fields(
        "dataset_group_arn", "data_location", "role_arn", "job_name", "tags"
    )
    template_fields_renderers = {"tags": "json"}
    operator_extra_links = (PersonalizeDataDeletionJobLink(),)
    ui_color = "#8ab4f8"

    def __init__(
        self,
        *,
        dataset_group_arn: str,
        data_location: str,
        role_arn: str,
        job_name: str | None = None,
        tags: dict[str, str] | None = None,
        if_exists: str = "reuse",
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        waiter_delay: int = DEFAULT_WAITER_DELAY,
        waiter_max_attempts: int = DEFAULT_WAITER_MAX_ATTEMPTS,
        slot_wait_delay: float = 30,
        slot_wait_max_delay: float = 600,
        slot_wait_timeout: float = 6 * 3600,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if if_exists not in IF_EXISTS_CHOICES:
            raise ValueError(f"Invalid parameter 'if_exists': must be one of {IF_EXISTS_CHOICES}")
        self.dataset_group_arn = dataset_group_arn
        self.data_location = data_location
        self.role_arn = role_arn
        self.job_name = job_name
        self.tags = tags
        self.if_exists = if_exists
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        self.slot_wait_delay = slot_wait_delay
        self.slot_wait_max_delay = slot_wait_max_delay
        self.slot_wait_timeout = slot_wait_timeout

    def execute(self, context: Context) -> str:
        return self._create_and_wait(context, slot_wait_started=None)

    def resume_after_slot_wait(
        self, context: Context, event: Any = None, slot_wait_started: str | None = None
    ) -> str:
        """Try creating again after waiting in the triggerer for a free slot."""
        return self._create_and_wait(context, slot_wait_started=slot_wait_started)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """Check the job's outcome once the trigger has fired."""
        arn = validate_execute_complete_event(event)["data_deletion_job_arn"]
        self.hook.describe_finished_data_deletion_job(arn)
        return arn

    def _create_and_wait(self, context: Context, slot_wait_started: str | None) -> str:
        job: dict[str, Any] = {
            "job_name": self.job_name or self._default_job_name(context),
            "dataset_group_arn": self.dataset_group_arn,
            "data_location": self.data_location,
            "role_arn": self.role_arn,
            "tags": self.tags,
        }
        build_create_request(**job)  # refuses bad input before any call
        arn = self._recorded_job(context, job) or self._existing_job(job)
        while arn is None:
            try:
                arn = self._create(job)
            except ClientError as error:
                if error.response["Error"]["Code"] not in BUSY_ERROR_CODES:
                    raise
                slot_wait_started = slot_wait_started or datetime.now(timezone.utc).isoformat()
                self._wait_for_slot(slot_wait_started, error.response["Error"]["Code"])
        self._record(context, arn)
        if self.wait_for_completion:
            self._wait_for_job(arn)
        return arn

    def _default_job_name(self, context: Context) -> str:
        ti = context["ti"]
        return deterministic_job_name(
            ti.dag_id,
            ti.task_id,
            ti.run_id,
            ti.map_index if ti.map_index is not None else -1,
            self.dataset_group_arn,
            self.data_location,
        )

    def _recorded_job(self, context: Context, job: dict[str, Any]) -> str | None:
        """The ARN an earlier try of this task recorded creating, if it exists and has this input."""
        store = context.get("task_state_store")
        recorded = store.get(TASK_STATE_KEY) if store is not None else None
        if not isinstance(recorded, str) or not recorded:
            return None
        try:
            described = self.hook.describe_data_deletion_job(recorded)
        except self.hook.client.exceptions.ResourceNotFoundException:
            self.log.warning("The job an earlier try recorded, %s, no longer exists", recorded)
            return None
        if not _same_input(described, job):
            # A cleared and re-run task instance: the earlier job read other input.
            self.log.info("The job an earlier try recorded, %s, read other input: not reusing it", recorded)
            return None
        self.log.info("Carrying on with the job an earlier try of this task created: %s", recorded)
        return recorded

    def _existing_job(self, job: dict[str, Any]) -> str | None:
        """The ARN of this dataset group's job of the same name, after checking the group exists."""
        self.hook.check_dataset_group_exists(self.dataset_group_arn)
        found = self.hook.find_data_deletion_job(self.dataset_group_arn, job["job_name"])
        return None if found is None else self._reuse(job, found["dataDeletionJobArn"])

    def _reuse(self, job: dict[str, Any], arn: str) -> str:
        """Carry on with an existing job of the same name, if allowed and if it reads the same input."""
        if self.if_exists == "fail":
            raise AirflowException(f"A data deletion job named {job['job_name']!r} already exists: {arn}")
        if not _same_input(self.hook.describe_data_deletion_job(arn), job):
            raise PersonalizeValidationError(
                "jobName",
                "is already used by a data deletion job with another dataset group or data location",
            )
        self.log.info(
            "A data deletion job named %s already exists; carrying on with it: %s", job["job_name"], arn
        )
        return arn

    def _create(self, job: dict[str, Any]) -> str:
        try:
            arn = self.hook.create_data_deletion_job(**job)
        except self.hook.client.exceptions.ResourceAlreadyExistsException:
            # Created by a concurrent try between our look-up and this call.
            existing = self.hook.find_data_deletion_job(self.dataset_group_arn, job["job_name"])
            if existing is None:
                raise PersonalizeValidationError(
                    "jobName", "is already used by a data deletion job of another dataset group"
                ) from None
            return self._reuse(job, existing["dataDeletionJobArn"])
        self.log.info("Created data deletion job %s: %s", job["job_name"], arn)
        return arn

    def _wait_for_slot(self, slot_wait_started: str, error_code: str) -> None:
        waited = (datetime.now(timezone.utc) - datetime.fromisoformat(slot_wait_started)).total_seconds()
        if waited >= self.slot_wait_timeout:
            raise AirflowException(
                f"Dataset group {self.dataset_group_arn} was still busy ({BUSY_ERROR_CODES[error_code]}) "
                f"after {waited:.0f} s of waiting (slot_wait_timeout={self.slot_wait_timeout})"
            )
        delay = min(self.slot_wait_max_delay, max(self.slot_wait_delay, waited))
        delay = min(delay, self.slot_wait_timeout - waited)
        self.log.info(
            "Dataset group %s is busy (%s); waiting %.0f s before trying again (waited %.0f s of %.0f s)",
            self.dataset_group_arn,
            BUSY_ERROR_CODES[error_code],
            delay,
            waited,
            self.slot_wait_timeout,
        )
        if self.deferrable:
            self.defer(
                trigger=TimeDeltaTrigger(timedelta(seconds=delay)),
                method_name="resume_after_slot_wait",
                kwargs={"slot_wait_started": slot_wait_started},
            )
        time.sleep(delay)

    def _record(self, context: Context, arn: str) -> None:
        store = context.get("task_state_store")
        if store is not None:
            store.set(TASK_STATE_KEY, arn)
        PersonalizeDataDeletionJobLink.persist(
            context=context,
            operator=self,
            region_name=self.hook.conn_region_name,
            aws_partition=self.hook.conn_partition,
            dataset_group_arn=self.dataset_group_arn,
        )

    def _wait_for_job(self, arn: str) -> None:
        if self.deferrable:
            self.defer(
                trigger=PersonalizeDataDeletionJobCompletedTrigger(
                    data_deletion_job_arn=arn,
                    waiter_delay=self.waiter_delay,
                    waiter_max_attempts=self.waiter_max_attempts,
                    aws_conn_id=self.aws_conn_id,
                    region_name=self.region_name,
                    verify=self.verify,
                    botocore_config=self.botocore_config,
                ),
                method_name="execute_complete",
            )
        try:
            wait(
                waiter=self.hook.get_waiter("data_deletion_job_complete"),
                waiter_delay=self.waiter_delay,
                waiter_max_attempts=self.waiter_max_attempts,
                args={"dataDeletionJobArn": arn},
                failure_message="Personalize data deletion job failed.",
                status_message="Status of Personalize data deletion job is",
                status_args=["dataDeletionJob.status"],
            )
        except AirflowException:
            self.log.info("Waiting ended without success; the job's description says why")
        self.hook.describe_finished_data_deletion_job(arn)
