"""Operator that creates an Amazon Personalize dataset export job exactly once, and waits for it."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.amazon.aws.utils.waiter_with_logging import wait
from airflow.providers.common.compat.sdk import AirflowException, conf
from botocore.exceptions import ClientError

from airflow_provider_personalize_deletion.hooks.personalize import (
    BUSY_ERROR_CODES,
    EXPORT_FAILURE_STATES,
    PersonalizeHook,
    build_export_request,
    check_export_outcome,
)
from airflow_provider_personalize_deletion.triggers.dataset_export import (
    DEFAULT_EXPORT_WAITER_DELAY,
    DEFAULT_EXPORT_WAITER_MAX_ATTEMPTS,
    PersonalizeDatasetExportJobActiveTrigger,
    exported_job_from_event,
)
from airflow_provider_personalize_deletion.utils.job_names import (
    deterministic_job_name,
    generation_name,
    generation_of,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

#: The first word of the jobs' names (``export-<dag slug>-<digest>``).
JOB_NAME_PREFIX = "export"
#: XCom key of the job's ARN, pushed as soon as the job exists (before waiting): a task that reads the
#: export's outcome finds the job even when this task failed on it.
EXPORT_JOB_XCOM_KEY = "dataset_export_job_arn"
#: ``task_state_store`` key: ``{"try_number": ..., "started": ...}``, when this try began waiting for a slot.
SLOT_WAIT_STATE_KEY = "personalize_export_slot_wait_started"


class PersonalizeCreateDatasetExportJobOperator(AwsBaseOperator[PersonalizeHook]):
    """
    Export a dataset's records as CSV files to S3 with a dataset export job, created exactly once.

    **Exactly once.** The job is named after the task instance and its input (a digest of the DAG id,
    task id, run id, map index, dataset ARN and output path: :func:`.deterministic_job_name` with the
    prefix ``export``). Before creating, the task lists the dataset's export jobs and carries on with
    its own job of that name unless it ended CREATE FAILED; then it creates the next generation
    (``-g1``, ``-g2``, ...). A create refused with ResourceAlreadyExistsException (a re-sent call, a
    concurrent try) carries on with the job of that name. A retried or cleared task, even one whose
    worker died just after creating, thus never creates a second job.

    **Limits.** The service takes a few export jobs at a time (the emulator: 5 CREATE PENDING or
    CREATE IN_PROGRESS per region). A create refused with LimitExceededException waits and tries again
    (in the triggerer when deferrable), every ``slot_wait_delay`` seconds, up to ``slot_wait_timeout``
    per try: the exports queue, they never exceed the limit.

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
    :param aws_conn_id: the Airflow connection used for AWS credentials. (templated)
    :param region_name: AWS region of the dataset. (templated)
    :param verify: whether to verify SSL certificates. (templated)
    :param botocore_config: configuration dictionary (key-values) for the botocore client.
    """

    aws_hook_class = PersonalizeHook
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for name, value in (("slot_wait_delay", slot_wait_delay), ("slot_wait_timeout", slot_wait_timeout)):
            if not value > 0:
                raise ValueError(f"Invalid parameter {name!r}: must be a positive number of seconds")
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
        self.slot_wait_timeout = slot_wait_timeout

    def execute(self, context: Context) -> str:
        return self._create_and_wait(context)

    def resume_after_slot_wait(self, context: Context, event: Any = None) -> str:
        """Try creating again after waiting in the triggerer for a free slot."""
        return self._create_and_wait(context)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """Check the job's outcome once the trigger has fired (see :func:`.exported_job_from_event`)."""
        return exported_job_from_event(self.hook, event)["datasetExportJobArn"]

    def _create_and_wait(self, context: Context) -> str:
        ti = context["ti"]
        series = deterministic_job_name(
            ti.dag_id,
            ti.task_id,
            ti.run_id,
            ti.map_index if ti.map_index is not None else -1,
            self.dataset_arn,
            self.s3_path,
            prefix=JOB_NAME_PREFIX,
        )
        self._request(series)  # refuses bad input before any call
        arn, generation = self._job_of_task_instance(series)
        if arn is None:
            arn = self._create_when_free(context, generation_name(series, generation))
        ti.xcom_push(key=EXPORT_JOB_XCOM_KEY, value=arn)
        if self.wait_for_completion:
            self._wait_for_job(arn)
        return arn

    def _request(self, job_name: str) -> dict[str, Any]:
        return build_export_request(
            job_name,
            self.dataset_arn,
            self.role_arn,
            self.s3_path,
            self.ingestion_mode,
            self.kms_key_arn,
            self.tags,
        )

    def _job_of_task_instance(self, series: str) -> tuple[str | None, int]:
        """This task instance's latest job unless it FAILED; else None and the next generation."""
        jobs = sorted(
            (generation, job)
            for job in self.hook.list_dataset_export_jobs(self.dataset_arn)
            if (generation := generation_of(series, job["jobName"])) is not None
        )
        if not jobs:
            return None, 0
        generation, latest = jobs[-1]
        if latest["status"] in EXPORT_FAILURE_STATES:
            self.log.info(
                "%d earlier export job(s) of this task instance FAILED: creating another", len(jobs)
            )
            return None, generation + 1
        self.log.info(
            "Carrying on with the export job this task instance created: %s", latest["datasetExportJobArn"]
        )
        return str(latest["datasetExportJobArn"]), generation

    def _create_when_free(self, context: Context, name: str) -> str:
        while True:
            try:
                return self._create(name)
            except ClientError as error:
                code = error.response["Error"]["Code"]
                if code not in BUSY_ERROR_CODES:
                    raise
                self._wait_for_slot(context, code)

    def _create(self, name: str) -> str:
        """Create the job; a name already taken on this dataset is this task instance's own job."""
        request = self._request(name)
        try:
            arn = self.hook.client.create_dataset_export_job(**request)["datasetExportJobArn"]
        except self.hook.client.exceptions.ResourceAlreadyExistsException:
            found = next(
                (
                    job
                    for job in self.hook.list_dataset_export_jobs(self.dataset_arn)
                    if job["jobName"] == name
                ),
                None,
            )
            if found is None:
                raise AirflowException(
                    f"The export job name {name} is taken by a job of another dataset: not this task's"
                ) from None
            self.log.info(
                "Carrying on with the export job %s, created by a re-sent call or a concurrent try", name
            )
            return str(found["datasetExportJobArn"])
        self.log.info("Created dataset export job %s: %s", name, arn)
        return str(arn)

    def _wait_for_slot(self, context: Context, error_code: str) -> None:
        """Wait ``slot_wait_delay`` (deferring when deferrable); fail once ``slot_wait_timeout`` is spent."""
        started = self._slot_wait_start(context)
        waited = (datetime.now(timezone.utc) - datetime.fromisoformat(started)).total_seconds()
        if waited >= self.slot_wait_timeout:
            raise AirflowException(
                f"No dataset export job could be created ({error_code}) after {waited:.0f} s of "
                f"waiting (slot_wait_timeout={self.slot_wait_timeout})"
            )
        delay = min(self.slot_wait_delay, self.slot_wait_timeout - waited)
        self.log.info(
            "Export job refused (%s, the service's limit); trying again in %.0f s", error_code, delay
        )
        if self.deferrable:
            from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger  # not at parse time

            self.defer(
                trigger=TimeDeltaTrigger(timedelta(seconds=delay)), method_name="resume_after_slot_wait"
            )
        time.sleep(delay)

    def _slot_wait_start(self, context: Context) -> str:
        """When this try began waiting for a slot, kept in ``task_state_store`` across deferrals."""
        store = context.get("task_state_store")
        try_number = getattr(context["ti"], "try_number", None)
        kept = store.get(SLOT_WAIT_STATE_KEY) if store is not None else None
        if isinstance(kept, dict) and kept.get("try_number") == try_number and kept.get("started"):
            return str(kept["started"])
        started = datetime.now(timezone.utc).isoformat()
        if store is not None:
            store.set(SLOT_WAIT_STATE_KEY, {"try_number": try_number, "started": started})
        return started

    def _wait_for_job(self, arn: str) -> None:
        if self.deferrable:
            self.defer(
                trigger=PersonalizeDatasetExportJobActiveTrigger(
                    dataset_export_job_arn=arn,
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
                waiter=self.hook.get_waiter("dataset_export_job_active"),
                waiter_delay=self.waiter_delay,
                waiter_max_attempts=self.waiter_max_attempts,
                args={"datasetExportJobArn": arn},
                failure_message="Personalize dataset export job failed.",
                status_message="Status of Personalize dataset export job is",
                status_args=["datasetExportJob.status"],
            )
        except AirflowException:
            self.log.info("Waiting ended without success; the job's description says why")
        job = self.hook.describe_dataset_export_job(arn)
        if not check_export_outcome(job):
            from airflow_provider_personalize_deletion.exceptions import DatasetExportJobWaitError

            raise DatasetExportJobWaitError(arn, job["status"], "the wait ran out")
