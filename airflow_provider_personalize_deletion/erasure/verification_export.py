"""
The verification DAG's export task: the provider's export operator, its mapped arguments checked first.

The arguments come from the plan's XCom, which whoever may write XComs controls: each try (and each
resumption after a wait, which reads the XCom again: :mod:`.checked_create`) checks them against what the
plan makes of the settings and the run id (:func:`.verification_steps.check_export_arguments`) before any
call, so that no dataset's records are written outside the run's folder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_personalize_deletion.erasure.checked_create import CheckedArgumentsMixin
from airflow_provider_personalize_deletion.operators.dataset_export import (
    PersonalizeCreateDatasetExportJobOperator,
)

if TYPE_CHECKING:
    from airflow.sdk import Context


class VerificationExportOperator(CheckedArgumentsMixin, PersonalizeCreateDatasetExportJobOperator):
    """:class:`.PersonalizeCreateDatasetExportJobOperator`, refusing arguments other than the plan's."""

    def _check_arguments(self, context: Context) -> None:
        from airflow_provider_personalize_deletion.erasure import verification_steps as steps

        settings = steps.verification_settings(context["params"], context["dag_run"].conf)
        given = {
            "dataset_arn": self.dataset_arn,
            "s3_path": self.s3_path,
            "role_arn": self.role_arn,
            "aws_conn_id": self.aws_conn_id,
        }
        if self.kms_key_arn:
            given["kms_key_arn"] = self.kms_key_arn
        steps.check_export_arguments(settings, context["run_id"], given)
