"""
Baseline for ``benchmarks/dag_parse.py``: the shape of ``dags/personalize_gdpr_erasure.py`` built only
from the Amazon provider's own operators, as a user without this provider might write it.

SQL export to S3 (``SqlToS3Operator``), one mapped asynchronous AWS job per planned input
(``ComprehendStartPiiEntitiesDetectionJobOperator``, the provider's closest start-a-job operator), a
mapped deferrable sensor, and the same Python steps around them; like ours, the plan, create and wait
steps repeat for three follow-up rounds, and the DAG has the same trigger form (params) and a
template macro. The task bodies are stand-ins: only what the DAG processor executes, the module and
the DAG definition, is measured.
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
FOLLOW_UP_ROUNDS = 3
EXPORT_KEY = "erasure/{{ run_id }}/user_ids.csv"


@task
def collect_erasure_requests(params=None) -> dict:
    return {"settings": {"bucket": "erasure", **params}, "export_sql": "SELECT user_id FROM erasure_requests"}


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


@task
def plan_follow_up_jobs(round_number: int, ti=None) -> list[dict]:
    return ti.xcom_pull(task_ids="plan_deletion_jobs")[:round_number]


def erasure_setting(name: str, params: dict, dag_run=None) -> str:
    """A setting of the run (a template macro)."""
    return params[name]


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
    user_defined_macros={"erasure_setting": erasure_setting},
    params={
        "dataset_group_arns": Param(
            [],
            type="array",
            items={"type": "string"},
            title="Dataset group ARNs",
            description=(
                "Empty: the Variable personalize_erasure_dataset_group_arns. When the Variable "
                "personalize_erasure_allowed_dataset_group_arns is set, only its groups may be named."
            ),
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
        "dry_run": Param(
            None,
            type=["null", "boolean"],
            title="Dry run",
            description=(
                "Count and report only. Left untouched: the Variable personalize_erasure_dry_run, else off."
            ),
        ),
        "cleanup_files": Param(
            None,
            type=["null", "boolean"],
            title="Delete the deletion files afterwards",
            description=(
                "Left untouched: the Variable personalize_erasure_cleanup_files, else on (files deleted)."
            ),
        ),
        "role_arn": Param(
            None, type=["null", "string"], title="Role ARN (empty: Variable personalize_erasure_role_arn)"
        ),
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
    rounds = []
    planned = plan_deletion_jobs(collected)
    for round_number in range(FOLLOW_UP_ROUNDS + 1):  # the initial jobs, then the follow-up rounds
        suffix = f"_{round_number}" if round_number else ""
        if round_number:
            planned = plan_follow_up_jobs.override(task_id=f"plan_follow_up_jobs{suffix}")(round_number)
            rounds[-1] >> planned
        created = ComprehendStartPiiEntitiesDetectionJobOperator.partial(
            task_id=f"create_deletion_job{suffix}", deferrable=True, waiter_delay=300
        ).expand_kwargs(planned)
        rounds.append(
            ComprehendStartPiiEntitiesDetectionJobCompletedSensor.partial(
                task_id=f"wait_for_deletion{suffix}",
                deferrable=True,
                poke_interval=60,
                aws_conn_id="{{ erasure_setting('aws_conn_id', params, dag_run) }}",
            ).expand(job_id=created.output)
        )

    stop_if_dry_run(collected) >> export >> rounds[0]
    rounds >> record_erasure()
    rounds >> delete_deletion_files()
