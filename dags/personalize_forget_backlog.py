"""
### Find and forget over the whole suppression list (a backlog)

Removes every user of the suppression list from the S3 files the dataset groups' Personalize jobs read
and wrote (batch inference input and output, batch segment output, dataset exports) and from the
locations of the Variable ``personalize_erasure_forget_locations``; the same settings as the erasure
DAG ``personalize_gdpr_erasure`` (its Variables), run by hand.

1. **find_files_to_forget**: find the locations (the Variable checked before any AWS call), list their
   objects once, split them into batches.
2. **forget_erased_users_in_files**: one mapped task per batch (a Celery or Kubernetes executor spreads
   them): each file read, rewritten without the users only when it names one, re-read and verified;
   each result recorded in the table ``erasure_forget`` as soon as it is known.
3. **record_find_and_forget**: "removed from N files in S3 (M unverified)"; fails when any file is
   unverified (never reported clean).

A dry run (the form, or the Variable ``personalize_erasure_dry_run``) counts the matches per file and
writes nothing anywhere. No user id is logged or put in an XCom: the users are read in each task.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, task

from airflow_provider_personalize_deletion.erasure.forget_tasks import (
    BACKLOG_DAG_ID,
    FIND_TASK,
    FORGET_TASK,
    RECORD_TASK,
)
from airflow_provider_personalize_deletion.operators.find_and_forget import PersonalizeForgetObjectsOperator


def erasure_setting(name: str, params, dag_run):
    """A setting of the run, resolved from its params and the Variables (a template macro)."""
    from airflow_provider_personalize_deletion.erasure import runtime

    return getattr(runtime.run_settings(params, dag_run.conf), name)


@task(task_id=FIND_TASK)
def find_files_to_forget(**context) -> list[list[dict]]:
    from airflow_provider_personalize_deletion.erasure import forget_runtime

    return forget_runtime.find_files(context, backlog=True)


def forget_scope(context):
    """Whom the mapped task forgets: the suppression list, read in the task."""
    from airflow_provider_personalize_deletion.erasure import forget_runtime

    return forget_runtime.scope(context, backlog=True)


@task(task_id=RECORD_TASK, trigger_rule="all_done")
def record_find_and_forget(**context) -> dict:
    from airflow_provider_personalize_deletion.erasure import forget_runtime

    return forget_runtime.record(context, backlog=True)


with DAG(
    dag_id=BACKLOG_DAG_ID,
    description="Remove the suppression list's users from the S3 files Personalize read and wrote",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["gdpr", "personalize", "erasure"],
    user_defined_macros={"erasure_setting": erasure_setting},
    params={
        "dataset_group_arns": Param(
            [],
            type="array",
            items={"type": "string"},
            title="Dataset group ARNs",
            description="Empty: the Variable personalize_erasure_dataset_group_arns.",
        ),
        "dry_run": Param(
            None,
            type=["null", "boolean"],
            title="Dry run",
            description="Count only. Left untouched: the Variable personalize_erasure_dry_run, else off.",
        ),
    },
) as dag:
    forgotten = PersonalizeForgetObjectsOperator.partial(
        task_id=FORGET_TASK,
        scope=forget_scope,
        retries=2,
        aws_conn_id="{{ erasure_setting('aws_conn_id', params, dag_run) }}",
    ).expand(objects=find_files_to_forget())
    forgotten >> record_find_and_forget()
