"""Operator that creates an Amazon Personalize dataset import job exactly once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import conf

from airflow_provider_personalize_deletion.hooks.personalize import (
    IMPORT_FAILURE_STATES,
    PersonalizeHook,
    build_import_request,
    check_import_outcome,
)
from airflow_provider_personalize_deletion.operators.job_identity import (
    ACTION_IF_JOB_EXISTS_CHOICES,
    JobIdentityMixin,
    JobKind,
)
from airflow_provider_personalize_deletion.operators.job_wait import JobWaitMixin, check_job_wait_settings
from airflow_provider_personalize_deletion.operators.quiet_wait import QuietWaitMixin, check_quiet_settings
from airflow_provider_personalize_deletion.triggers.dataset_import import (
    PersonalizeDatasetImportJobActiveTrigger,
    active_import_job_from_event,
)
from airflow_provider_personalize_deletion.triggers.personalize import (
    DEFAULT_QUIET_POLL_INTERVAL,
    DEFAULT_QUIET_TIMEOUT,
    DEFAULT_WAITER_DELAY,
    DEFAULT_WAITER_MAX_ATTEMPTS,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_personalize_deletion.hooks.activity import Activity

#: ``task_state_store`` keys of this task instance's import job (see :mod:`.job_identity`).
IMPORT_JOB_STATE_KEY = "personalize_dataset_import_job_arn"
IMPORT_SUPERSEDED_STATE_KEY = "personalize_superseded_import_job_arns"
IMPORT_SERIES_STATE_KEY = "personalize_dataset_import_job_series"


def _same_import(described: dict[str, Any], inputs: dict[str, Any]) -> bool:
    """Whether an existing import job reads the same location into the same dataset, in the same mode."""
    return (
        described["datasetArn"] == inputs["dataset_arn"]
        and described["dataSource"]["dataLocation"] == inputs["data_location"]
        and described.get("importMode", "FULL") == inputs["import_mode"]
    )


#: Dataset import jobs, for the exactly-once create.
DATASET_IMPORT_JOB = JobKind(
    noun="dataset import job",
    arn_key="datasetImportJobArn",
    name_prefix="import",
    parent_input="dataset_arn",
    location_input="data_location",
    failure_states=IMPORT_FAILURE_STATES,
    arn_state_key=IMPORT_JOB_STATE_KEY,
    superseded_state_key=IMPORT_SUPERSEDED_STATE_KEY,
    series_state_key=IMPORT_SERIES_STATE_KEY,
    list_jobs=lambda hook, parent: hook.list_dataset_import_jobs(parent),
    describe=lambda hook, arn: hook.describe_dataset_import_job(arn),
    create=lambda hook, name, inputs: hook.create_dataset_import_job(job_name=name, **inputs),
    same_input=_same_import,
)


class PersonalizeCreateDatasetImportJobOperator(
    JobIdentityMixin, QuietWaitMixin, JobWaitMixin, AwsBaseOperator[PersonalizeHook]
):
    """
    Create a dataset import job that imports a CSV file or folder from S3 into a dataset, exactly once.

    **Exactly once**, as :class:`~.personalize.PersonalizeCreateDataDeletionJobOperator` (the same
    machinery, :mod:`.job_identity`): unless ``job_name`` is given, the job is named after the task
    instance and its input (DAG id, task id, run id, map index, dataset ARN, data location), so a retried
    or cleared task carries on with the job it created; a CREATE FAILED job is replaced by the next
    generation of the name and its ARN pushed as XCom ``superseded_job_arns``.

    **No import while a data deletion job runs.** Before its create call (never when a retry finds the
    job an earlier try created) the task lists the dataset group's data deletion jobs and, with
    ``action_if_not_quiet="wait"``, waits until none is PENDING or IN_PROGRESS (in the triggerer when
    deferrable), for up to ``quiet_timeout`` per try: an import during a deletion job may bring the
    users back, or be deleted from half-way. ``"fail"`` fails the try at once, ``"ignore"`` does not look.

    **Bad input** (a rule of the service model broken, a non-``s3://`` location, an unknown dataset) is
    refused before the create call, by an error naming the parameter and the rule.

    Returns (XCom) the job's ARN.

    :param dataset_arn: the dataset to import into. (templated)
    :param data_location: ``s3://`` URI of the CSV file, or of a folder ending in ``/``. (templated)
    :param role_arn: IAM role Personalize assumes to read ``data_location``. (templated)
    :param import_mode: ``"FULL"`` (replaces the dataset's bulk records) or ``"INCREMENTAL"``.
        (default: ``"FULL"``; templated)
    :param dataset_group_arn: the dataset's group, for the quiet wait. (default: from DescribeDataset;
        templated)
    :param job_name: the job's name. (default: derived from the task instance and its input; templated)
    :param action_if_job_exists: ``"fail"`` or ``"timestamp"``: what to do when ``job_name`` names a job
        this task instance did not create. (default: ``"fail"``)
    :param tags: tags for the job: a mapping of key to value, or boto3's list. (templated)
    :param wait_for_completion: wait until the job is ACTIVE (and fail if it ended CREATE FAILED).
        (default: False)
    :param deferrable: wait in the triggerer instead of a worker. (default: ``[operators]
        default_deferrable``, False unless configured)
    :param waiter_delay: seconds between two status checks of the job. (default: 60)
    :param waiter_max_attempts: status checks before giving up. (default: 1500)
    :param action_if_not_quiet: ``"wait"``, ``"fail"`` or ``"ignore"``: what to do when a data deletion
        job runs on the dataset group before creating. (default: ``"wait"``)
    :param quiet_timeout: give up waiting for the deletion jobs after this many seconds (per try).
        (default: 24 hours)
    :param quiet_poll_interval: seconds between two listings while waiting. (default: 300)
    :param aws_conn_id: the Airflow connection used for AWS credentials. (templated)
    :param region_name: AWS region of the dataset. (templated)
    :param verify: whether to verify SSL certificates. (templated)
    :param botocore_config: configuration dictionary (key-values) for the botocore client.
    """

    aws_hook_class = PersonalizeHook
    job_kind = DATASET_IMPORT_JOB
    job_trigger = PersonalizeDatasetImportJobActiveTrigger
    quiet_watch = "data_deletion_jobs"
    not_quiet_consequence = (
        "An import while a data deletion job runs may bring the users it deletes back; no import job was "
        "created"
    )
    template_fields: Sequence[str] = aws_template_fields(
        "dataset_arn", "data_location", "role_arn", "import_mode", "dataset_group_arn", "job_name", "tags"
    )
    template_fields_renderers = {"tags": "json"}
    ui_color = "#8ab4f8"

    def __init__(
        self,
        *,
        dataset_arn: str,
        data_location: str,
        role_arn: str,
        import_mode: str = "FULL",
        dataset_group_arn: str | None = None,
        job_name: str | None = None,
        action_if_job_exists: str = "fail",
        tags: Mapping[str, str] | list[dict[str, str]] | None = None,
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        waiter_delay: int = DEFAULT_WAITER_DELAY,
        waiter_max_attempts: int = DEFAULT_WAITER_MAX_ATTEMPTS,
        action_if_not_quiet: str = "wait",
        quiet_timeout: float = DEFAULT_QUIET_TIMEOUT,
        quiet_poll_interval: float = DEFAULT_QUIET_POLL_INTERVAL,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if action_if_job_exists not in ACTION_IF_JOB_EXISTS_CHOICES:
            raise ValueError(
                f"Invalid parameter 'action_if_job_exists': must be one of {ACTION_IF_JOB_EXISTS_CHOICES}"
            )
        check_quiet_settings(action_if_not_quiet, quiet_timeout, quiet_poll_interval)
        check_job_wait_settings(waiter_delay, waiter_max_attempts)
        self.dataset_arn = dataset_arn
        self.data_location = data_location
        self.role_arn = role_arn
        self.import_mode = import_mode
        self.dataset_group_arn = dataset_group_arn
        self.job_name = job_name
        self.action_if_job_exists = action_if_job_exists
        self.tags = tags
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        self.action_if_not_quiet = action_if_not_quiet
        self.quiet_timeout = quiet_timeout
        self.quiet_poll_interval = quiet_poll_interval

    def execute(self, context: Context) -> str:
        return self._create_and_wait(context, slot_wait_started=None)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """Check the job's outcome once the trigger has fired (see :func:`active_import_job_from_event`)."""
        return str(active_import_job_from_event(self.hook, event)["datasetImportJobArn"])

    def _create_and_wait(
        self, context: Context, slot_wait_started: str | None, quiet_wait_started: str | None = None
    ) -> str:
        inputs: dict[str, Any] = {
            "dataset_arn": self.dataset_arn,
            "data_location": self.data_location,
            "role_arn": self.role_arn,
            "import_mode": self.import_mode,
            "tags": self.tags,
        }
        series, _ = self._series(context, inputs)
        build_import_request(series, **inputs)  # refuses bad input before any call
        arn, _ = self._this_task_instances_job(context, inputs, quiet_wait_started=quiet_wait_started)
        if self.wait_for_completion:
            self._wait_for_job(arn)
        return arn

    def _check_parent(self, inputs: dict[str, Any]) -> None:
        self._quiet_group()  # refuses a dataset the service does not know

    def _before_create(self, context: Context, quiet_wait_started: str | None) -> None:
        self._wait_for_quiet(context, quiet_wait_started)

    def _quiet_group(self) -> str:
        """The given ``dataset_group_arn``, else the dataset's (DescribeDataset, once)."""
        if self.dataset_group_arn is None:
            self.dataset_group_arn = self.hook.dataset_group_of(self.dataset_arn)
        return self.dataset_group_arn

    def _busy(self, dataset_group_arn: str, first: bool) -> list[Activity]:
        return self.hook.running_data_deletion_jobs(dataset_group_arn)

    def _wait_for_job(self, arn: str) -> None:
        message = self._defer_or_wait(arn)
        job = self.hook.describe_dataset_import_job(arn)
        if not check_import_outcome(job):
            from airflow_provider_personalize_deletion.exceptions import DatasetImportJobWaitError

            raise DatasetImportJobWaitError(arn, job["status"], message)
