"""Operator that creates an Amazon Personalize dataset export job exactly once, and waits for it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import conf

from airflow_provider_personalize_deletion.hooks.personalize import (
    EXPORT_FAILURE_STATES,
    PersonalizeHook,
    build_export_request,
    check_export_outcome,
)
from airflow_provider_personalize_deletion.operators.job_identity import JobKind
from airflow_provider_personalize_deletion.operators.job_wait import JobWaitMixin, check_job_wait_settings
from airflow_provider_personalize_deletion.operators.quiet_wait import QuietWaitMixin, check_quiet_settings
from airflow_provider_personalize_deletion.operators.slot_wait import SlotWaitMixin
from airflow_provider_personalize_deletion.triggers.dataset_export import (
    DEFAULT_EXPORT_WAITER_DELAY,
    DEFAULT_EXPORT_WAITER_MAX_ATTEMPTS,
    PersonalizeDatasetExportJobActiveTrigger,
    exported_job_from_event,
)
from airflow_provider_personalize_deletion.triggers.personalize import (
    DEFAULT_QUIET_POLL_INTERVAL,
    DEFAULT_QUIET_TIMEOUT,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_personalize_deletion.hooks.activity import Activity

#: XCom key of the job's ARN, pushed as soon as the job exists (before waiting): a task that reads the
#: export's outcome finds the job even when this task failed on it.
EXPORT_JOB_XCOM_KEY = "dataset_export_job_arn"
#: ``task_state_store`` keys of this task instance's export job (see :mod:`.job_identity`).
EXPORT_JOB_STATE_KEY = "personalize_dataset_export_job_arn"
EXPORT_SUPERSEDED_STATE_KEY = "personalize_superseded_export_job_arns"
EXPORT_SERIES_STATE_KEY = "personalize_dataset_export_job_series"
#: ``task_state_store`` key: ``{"try_number": ..., "started": ...}``, when this try began waiting for a slot.
SLOT_WAIT_STATE_KEY = "personalize_export_slot_wait_started"
#: Why the service refused a create that waits for a slot, by error code.
EXPORT_BUSY_REASONS = {
    "LimitExceededException": "LimitExceededException, its limit of dataset export jobs in progress",
    "ResourceInUseException": "ResourceInUseException, a resource the job depends on is in use",
}


def _same_export(described: dict[str, Any], inputs: dict[str, Any]) -> bool:
    """Whether an existing export job exports the same dataset to the same folder (what names the job)."""
    return (
        described["datasetArn"] == inputs["dataset_arn"]
        and described["jobOutput"]["s3DataDestination"]["path"] == inputs["s3_path"]
    )


#: Dataset export jobs, for the exactly-once create.
DATASET_EXPORT_JOB = JobKind(
    noun="dataset export job",
    arn_key="datasetExportJobArn",
    name_prefix="export",
    parent_input="dataset_arn",
    location_input="s3_path",
    failure_states=EXPORT_FAILURE_STATES,
    arn_state_key=EXPORT_JOB_STATE_KEY,
    superseded_state_key=EXPORT_SUPERSEDED_STATE_KEY,
    series_state_key=EXPORT_SERIES_STATE_KEY,
    list_jobs=lambda hook, parent: hook.list_dataset_export_jobs(parent),
    describe=lambda hook, arn: hook.describe_dataset_export_job(arn),
    create=lambda hook, name, inputs: hook.create_dataset_export_job(job_name=name, **inputs),
    same_input=_same_export,
)


class PersonalizeCreateDatasetExportJobOperator(
    SlotWaitMixin, QuietWaitMixin, JobWaitMixin, AwsBaseOperator[PersonalizeHook]
):
    """
    Export a dataset's records as CSV files to S3 with a dataset export job, created exactly once.

    **Exactly once**, with the machinery of the other create operators (:mod:`.job_identity`): the job is
    named after the task instance and its input (a digest of the DAG id, task id, run id, map index,
    dataset ARN and output path: :func:`.deterministic_job_name` with the prefix ``export``). Before
    creating, the task looks for the ARN an earlier try recorded in ``task_state_store``, then lists the
    dataset's export jobs, and carries on with its own job unless it ended CREATE FAILED; then it creates
    the next generation (``-g1``, ``-g2``, ...) and pushes the FAILED jobs' ARNs as XCom
    ``superseded_job_arns``. A create refused with ResourceAlreadyExistsException (a re-sent call, a
    concurrent try) carries on with the job of that name only if it exports this dataset to this path. A
    retried or cleared task, even one whose worker died just after creating, thus never creates a second
    job, and never carries on with another run's.

    **Limits.** The service takes a few export jobs at a time (the emulator: 5 CREATE PENDING or
    CREATE IN_PROGRESS per region). A create refused with LimitExceededException waits and tries again
    (in the triggerer when deferrable; :mod:`.slot_wait`), every ``slot_wait_delay`` seconds, up to
    ``slot_wait_timeout`` per try: the exports queue, they never exceed the limit.

    **No export while a data deletion job runs.** Immediately before each create call (the first, a
    retry's, and each after waiting for a slot) the task lists the dataset group's data deletion jobs and,
    with ``action_if_not_quiet="wait"``, waits until none is PENDING or IN_PROGRESS (in the triggerer when
    deferrable), for up to ``quiet_timeout`` per try (:mod:`.quiet_wait`): an export during a deletion job
    races it, and catches users half-deleted. ``"fail"`` fails the try at once, ``"ignore"`` does not look.

    Returns (XCom) the job's ARN, also pushed as XCom ``dataset_export_job_arn`` once the job exists.

    :param dataset_arn: the dataset to export (Interactions, Items or Users). (templated)
    :param s3_path: ``s3://`` folder, ending with ``/``, the files go to. (templated)
    :param role_arn: IAM role Personalize assumes to write the files. (templated)
    :param ingestion_mode: ``BULK``, ``PUT`` or ``ALL``. (default: ``ALL``, so that data of
        PutEvents/PutUsers counts too; the service's default is PUT; templated)
    :param kms_key_arn: KMS key of the output, if any. (templated)
    :param tags: tags for the job: a mapping of key to value, or boto3's list. (templated)
    :param wait_for_completion: wait until the job is ACTIVE (and fail if it ended CREATE FAILED).
        (default: True)
    :param deferrable: wait in the triggerer instead of a worker, for the job and for a slot.
        (default: ``[operators] default_deferrable``, False unless configured)
    :param waiter_delay: seconds between two status checks of the job. (default: 60)
    :param waiter_max_attempts: status checks before giving up. (default: 1440, a day at 60 s)
    :param slot_wait_delay: seconds between two create attempts while the limit is reached. (default: 60)
    :param slot_wait_timeout: give up waiting for a slot after this many seconds. (default: 6 hours)
    :param action_if_not_quiet: ``"wait"``, ``"fail"`` or ``"ignore"``: what to do when a data deletion
        job runs on the dataset's group before creating. (default: ``"wait"``)
    :param quiet_timeout: give up waiting for the deletion jobs after this many seconds (per try).
        (default: 24 hours)
    :param quiet_poll_interval: seconds between two listings while waiting. (default: 300)
    :param aws_conn_id: the Airflow connection used for AWS credentials. (templated)
    :param region_name: AWS region of the dataset. (templated)
    :param verify: whether to verify SSL certificates. (templated)
    :param botocore_config: configuration dictionary (key-values) for the botocore client.
    """

    aws_hook_class = PersonalizeHook
    job_kind = DATASET_EXPORT_JOB
    job_trigger = PersonalizeDatasetExportJobActiveTrigger
    slot_wait_state_key = SLOT_WAIT_STATE_KEY
    busy_reasons = EXPORT_BUSY_REASONS
    quiet_watch = "data_deletion_jobs"
    not_quiet_consequence = (
        "An export while a data deletion job runs races it (a user caught mid-deletion is not a "
        "reappearance); no export job was created"
    )
    #: Always named after the task instance and its input; a job of that name is this task instance's.
    job_name = None
    action_if_job_exists = "fail"
    template_fields: Sequence[str] = aws_template_fields(
        "dataset_arn", "s3_path", "role_arn", "ingestion_mode", "kms_key_arn", "tags"
    )
    template_fields_renderers = {"tags": "json"}
    ui_color = "#8ab4f8"

    def __init__(
        self,
        *,
        dataset_arn: str,
        s3_path: str,
        role_arn: str,
        ingestion_mode: str = "ALL",
        kms_key_arn: str | None = None,
        tags: Mapping[str, str] | list[dict[str, str]] | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        waiter_delay: int = DEFAULT_EXPORT_WAITER_DELAY,
        waiter_max_attempts: int = DEFAULT_EXPORT_WAITER_MAX_ATTEMPTS,
        slot_wait_delay: float = 60,
        slot_wait_timeout: float = 6 * 3600,
        action_if_not_quiet: str = "wait",
        quiet_timeout: float = DEFAULT_QUIET_TIMEOUT,
        quiet_poll_interval: float = DEFAULT_QUIET_POLL_INTERVAL,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for name, value in (("slot_wait_delay", slot_wait_delay), ("slot_wait_timeout", slot_wait_timeout)):
            if not value > 0:
                raise ValueError(f"Invalid parameter {name!r}: must be a positive number of seconds")
        check_quiet_settings(action_if_not_quiet, quiet_timeout, quiet_poll_interval)
        check_job_wait_settings(waiter_delay, waiter_max_attempts)
        self.dataset_arn = dataset_arn
        self.s3_path = s3_path
        self.role_arn = role_arn
        self.ingestion_mode = ingestion_mode
        self.kms_key_arn = kms_key_arn
        self.tags = tags
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        self.slot_wait_delay = slot_wait_delay
        self.slot_wait_max_delay = slot_wait_delay  # a wait of slot_wait_delay each time
        self.slot_wait_timeout = slot_wait_timeout
        self.action_if_not_quiet = action_if_not_quiet
        self.quiet_timeout = quiet_timeout
        self.quiet_poll_interval = quiet_poll_interval
        self._dataset_group_arn: str | None = None

    def execute(self, context: Context) -> str:
        return self._create_and_wait(context, slot_wait_started=None)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """Check the job's outcome once the trigger has fired (see :func:`.exported_job_from_event`)."""
        return str(exported_job_from_event(self.hook, event)["datasetExportJobArn"])

    def _create_and_wait(
        self, context: Context, slot_wait_started: str | None, quiet_wait_started: str | None = None
    ) -> str:
        inputs: dict[str, Any] = {
            "dataset_arn": self.dataset_arn,
            "role_arn": self.role_arn,
            "s3_path": self.s3_path,
            "ingestion_mode": self.ingestion_mode,
            "kms_key_arn": self.kms_key_arn,
            "tags": self.tags,
        }
        series, _ = self._series(context, inputs)
        build_export_request(series, **inputs)  # refuses bad input before any call
        arn, _ = self._this_task_instances_job(context, inputs, slot_wait_started, quiet_wait_started)
        context["ti"].xcom_push(key=EXPORT_JOB_XCOM_KEY, value=arn)
        if self.wait_for_completion:
            self._defer_or_wait(arn)
            job = self.hook.describe_dataset_export_job(arn)
            if not check_export_outcome(job):
                from airflow_provider_personalize_deletion.exceptions import DatasetExportJobWaitError

                raise DatasetExportJobWaitError(arn, job["status"], "the wait ran out")
        return arn

    def _before_create(self, context: Context, quiet_wait_started: str | None) -> None:
        self._wait_for_quiet(context, quiet_wait_started)

    def _after_slot_wait(self, context: Context) -> None:
        # A deletion job may have started while this worker waited for a slot.
        self._wait_for_quiet(context, None)

    def _quiet_group(self) -> str:
        """The dataset's group (DescribeDataset, once)."""
        if self._dataset_group_arn is None:
            self._dataset_group_arn = self.hook.dataset_group_of(self.dataset_arn)
        return self._dataset_group_arn

    def _busy(self, dataset_group_arn: str, first: bool) -> list[Activity]:
        return self.hook.running_data_deletion_jobs(dataset_group_arn)
