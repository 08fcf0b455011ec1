"""
### Erase users from Amazon Personalize (GDPR art. 17 / CCPA right to delete)

Runbook, one task per step:

1. **collect_erasure_requests**: resolve the settings (trigger form, then Airflow Variables
   ``personalize_erasure_*``, then defaults), add the ad-hoc user ids of a manual run as requests,
   report requests older than 30 days (the GDPR deadline), and claim every pending request.
   Refuses a run whose conf holds anything but the form's fields.
2. **stop_if_dry_run**: a dry run ends here, after counting.
3. **export_user_ids**: write the claimed users to ``USER_ID`` CSV files in S3 (SSE-S3, validated,
   deduplicated, split at 50 MB). No user to erase: the deletion steps are skipped.
4. **plan_deletion_jobs**: one job per dataset group and file.
5. **create_deletion_job**: create each job exactly once, even when retried.
6. **wait_for_deletion**: wait in the triggerer (up to 25 hours) for COMPLETED or FAILED.
7. **record_erasure**: mark the requests erased only if every group's job COMPLETED and the jobs
   read exactly the claimed users (same claim, this run's files, same count and keyed fingerprint);
   write the audit record either way; fail the run, loudly, otherwise (its requests stay pending).
8. **delete_deletion_files**: delete the run's CSV files, which are personal data, and files and
   incomplete uploads this pipeline left earlier (never another object under the prefix).

No user id is logged, pushed to XCom, or put into a task name, tag or rendered template. Only the
trigger form's fields may be set in a run's conf (any other key refuses the run); where the data
goes comes from the Variables. A dry run writes nothing anywhere.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, Param, task

from airflow_provider_personalize_deletion.operators.personalize import (
    PersonalizeCreateDataDeletionJobOperator,
)
from airflow_provider_personalize_deletion.sensors.personalize import PersonalizeDataDeletionJobSensor
from airflow_provider_personalize_deletion.transfers.sql_to_s3 import SqlToPersonalizeDeletionFileOperator

#: Seconds between two status checks of a deletion job (the demo sets a few seconds).
POLL_SECONDS = int(os.environ.get("PERSONALIZE_ERASURE_POLL_SECONDS", "60"))

COLLECTED = "ti.xcom_pull(task_ids='collect_erasure_requests')"


@task
def collect_erasure_requests(params=None, run_id=None, ti=None, dag_run=None) -> dict:
    from airflow.sdk import timezone

    from airflow_provider_personalize_deletion.erasure import runtime, steps

    return steps.collect_erasure_requests(
        params,
        run_id,
        ti.try_number,
        timezone.utcnow(),
        runtime.request_store,
        runtime.get_variable,
        conf=dag_run.conf,
    )


@task.short_circuit(ignore_downstream_trigger_rules=False)
def stop_if_dry_run(collected: dict) -> bool:
    return not collected["settings"]["dry_run"]


@task
def plan_deletion_jobs(collected: dict, export: dict) -> list[dict]:
    from airflow_provider_personalize_deletion.erasure import steps

    return steps.plan_deletion_jobs(collected, export)


# The audit record holds the keyed fingerprint: kept out of the task log.
@task(trigger_rule="all_done", show_return_value_in_logs=False)
def record_erasure(ti=None, run_id=None) -> dict:
    from airflow.sdk import timezone

    from airflow_provider_personalize_deletion.erasure import runtime, steps

    collected = runtime.collected(ti)
    jobs = runtime.created_jobs(ti)
    return steps.record_erasure(
        collected,
        ti.xcom_pull(task_ids="export_user_ids"),
        list(jobs),
        runtime.describer(collected),
        runtime.request_store(collected),
        run_id,
        timezone.utcnow(),
        fingerprint_key=runtime.fingerprint_key,
        superseded=jobs,
    )


@task(trigger_rule="all_done")
def delete_deletion_files(ti=None) -> dict:
    from airflow.sdk import timezone

    from airflow_provider_personalize_deletion.erasure import runtime, steps

    collected = runtime.collected(ti)
    return steps.delete_deletion_files(
        collected,
        list(runtime.created_jobs(ti)),
        runtime.describer(collected),
        runtime.s3_client(collected),
        timezone.utcnow(),
    )


with DAG(
    dag_id="personalize_gdpr_erasure",
    description="Erase users from Amazon Personalize: warehouse requests -> deletion jobs -> audit",
    doc_md=__doc__,
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    tags=["gdpr", "personalize", "erasure"],
    params={
        "dataset_group_arns": Param(
            [],
            type="array",
            items={"type": "string"},
            title="Dataset group ARNs",
            description="Empty: the Variable personalize_erasure_dataset_group_arns.",
        ),
        "user_ids": Param(
            [],
            type="array",
            items={"type": "string"},
            title="User ids to erase now (ad hoc)",
            description=(
                "Added as erasure requests. The tasks never log them, but Airflow keeps them in this "
                "run's conf until airflow db clean: prefer the warehouse table for routine requests."
            ),
        ),
        "dry_run": Param(False, type="boolean", title="Dry run", description="Count and report only."),
        "cleanup_files": Param(True, type="boolean", title="Delete the deletion files afterwards"),
        "role_arn": Param(
            None, type=["null", "string"], title="Role ARN (empty: Variable personalize_erasure_role_arn)"
        ),
    },
) as dag:
    collected = collect_erasure_requests()
    export = SqlToPersonalizeDeletionFileOperator(
        task_id="export_user_ids",
        conn_id="{{ " + COLLECTED + "['settings']['warehouse_conn_id'] }}",
        sql="{{ " + COLLECTED + "['export_sql'] }}",
        s3_bucket="{{ " + COLLECTED + "['settings']['bucket'] }}",
        s3_key_prefix="{{ " + COLLECTED + "['s3_key_prefix'] }}",
        aws_conn_id="{{ " + COLLECTED + "['settings']['aws_conn_id'] }}",
        claim="{{ " + COLLECTED + "['batch_key'] }}",
    )
    created = PersonalizeCreateDataDeletionJobOperator.partial(
        task_id="create_deletion_job", deferrable=True
    ).expand_kwargs(plan_deletion_jobs(collected, export.output))
    waited = PersonalizeDataDeletionJobSensor.partial(
        task_id="wait_for_deletion",
        deferrable=True,
        poke_interval=POLL_SECONDS,
        aws_conn_id="{{ " + COLLECTED + "['settings']['aws_conn_id'] }}",
    ).expand(data_deletion_job_arn=created.output)

    stop_if_dry_run(collected) >> export
    waited >> [record_erasure(), delete_deletion_files()]
