"""
Baseline for ``benchmarks/dag_parse.py``: the shape of ``dags/personalize_gdpr_erasure.py`` built only
from the Amazon provider's own operators, as a user without this provider might write it.

SQL export to S3 (``SqlToS3Operator``), one mapped asynchronous AWS job per planned input
(``ComprehendStartPiiEntitiesDetectionJobOperator``, the provider's closest start-a-job operator), a
mapped deferrable sensor, and the same Python steps around them. The task bodies are stand-ins: only
what the DAG processor executes, the module and the DAG definition, is measured.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.amazon.aws.operators.comprehend import ComprehendStartPiiEntitiesDetectionJobOperator
from airflow.providers.amazon.aws.sensors.comprehend import (
    ComprehendStartPiiEntitiesDetectionJobCompletedSensor,
)
from airflow.providers.amazon.aws.transfers.sql_to_s3 import SqlToS3Operator
from airflow.sdk import DAG, Param, task

SETTINGS = "ti.xcom_pull(task_ids='collect_erasure_requests')['settings']"
EXPORT_KEY = "erasure/{{ run_id }}/user_ids.csv"


@task
def collect_erasure_requests(params=None) -> dict:
    return {"settings": dict(params), "export_sql": "SELECT user_id FROM erasure_requests"}


@task.short_circuit(ignore_downstream_trigger_rules=False)
def stop_if_dry_run(collected: dict) -> bool:
    return not collected["settings"]["dry_run"]


@task
def plan_deletion_jobs(collected: dict, run_id=None) -> list[dict]:
    bucket = collected["settings"]["bucket"]
    return [
        {
            "input_data_config": {"S3Uri": f"s3://{bucket}/erasure/{run_id}/user_ids.csv"},
            "output_data_config": {"S3Uri": f"s3://{bucket}/out/"},
            "mode": "ONLY_REDACTION",
            "data_access_role_arn": collected["settings"]["role_arn"],
            "language_code": "en",
        }
    ]


@task(trigger_rule="all_done")
def record_erasure(ti=None) -> dict:
    return {"jobs": ti.xcom_pull(task_ids="create_deletion_job")}


@task(trigger_rule="all_done")
def delete_deletion_files(ti=None) -> dict:
    return {"deleted": ti.xcom_pull(task_ids="export_user_ids")}


with DAG(
    dag_id="amazon_provider_erasure",
    description="Baseline: warehouse export -> AWS jobs -> audit, with the Amazon provider only",
    doc_md=__doc__,
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    tags=["gdpr", "baseline"],
    params={
        "bucket": Param("erasure", type="string"),
        "role_arn": Param("", type="string"),
        "user_ids": Param([], type="array", items={"type": "string"}),
        "dry_run": Param(False, type="boolean"),
        "cleanup_files": Param(True, type="boolean"),
    },
) as dag:
    collected = collect_erasure_requests()
    export = SqlToS3Operator(
        task_id="export_user_ids",
        sql_conn_id="warehouse",
        query="{{ ti.xcom_pull(task_ids='collect_erasure_requests')['export_sql'] }}",
        s3_bucket="{{ " + SETTINGS + "['bucket'] }}",
        s3_key=EXPORT_KEY,
        file_format="csv",
        replace=True,
    )
    planned = plan_deletion_jobs(collected)
    created = ComprehendStartPiiEntitiesDetectionJobOperator.partial(
        task_id="create_deletion_job", deferrable=True
    ).expand_kwargs(planned)
    waited = ComprehendStartPiiEntitiesDetectionJobCompletedSensor.partial(
        task_id="wait_for_deletion", deferrable=True, poke_interval=60
    ).expand(job_id=created.output)

    stop_if_dry_run(collected) >> export >> planned
    waited >> [record_erasure(), delete_deletion_files()]
