"""The erasure DAG's export: the transfer, told where to read and write by the run's settings only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_personalize_deletion.transfers.sql_to_s3 import SqlToPersonalizeDeletionFileOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class ExportClaimedUsers(SqlToPersonalizeDeletionFileOperator):
    """
    Write the users of the run's claim to deletion files, in a folder of this export try's own.

    The warehouse connection, the query (built from the requests table and the claim's key), the
    bucket, the folder and the AWS connection are resolved when the task runs, from the run's params
    and the Variables; from the collect step only the claim's checked key is taken. The files are
    ``<key_prefix>/<claim16>/<try number>/part-NNNNN.csv``: a cleared and re-run export writes new
    files, which new deletion jobs (named after their input) read.

    :param kwargs: the transfer's other arguments (``task_id``, ``invalid_ids``, ``fetch_size``...).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(conn_id="", sql="", s3_bucket="", s3_key_prefix="", **kwargs)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_personalize_deletion.erasure import runtime

        settings = runtime.context_settings(context)
        claim = runtime.claim(context["ti"])
        self.conn_id = settings.warehouse_conn_id
        self.sql = runtime.request_store(settings).export_sql(claim.batch_key)
        self.parameters = None
        self.s3_bucket = settings.bucket
        self.s3_key_prefix = claim.export_folder(settings, context["ti"].try_number)
        self.aws_conn_id = settings.aws_conn_id
        self.claim = claim.batch_key
        self.__dict__.pop("hook", None)  # a hook made before would be on another connection
        return super().execute(context)
