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
   Dataset groups may be named, or chosen by a selector (``"all"``, or a tag filter such as
   ``{"erasure": "enabled"}``) that the collect step resolves and every later task resolves again
   (a run whose groups changed meanwhile is refused).
5. **create_deletion_job**: create each job exactly once, even when retried, once nothing (training,
   import, batch job) is in progress on the dataset group (waiting in the triggerer).
6. **wait_for_deletion**: wait in the triggerer (up to 25 hours) for COMPLETED or FAILED, and list
   what ran on the dataset group during the job (``overlapping_activity``).
7. **plan_follow_up_jobs_N** → **create_follow_up_job_N** → **wait_for_follow_up_N** (N = 1..3): when
   a job COMPLETED while a training, import or batch job ran, Amazon Personalize cannot guarantee
   the users are gone from it: the same file is deleted again in that group, once per round, up to
   the Variable ``personalize_erasure_max_follow_up_jobs`` (2) rounds; a round with nothing to
   follow up is skipped with the rounds after it.
8. **delete_deletion_files**: once every round ended, delete the run's CSV files, which are personal
   data, those of its earlier collect tries (a cleared run claims again, in a new folder) unless a job
   not yet ended reads them, and files and incomplete uploads this pipeline left earlier (never another
   object under the prefix).
9. **record_erasure**: mark the requests erased only if in every group the last job on each file
   COMPLETED with nothing overlapping it (listed again here) and the jobs read exactly the claimed
   users (same claim, this run's files, same count and keyed fingerprint); write the audit record
   (every job, its round and what overlapped it, and what it lists itself of the deletion files left
   in S3: the evidence's "the file was deleted") either way; fail the run, loudly, otherwise (its
   requests stay pending).
10. **find_files_to_forget** → **forget_erased_users_in_files** (mapped, one task per batch of files) →
   **record_find_and_forget**, only with the Variable ``personalize_erasure_find_and_forget`` on and
   after ``record_erasure`` succeeded: remove the erased users (and the suppression list's) from the S3
   files the dataset groups' batch, export and import jobs read and wrote and from the locations of the
   Variable ``personalize_erasure_forget_locations``; every file re-read and verified, each recorded in
   the table ``erasure_forget``, the run's audit record saying "removed from N files in S3
   (M unverified)".
11. **append_to_ledger**: once the audit record is committed (and amended by find and forget), append it
    (and any record an earlier run could not append) to the evidence ledger, chained by hash in an
    Object Lock bucket named by the provider's settings ``[personalize_deletion] ledger_*`` (skipped
    while ``ledger_bucket`` is unset, and in a dry run). A teardown: the run's state stays the
    erasure's; a failed append fails this task only, and what it could not append is pending until the
    next run.

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
from airflow_provider_personalize_deletion.erasure.forget_tasks import FIND_TASK, FORGET_TASK, RECORD_TASK
from airflow_provider_personalize_deletion.erasure.rounds import ROUNDS, round_tasks
from airflow_provider_personalize_deletion.operators.find_and_forget import PersonalizeForgetObjectsOperator
from airflow_provider_personalize_deletion.operators.personalize import (
    PersonalizeCreateDataDeletionJobOperator,
)
from airflow_provider_personalize_deletion.sensors.personalize import PersonalizeDataDeletionJobSensor

#: Seconds between two status checks of a deletion job (the demo sets a few seconds).
POLL_SECONDS = int(os.environ.get("PERSONALIZE_ERASURE_POLL_SECONDS", "60"))
#: Seconds between two listings of a dataset group's activity while waiting for it to be quiet.
QUIET_POLL_SECONDS = 5 * POLL_SECONDS


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
        list_groups=runtime.groups_lister,
    )


@task.short_circuit(ignore_downstream_trigger_rules=False)
def stop_if_dry_run(params=None, dag_run=None) -> bool:
    from airflow_provider_personalize_deletion.erasure import runtime

    return not runtime.run_settings(params, dag_run.conf).dry_run


@task
def plan_deletion_jobs(export: dict, params=None, ti=None, dag_run=None) -> list[dict]:
    from airflow_provider_personalize_deletion.erasure import runtime, steps

    settings = runtime.run_groups(runtime.run_settings(params, dag_run.conf), ti)
    return steps.plan_deletion_jobs(settings, runtime.claim(ti), export)


@task
def plan_follow_up_jobs(round_number: int, params=None, ti=None, dag_run=None) -> list[dict]:
    from airflow_provider_personalize_deletion.erasure import runtime, steps

    settings = runtime.run_groups(runtime.run_settings(params, dag_run.conf), ti)
    return steps.plan_follow_up_jobs(
        settings,
        runtime.claim(ti),
        ti.xcom_pull(task_ids=runtime.EXPORT_TASK),
        round_number,
        runtime.previous_round(ti, round_number),
        runtime.describer(settings),
    )


# The audit record holds the keyed fingerprint: kept out of the task log.
@task(trigger_rule="all_done", show_return_value_in_logs=False)
def record_erasure(params=None, ti=None, run_id=None, dag_run=None) -> dict:
    from airflow.sdk import timezone

    from airflow_provider_personalize_deletion.erasure import runtime, steps

    settings, groups_problem = runtime.group_settings(runtime.run_settings(params, dag_run.conf), ti)
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
        activity=runtime.activity_lister(settings),
        superseded=jobs,
        rounds=runtime.job_rounds(ti),
        counts=runtime.collected(ti).get("requests"),
        groups_problem=groups_problem,
        s3_client=runtime.s3_client(settings),
    )


@task(task_id=FIND_TASK)
def find_files_to_forget(**context) -> list[list[dict]]:
    from airflow_provider_personalize_deletion.erasure import forget_runtime

    return forget_runtime.find_files(context)


def forget_scope(context):
    """Whom the mapped task forgets, read in the task (the run's erased users and the suppression list)."""
    from airflow_provider_personalize_deletion.erasure import forget_runtime

    return forget_runtime.scope(context)


# all_done: a failed mapped task's files are counted (unverified) in the audit record. This task is a
# leaf of the run (the ledger's append is a teardown): when record_erasure or the planning failed, it
# fails too, and the run with it.
@task(task_id=RECORD_TASK, trigger_rule="all_done")
def record_find_and_forget(**context) -> dict:
    from airflow_provider_personalize_deletion.erasure import forget_runtime

    return forget_runtime.record(context)


@task(trigger_rule="all_done")
def append_to_ledger(params=None, dag_run=None) -> dict:
    from airflow.sdk import timezone

    from airflow_provider_personalize_deletion.erasure import ledger_steps, runtime
    from airflow_provider_personalize_deletion.ledger.warehouse import ERASURE_RUN

    settings = runtime.run_settings(params, dag_run.conf)
    return ledger_steps.append_to_ledger(settings, ERASURE_RUN, timezone.utcnow())


@task(trigger_rule="all_done")
def delete_deletion_files(params=None, ti=None, run_id=None, dag_run=None) -> dict:
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
        run_id=run_id,
        list_jobs=runtime.job_lister(settings),
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
    rounds = []
    planned: Any = plan_deletion_jobs(export.output)
    for round_number in ROUNDS:  # the initial jobs, then the follow-up rounds
        plan_id, create_id, wait_id = round_tasks(round_number)
        if round_number:
            planned = plan_follow_up_jobs.override(task_id=plan_id)(round_number)
            rounds[-1] >> planned
        created = PersonalizeCreateDataDeletionJobOperator.partial(
            task_id=create_id, deferrable=True, quiet_poll_interval=QUIET_POLL_SECONDS
        ).expand_kwargs(planned)
        rounds.append(
            PersonalizeDataDeletionJobSensor.partial(
                task_id=wait_id,
                deferrable=True,
                poke_interval=POLL_SECONDS,
                aws_conn_id="{{ erasure_setting('aws_conn_id', params, dag_run) }}",
            ).expand(data_deletion_job_arn=created.output)
        )

    collected >> stop_if_dry_run() >> export
    recorded = record_erasure()
    # The record lists what is left of the deletion files itself, after the clean-up ran.
    rounds >> delete_deletion_files() >> recorded
    files_to_forget = find_files_to_forget()
    recorded >> files_to_forget
    forgotten = PersonalizeForgetObjectsOperator.partial(
        task_id=FORGET_TASK,
        scope=forget_scope,
        aws_conn_id="{{ erasure_setting('aws_conn_id', params, dag_run) }}",
    ).expand(objects=files_to_forget)
    forgotten >> (forget_recorded := record_find_and_forget())
    # A teardown: the run's state stays the erasure's (record_erasure's); a failed append shows on
    # its own task, and the next run appends what is pending. After find and forget, which amends the
    # audit record, so that the ledger holds the record as it ends.
    [recorded, forget_recorded] >> append_to_ledger().as_teardown()
