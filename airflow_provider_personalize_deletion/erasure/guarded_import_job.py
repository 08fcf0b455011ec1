"""
The guarded import's create task: the provider's import operator, importing only what the guard handed on.

The location comes from the guard's XCom, which whoever may write XComs controls: each try (and each
resumption after waiting for a quiet dataset group, which reads the XCom again: :mod:`.checked_create`)
checks it against the guard's settings (:func:`.import_guard.check_import_location`) before any call, so
that no unguarded source is imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_personalize_deletion.erasure.checked_create import CheckedArgumentsMixin
from airflow_provider_personalize_deletion.operators.dataset_import import (
    PersonalizeCreateDatasetImportJobOperator,
)

if TYPE_CHECKING:
    from airflow.sdk import Context


class GuardedImportJobOperator(CheckedArgumentsMixin, PersonalizeCreateDatasetImportJobOperator):
    """
    :class:`.PersonalizeCreateDatasetImportJobOperator`, refusing a ``data_location`` the guard did not
    hand on: the source itself (``fail``), or the copy of the guard's latest try for this run
    (``filter``).

    :param guard_task_id: the guard's task id (same DAG run and map index).
    :param guarded_source: the guard's ``source``. (templated)
    :param guard_mode: the guard's ``mode``. (templated)
    :param filtered_bucket: the guard's ``filtered_bucket``. (templated)
    :param filtered_prefix: the guard's ``filtered_prefix``. (templated)
    """

    template_fields: Sequence[str] = (
        *PersonalizeCreateDatasetImportJobOperator.template_fields,
        "guarded_source",
        "guard_mode",
        "filtered_bucket",
        "filtered_prefix",
    )

    def __init__(
        self,
        *,
        guard_task_id: str,
        guarded_source: str,
        guard_mode: str,
        filtered_bucket: str | None = None,
        filtered_prefix: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.guard_task_id = guard_task_id
        self.guarded_source = guarded_source
        self.guard_mode = guard_mode
        self.filtered_bucket = filtered_bucket
        self.filtered_prefix = filtered_prefix

    def _check_arguments(self, context: Context) -> None:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from airflow_provider_personalize_deletion.erasure.import_guard import (
            check_import_location,
            guard_run_folder,
        )

        ti = context["ti"]
        map_index = ti.map_index if ti.map_index is not None else -1
        check_import_location(
            S3Hook(aws_conn_id=self.aws_conn_id).get_conn(),
            self.data_location,
            self.guarded_source,
            self.guard_mode,
            self.filtered_bucket,
            self.filtered_prefix,
            guard_run_folder(ti.dag_id, self.guard_task_id, ti.run_id, map_index),
        )
