"""
The guarded import: check (or filter) the source against the suppression list, create the import job
exactly once once no data deletion job runs on the group, wait for it in the triggerer, and delete the
filtered copies.

:func:`guarded_import` wires the three tasks; :class:`PersonalizeImportGuardOperator` and
:class:`PersonalizeImportGuardCleanupOperator` are the guard's own (see :mod:`.import_guard`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_personalize_deletion.erasure.import_guard import GUARD_MODES, ImportSourceError
from airflow_provider_personalize_deletion.erasure.settings import DEFAULTS

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_personalize_deletion.erasure.guarded_import_job import GuardedImportJobOperator

#: The task ids of :func:`guarded_import`.
GUARD_TASK = "guard_import_source"
CREATE_IMPORT_TASK = "create_import_job"
CLEANUP_TASK = "delete_filtered_copies"
OUTCOME_TASK = "fail_run_if_import_failed"
#: XCom key of the guard's counts (:meth:`.GuardResult.as_record`); its return value is the location.
GUARD_REPORT_XCOM_KEY = "guard_report"


class PersonalizeImportGuardOperator(BaseOperator):
    """
    Check an import source against the suppression list before it is imported.

    Returns (XCom) the location to import: the source itself when it holds no suppressed user, or in
    ``filter`` mode the filtered copy's folder; pushes the counts as XCom ``guard_report``. Never an id.

    :param source: ``s3://bucket/key`` (that object) or ``s3://bucket/folder/`` (every object under it).
        (templated)
    :param mode: ``"fail"`` (refuse a source holding a suppressed user, naming counts and files) or
        ``"filter"`` (write a copy without their records and import that). (default: ``"fail"``; templated)
    :param filtered_bucket: ``filter``: the bucket of the filtered copies. (templated)
    :param filtered_prefix: ``filter``: a prefix of the guard's own; each try writes under
        ``<prefix>/<task instance digest>/<try>/``, which must not overlap the source. (templated)
    :param warehouse_conn_id: common-sql connection of the suppression list. (default:
        ``personalize_erasure_warehouse``; templated)
    :param suppression_table: the suppression table. (default: ``erasure_suppression``; templated)
    :param aws_conn_id: the Airflow connection for S3. (templated)
    """

    template_fields: Sequence[str] = (
        "source",
        "mode",
        "filtered_bucket",
        "filtered_prefix",
        "warehouse_conn_id",
        "suppression_table",
        "aws_conn_id",
    )
    ui_color = "#f4b183"

    def __init__(
        self,
        *,
        source: str,
        mode: str = "fail",
        filtered_bucket: str | None = None,
        filtered_prefix: str | None = None,
        warehouse_conn_id: str = DEFAULTS["warehouse_conn_id"],
        suppression_table: str = DEFAULTS["suppression_table"],
        aws_conn_id: str | None = "aws_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.mode = mode
        self.filtered_bucket = filtered_bucket
        self.filtered_prefix = filtered_prefix
        self.warehouse_conn_id = warehouse_conn_id
        self.suppression_table = suppression_table
        self.aws_conn_id = aws_conn_id

    def execute(self, context: Context) -> str:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from airflow.sdk import BaseHook

        from airflow_provider_personalize_deletion.erasure.import_guard import (
            check_filtered_prefix,
            check_mode,
            filtered_destination,
            guard_run_folder,
            guard_source,
        )
        from airflow_provider_personalize_deletion.erasure.suppression import SuppressionList
        from airflow_provider_personalize_deletion.utils.fingerprint_key import fingerprint_key

        try:
            mode = check_mode(self.mode)
        except ValueError as error:
            raise ImportSourceError(str(error)) from None
        if not isinstance(self.source, str) or not self.source.startswith("s3://"):
            raise ImportSourceError(
                "Invalid parameter 'source': must be s3://bucket/key or s3://bucket/folder/"
            )
        destination = None
        if mode == "filter":
            bucket, prefix = check_filtered_prefix(self.filtered_bucket, self.filtered_prefix)
            ti = context["ti"]
            folder = guard_run_folder(ti.dag_id, ti.task_id, ti.run_id, _map_index(ti))
            destination = filtered_destination(bucket, prefix, folder, ti.try_number)
        key = fingerprint_key()
        # The hook would log each statement with its parameters.
        hook = BaseHook.get_connection(self.warehouse_conn_id).get_hook(hook_params={"log_sql": False})
        suppression = SuppressionList(hook, self.suppression_table)
        client = S3Hook(aws_conn_id=self.aws_conn_id).get_conn()
        result = guard_source(client, self.source, suppression, key, mode, destination)
        self.log.info(
            "Import guard (%s): %d file(s), %d record(s), %d of suppressed users left out; import %s",
            mode,
            result.files,
            result.records,
            result.suppressed_records,
            result.location,
        )
        context["ti"].xcom_push(key=GUARD_REPORT_XCOM_KEY, value=result.as_record())
        return result.location


class PersonalizeImportGuardCleanupOperator(BaseOperator):
    """
    Delete the filtered copies of one guard task instance (every try's), and nothing else: only keys
    ``<filtered_prefix>/<the guard's task instance digest>/<try>/...``. Runs once the import ended,
    whatever its outcome (``trigger_rule="all_done"``); without a bucket and prefix (``fail`` mode) it
    does nothing.

    Returns (XCom) how many objects it deleted.

    :param guard_task_id: the guard's task id (same DAG run and map index).
    :param filtered_bucket: the guard's ``filtered_bucket``. (templated)
    :param filtered_prefix: the guard's ``filtered_prefix``. (templated)
    :param aws_conn_id: the Airflow connection for S3. (templated)
    """

    template_fields: Sequence[str] = ("filtered_bucket", "filtered_prefix", "aws_conn_id")

    def __init__(
        self,
        *,
        guard_task_id: str,
        filtered_bucket: str | None = None,
        filtered_prefix: str | None = None,
        aws_conn_id: str | None = "aws_default",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.guard_task_id = guard_task_id
        self.filtered_bucket = filtered_bucket
        self.filtered_prefix = filtered_prefix
        self.aws_conn_id = aws_conn_id

    def execute(self, context: Context) -> int:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from airflow_provider_personalize_deletion.erasure.import_guard import (
            check_filtered_prefix,
            delete_filtered_copies,
            guard_run_folder,
        )

        if not self.filtered_bucket and not self.filtered_prefix:
            self.log.info("No filtered copies are written without filtered_bucket and filtered_prefix")
            return 0
        bucket, prefix = check_filtered_prefix(self.filtered_bucket, self.filtered_prefix)
        ti = context["ti"]
        folder = guard_run_folder(ti.dag_id, self.guard_task_id, ti.run_id, _map_index(ti))
        deleted = delete_filtered_copies(
            S3Hook(aws_conn_id=self.aws_conn_id).get_conn(), bucket, prefix, folder
        )
        self.log.info(
            "Deleted %d object(s) of the filtered copies under s3://%s/%s/%s/",
            deleted,
            bucket,
            prefix,
            folder,
        )
        return deleted


class FailRunIfImportFailedOperator(BaseOperator):
    """
    Fail the DAG run when the guard or the import failed: the clean-up, which runs whatever happened, is
    the other leaf, and a run is failed only by a failed leaf. Runs only then (``one_failed``).
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", "one_failed")
        super().__init__(**kwargs)

    def execute(self, context: Context) -> None:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(
            f"The guarded import did not complete: see the tasks {GUARD_TASK} and {CREATE_IMPORT_TASK}"
        )


def guarded_import(
    *,
    source: str,
    dataset_arn: str,
    role_arn: str,
    mode: str = "fail",
    import_mode: str = "FULL",
    filtered_bucket: str | None = None,
    filtered_prefix: str | None = None,
    warehouse_conn_id: str = DEFAULTS["warehouse_conn_id"],
    suppression_table: str = DEFAULTS["suppression_table"],
    aws_conn_id: str | None = "aws_default",
    **create_kwargs: Any,
) -> tuple[PersonalizeImportGuardOperator, GuardedImportJobOperator, BaseOperator]:
    """
    Wire a guarded import in the current DAG: guard → create the import job (exactly once, once no data
    deletion job runs on the group, waiting for it in the triggerer, and only of the location the guard
    handed on: :class:`.GuardedImportJobOperator`) → delete the filtered copies; and a task that fails the
    run when the guard or the import failed.

    :param source: the import source. (templated)
    :param dataset_arn: the dataset to import into. (templated)
    :param role_arn: the role Personalize reads the source with (the filtered copies' bucket too).
    :param mode: the guard's mode, one of :data:`~.import_guard.GUARD_MODES` (templated).
    :param import_mode: ``FULL`` or ``INCREMENTAL``.
    :param filtered_bucket: ``filter``: the filtered copies' bucket.
    :param filtered_prefix: ``filter``: the filtered copies' prefix, the guard's own.
    :param warehouse_conn_id: the suppression list's connection.
    :param suppression_table: the suppression table.
    :param aws_conn_id: the AWS connection of every task.
    :param create_kwargs: more arguments of :class:`.PersonalizeCreateDatasetImportJobOperator` (e.g.
        ``waiter_delay``, ``quiet_poll_interval``, ``action_if_not_quiet``, ``dataset_group_arn``).
    :return: the guard, the create task and the clean-up task.
    """
    from airflow_provider_personalize_deletion.erasure.guarded_import_job import GuardedImportJobOperator

    if mode not in GUARD_MODES and "{{" not in mode:
        raise ValueError(f"Invalid parameter 'mode': must be one of {GUARD_MODES}")
    guard = PersonalizeImportGuardOperator(
        task_id=GUARD_TASK,
        source=source,
        mode=mode,
        filtered_bucket=filtered_bucket,
        filtered_prefix=filtered_prefix,
        warehouse_conn_id=warehouse_conn_id,
        suppression_table=suppression_table,
        aws_conn_id=aws_conn_id,
    )
    create = GuardedImportJobOperator(
        task_id=CREATE_IMPORT_TASK,
        guard_task_id=GUARD_TASK,
        guarded_source=source,
        guard_mode=mode,
        filtered_bucket=filtered_bucket,
        filtered_prefix=filtered_prefix,
        dataset_arn=dataset_arn,
        data_location=guard.output,  # type: ignore[arg-type]  # an XComArg, resolved when the task runs
        role_arn=role_arn,
        import_mode=import_mode,
        wait_for_completion=True,
        deferrable=create_kwargs.pop("deferrable", True),
        aws_conn_id=aws_conn_id,
        **create_kwargs,
    )
    cleanup = PersonalizeImportGuardCleanupOperator(
        task_id=CLEANUP_TASK,
        guard_task_id=GUARD_TASK,
        filtered_bucket=filtered_bucket,
        filtered_prefix=filtered_prefix,
        aws_conn_id=aws_conn_id,
    )
    guard >> create >> cleanup
    [guard, create] >> FailRunIfImportFailedOperator(task_id=OUTCOME_TASK)
    return guard, create, cleanup


def _map_index(ti: Any) -> int:
    return ti.map_index if ti.map_index is not None else -1
