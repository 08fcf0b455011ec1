"""The transfer operator: user ids from any common-sql connection to Personalize deletion files in S3."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from airflow_provider_personalize_deletion.utils.fingerprint_key import (
    FINGERPRINT_KEY_SETTING_NAME,
    fingerprint_key,
)

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook
    from airflow.sdk import Context

DEFAULT_MAX_FILE_BYTES = 50_000_000  # the service says "50 MB": stay under it even if it means MB
DEFAULT_FETCH_SIZE = 10_000
DEFAULT_STALE_TEMP_HOURS = 6


class InvalidUserIdsError(AirflowFailException):
    """
    The query returned values Personalize cannot take as user ids, and ``invalid_ids="fail"``.

    Not retried: the same query gives the same values. The message holds counts, never a value.

    :param invalid: the number of invalid values by reason.
    """

    def __init__(self, invalid: dict[str, int]) -> None:
        self.invalid = invalid
        counts = ", ".join(f"{reason}: {count}" for reason, count in invalid.items() if count)
        super().__init__(
            f"The query returned {sum(invalid.values())} value(s) that are not valid Personalize user "
            f"ids ({counts}); no file was written. Fix the data or the query, or set "
            'invalid_ids="skip" to leave them out.'
        )


class SqlToPersonalizeDeletionFileOperator(AwsBaseOperator[S3Hook]):
    """
    Write the user ids a query returns to S3 as Amazon Personalize data deletion files.

    The first column of the query's rows is read in batches (memory stays bounded whatever the
    number of rows), validated, deduplicated and written as CSV files with a ``USER_ID`` header, one
    id per line, exactly as stored. Files are split so that none exceeds ``max_file_bytes``; each can
    be the input of one data deletion job. Objects are encrypted with SSE-S3, carry the metadata
    ``personalize-deletion-file: v1`` and are verified after upload; on any failure, no file of this
    run is left in S3, and incomplete uploads a killed earlier attempt left in the folder are aborted.

    **Not UTF-8.** A value that is not UTF-8 text (SQLite stores any bytes as TEXT) is read as one
    invalid value (``not_utf8``), never quoted. An error of the database while the query runs or its
    rows are read is raised as ``WarehouseReadError`` with the error's type and code, without the
    driver's message, which can quote a row's value.

    **Sorting and temp files.** The ids are sorted by a GNU ``sort --unique`` child process (C
    locale) while the rows are read, where GNU coreutils' ``sort`` is installed, else by the task in
    sorted runs; the files and fingerprint are the same either way. Between reading and uploading,
    the ids are kept on the worker's disk (runs and GNU sort's temp files), in a directory
    ``personalize-deletion-ids-*`` of ``tempfile.gettempdir()`` (``TMPDIR``, else ``/tmp``), mode
    0700, files mode 0600, removed when the task ends. A killed task cannot
    remove it: at start, the task removes such directories of the same OS user left unchanged for
    ``stale_temp_hours`` and not held by a running export (a lock), and nothing else.

    Tip: ``ORDER BY`` the id column makes deduplication linear in the number of ids.

    Returns (XCom) a summary that holds no id: ``data_folder`` (``s3://bucket/prefix/``),
    ``data_locations`` and ``s3_keys`` of the files,
    ``id_count`` (distinct ids written), ``file_count``, ``skipped`` (invalid values left out, by
    reason), ``duplicates``, ``fingerprint`` (``"hmac-sha256:<hex>"`` of the sorted distinct ids under
    the secret key of the Airflow setting ``[personalize_deletion] fingerprint_key``, which must be
    set (the task fails naming it otherwise): the same for the same set of ids, and no clue to
    the ids without the key; never logged), ``claim`` and ``written_at`` (ISO 8601, UTC: when every
    file was uploaded and verified; a job created before it did not read them). When there is no id
    to erase, no file is written and the task is skipped, so the deletion tasks downstream are
    skipped too.

    :param conn_id: the common-sql connection to query (SQLite and PostgreSQL are tested). (templated)
    :param sql: one SQL statement, or a path to a ``.sql`` file; its first column is the user id.
        (templated)
    :param parameters: the statement's bind parameters. (templated)
    :param s3_bucket: the bucket of the files. (templated)
    :param s3_key_prefix: the folder of the files, e.g. ``erasure/{{ ds_nodash }}``, in ASCII letters,
        digits and ``! - _ . * ' ( ) /`` (S3's safe characters); leading and trailing ``/`` are
        ignored. The files are ``{s3_key_prefix}/part-00000.csv`` and so on. Part files an earlier
        attempt left in this folder are deleted. (templated)
    :param aws_conn_id: the AWS connection; default ``aws_default``. (templated)
    :param region_name: the AWS region; default: the connection's. (templated)
    :param verify: whether to verify SSL certificates, or a CA bundle path; default: the
        connection's. (templated)
    :param botocore_config: botocore client settings (``botocore.config.Config`` keys), as in every
        AWS operator.
    :param max_file_bytes: the size limit of one file, header included; default 50,000,000 bytes, the input
        limit of one job. (templated)
    :param invalid_ids: what to do with values Personalize cannot take as user ids (NULL, empty, over
        256 characters, with a line break, not UTF-8): ``"fail"`` (default) fails the task with the
        counts per reason and writes nothing; ``"skip"`` leaves them out and counts them. (templated)
    :param fetch_size: rows fetched per round trip; default 10000. (templated)
    :param claim: a name for the set of rows the query reads (e.g. the batch key that claimed them),
        echoed as ``summary["claim"]`` so that a later step can check it reads the same set; holds no
        personal data. Default None. (templated)
    :param stale_temp_hours: age in hours after which a temp directory of ids that a killed export
        left on this worker is removed at start; default 6. (templated)
    """

    aws_hook_class = S3Hook
    template_fields: Sequence[str] = aws_template_fields(
        "conn_id",
        "sql",
        "parameters",
        "s3_bucket",
        "s3_key_prefix",
        "max_file_bytes",
        "invalid_ids",
        "fetch_size",
        "claim",
        "stale_temp_hours",
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {"sql": "sql", "parameters": "json"}

    def __init__(
        self,
        *,
        conn_id: str,
        sql: str,
        parameters: Mapping[str, Any] | Sequence[Any] | None = None,
        s3_bucket: str,
        s3_key_prefix: str,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        invalid_ids: str = "fail",
        fetch_size: int = DEFAULT_FETCH_SIZE,
        claim: str | None = None,
        stale_temp_hours: int = DEFAULT_STALE_TEMP_HOURS,
        **kwargs: Any,
    ) -> None:
        if "fingerprint_key_variable" in kwargs:
            raise TypeError(
                "fingerprint_key_variable was removed in 0.3.0: the fingerprint key is now the Airflow "
                f"setting {FINGERPRINT_KEY_SETTING_NAME} (see the upgrade notes in the README)"
            )
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.sql = sql
        self.parameters = parameters
        self.s3_bucket = s3_bucket
        self.s3_key_prefix = s3_key_prefix
        self.max_file_bytes = max_file_bytes
        self.invalid_ids = invalid_ids
        self.fetch_size = fetch_size
        self.claim = claim
        self.stale_temp_hours = stale_temp_hours

    def execute(self, context: Context) -> dict[str, Any]:
        # Imported here, not at module level: every parse of a DAG file using the operator imports the
        # module, and only a run needs the checks, the deletion file, the upload and the cursor.
        from airflow_provider_personalize_deletion.deletion_file.builder import DeletionFileBuilder
        from airflow_provider_personalize_deletion.deletion_file.sorted_runs import remove_leftover_run_dirs
        from airflow_provider_personalize_deletion.transfers.parameters import (
            InvalidTransferParameterError,
            check_bucket_name,
            check_invalid_ids_policy,
            check_key_prefix,
            check_max_file_bytes,
            check_positive_int,
        )
        from airflow_provider_personalize_deletion.transfers.s3_upload import DeletionFileUploader
        from airflow_provider_personalize_deletion.transfers.sql_cursor import first_column_batches

        try:
            bucket = check_bucket_name(self.s3_bucket)
            key_prefix = check_key_prefix(bucket, self.s3_key_prefix)
            max_file_bytes = check_max_file_bytes(self.max_file_bytes)
            invalid_ids = check_invalid_ids_policy(self.invalid_ids)
            fetch_size = check_positive_int("fetch_size", self.fetch_size, 1)
            stale_temp_hours = check_positive_int("stale_temp_hours", self.stale_temp_hours, 1)
        except InvalidTransferParameterError as error:
            raise AirflowFailException(str(error)) from error
        if removed := remove_leftover_run_dirs(stale_temp_hours * 3600):
            self.log.info("Removed %d directory(ies) of ids that killed exports left on this worker", removed)

        with DeletionFileBuilder(max_file_bytes, fingerprint_key=fingerprint_key()) as builder:
            for values in first_column_batches(self._sql_hook(), self.sql, self.parameters, fetch_size):
                builder.add(values)
            self.log.info(
                "Read %d valid user id(s); invalid values by reason: %s",
                builder.valid_count,
                builder.invalid,
            )
            if builder.invalid_count and invalid_ids == "fail":
                raise InvalidUserIdsError(builder.invalid)
            if not builder.valid_count:
                raise AirflowSkipException("Nothing to erase: the query returned no valid user id")
            s3_client = self.hook.get_conn()
            keys = DeletionFileUploader(s3_client, bucket, key_prefix).upload(builder.file_pieces())
            summary = {
                "data_folder": f"s3://{bucket}/{key_prefix}/",
                "data_locations": [f"s3://{bucket}/{key}" for key in keys],
                "s3_keys": keys,
                "id_count": builder.unique_count,
                "file_count": len(keys),
                "skipped": builder.invalid,
                "duplicates": builder.valid_count - builder.unique_count,
                "fingerprint": builder.fingerprint,
                "claim": self.claim,
                "written_at": datetime.now(timezone.utc).isoformat(),
            }
        self.log.info(
            "Wrote %d distinct user id(s) (%d duplicate(s) dropped) to %d file(s) under s3://%s/%s/",
            summary["id_count"],
            summary["duplicates"],
            summary["file_count"],
            bucket,
            key_prefix,
        )
        return summary

    def _sql_hook(self) -> DbApiHook:
        return BaseHook.get_connection(self.conn_id).get_hook()
