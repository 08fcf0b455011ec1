"""
### Import into Amazon Personalize, keeping erased users out

A daily bulk import guarded by the erasure's suppression list. Runbook, one task per step:

1. **guard_import_source**: read the source as the import job will (one object, or a folder written
   with a trailing ``/`` and everything under it) and check every ``USER_ID`` against the suppression
   list (the users the erasure DAG erased, as keyed digests). The key is checked first: a list made
   with another key fails the task. ``fail`` (default): a source holding an erased user fails the run,
   naming how many users and records in which files, never an id; nothing is imported. ``filter``:
   a copy of the source without those records, every other byte kept, is written under
   ``<filtered_prefix>/<run digest>/<try>/`` and imported instead.
2. **create_import_job**: create the dataset import job exactly once (a retry carries on with the job
   it created), once no data deletion job is PENDING or IN_PROGRESS on the dataset group (waiting in
   the triggerer), and wait in the triggerer until it is ACTIVE (or fail on CREATE FAILED).
3. **delete_filtered_copies**: once the import ended, whatever its outcome, delete this run's filtered
   copies (personal data), and nothing else.
4. **fail_run_if_import_failed**: runs only when the guard or the import failed, and fails the run.

Settings: the Variables ``personalize_import_source``, ``personalize_import_dataset_arn``,
``personalize_import_role_arn``, ``personalize_import_import_mode`` (``FULL``),
``personalize_import_mode`` (the guard's: ``fail``), ``personalize_import_filtered_bucket``
and ``personalize_import_filtered_prefix``; the suppression list is the erasure DAG's (connection
``personalize_erasure_warehouse``, Variable ``personalize_erasure_suppression_table``). The guard sees
only the imports that go through it: PutEvents and PutUsers are seen only by the verification.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_personalize_deletion.erasure.guarded_import import guarded_import

#: Seconds between two status checks of the import job (the tests set a few seconds).
POLL_SECONDS = int(os.environ.get("PERSONALIZE_ERASURE_POLL_SECONDS", "60"))


#: The erasure DAG's suppression table, read when the task runs.
SUPPRESSION_TABLE = "{{ var.value.get('personalize_erasure_suppression_table', 'erasure_suppression') }}"


def _variable(name: str, default: str = "") -> str:
    """A template reading the Variable ``personalize_import_<name>`` when the task runs."""
    return f"{{{{ var.value.get('personalize_import_{name}', '{default}') }}}}"


with DAG(
    dag_id="personalize_guarded_import",
    description="Import into Personalize, without the users the erasure DAG erased",
    doc_md=__doc__,
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    tags=["gdpr", "personalize", "import"],
) as dag:
    guarded_import(
        source=_variable("source"),
        dataset_arn=_variable("dataset_arn"),
        role_arn=_variable("role_arn"),
        import_mode=_variable("import_mode", "FULL"),
        mode=_variable("mode", "fail"),
        filtered_bucket=_variable("filtered_bucket"),
        filtered_prefix=_variable("filtered_prefix"),
        suppression_table=SUPPRESSION_TABLE,
        waiter_delay=POLL_SECONDS,
        quiet_poll_interval=5 * POLL_SECONDS,
    )
