"""
### Erase users from Amazon Personalize (GDPR art. 17 / CCPA right to delete)

Runbook, one task per step:

1. **collect_erasure_requests**: resolve the settings (trigger form, then Airflow Variables
   ``personalize_erasure_*``, then defaults), add the ad-hoc user ids of a manual run as requests,
   report requests older than 30 days (the GDPR deadline), and claim every pending request.
   Refuses a run whose conf holds anything but the form's fields.
2. **stop_if_dry_run**: a dry run ends here, after counting.
3. **export_user_ids**: write the claimed users to ``USER_ID`` CSV files in S3 (SSE-S3, validated,
   deduplicated, split at 50 MB), in a folder of the export try's own
   (``<key_prefix>/<claim>/<try>/``). No user to erase: the deletion steps are skipped.
4. **plan_deletion_jobs**: one job per dataset group and file; refuses files outside that folder.
5. **create_deletion_job**: create each job exactly once, even when retried.
6. **wait_for_deletion**: wait in the triggerer (up to 25 hours) for COMPLETED or FAILED.
7. **record_erasure**: mark the requests erased only if every group's job COMPLETED and the jobs
   read exactly the claimed users (same claim, this run's files, same count and keyed fingerprint);
   write the audit record either way; fail the run, loudly, otherwise (its requests stay pending).
8. **delete_deletion_files**: delete the run's CSV files, which are personal data, and files and
   incomplete uploads this pipeline left earlier (never another object under the prefix).

No user id is logged, pushed to XCom, or put into a task name, tag or rendered template. Only the
trigger form's fields may be set in a run's conf (any other key refuses the run); where the data
goes comes from the Variables. Every task resolves the settings itself (form, then Variables, then
defaults) and takes from the collect step only the claim's key and time: an XCom never decides
where data is read, written or deleted. A dry run writes nothing anywhere.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_personalize_deletion.erasure.export import ExportClaimedUsers
from airflow_provider_personalize_deletion.operators.personalize import (
    PersonalizeCreateDataDeletionJobOperator,
)
from airflow_provider_personalize_deletion.sensors.personalize import PersonalizeDataDeletionJobSensor

#: Seconds between two status checks of a deletion job (the demo sets a few seconds).
POLL_SECONDS = int(os.environ.get("PERSONALIZE_ERASURE_POLL_SECONDS", "60"))


def erasure_setting(name: str, params: Any, dag_run: Any) -> Any:
    """A setting of the run, resolved from its params and the Variables (a template macro)."""
    from airflow_provider_personalize_deletion.erasure import runtime

    return getattr(runtime.run_settings(params, dag_run.conf), name)


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
def stop_if_dry_run(params=None, dag_run=None) -> bool:
    from airflow_provider_personalize_deletion.erasure import runtime

    return not runtime.run_settings(params, dag_run.conf).dry_run


@task
def plan_deletion_jobs(export: dict, params=None, ti=None, dag_run=None) -> list[dict]:
    from airflow_provider_personalize_deletion.erasure import runtime, steps

    return steps.plan_deletion_jobs(runtime.run_settings(params, dag_run.conf), runtime.claim(ti), export)


# The audit record holds the keyed fingerprint: kept out of the task log.
@task(trigger_rule="all_done", show_return_value_in_logs=False)
def record_erasure(params=None, ti=None, run_id=None, dag_run=None) -> dict:
    from airflow.sdk import timezone

    from airflow_provider_personalize_deletion.erasure import runtime, steps

    settings = runtime.run_settings(params, dag_run.conf)
    jobs = runtime.created_jobs(ti)
    return steps.record_erasure(
        settings,
        runtime.claim(ti),
        ti.xcom_pull(task_ids="export_user_ids"),
        list(jobs),
        runtime.describer(settings),
        runtime.request_store(settings),
        run_id,
        timezone.utcnow(),
        fingerprint_key=runtime.fingerprint_key,
        superseded=jobs,
        counts=runtime.collected(ti).get("requests"),
    )


@task(trigger_rule="all_done")
def delete_deletion_files(params=None, ti=None, dag_run=None) -> dict:
    from airflow.sdk import timezone

    from airflow_provider_personalize_deletion.erasure import runtime, steps

    settings = runtime.run_settings(params, dag_run.conf)
    return steps.delete_deletion_files(
        settings,
        runtime.claim(ti),
        list(runtime.created_jobs(ti)),
        runtime.describer(settings),
        runtime.s3_client(settings),
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
    export = ExportClaimedUsers(task_id="export_user_ids")
    created = PersonalizeCreateDataDeletionJobOperator.partial(
        task_id="create_deletion_job", deferrable=True
    ).expand_kwargs(plan_deletion_jobs(export.output))
    waited = PersonalizeDataDeletionJobSensor.partial(
        task_id="wait_for_deletion",
        deferrable=True,
        poke_interval=POLL_SECONDS,
        aws_conn_id="{{ erasure_setting('aws_conn_id', params, dag_run) }}",
    ).expand(data_deletion_job_arn=created.output)

    collected >> stop_if_dry_run() >> export
    waited >> [record_erasure(), delete_deletion_files()]
