"""
### Verify that erased users stay erased in Amazon Personalize (proof by dataset export)

Runbook, one task per step:

1. **check_suppression_list**: resolve the settings (trigger form, then the erasure pipeline's
   Variables ``personalize_erasure_*``, then defaults) and the dataset groups (named, ``all`` or a
   tag filter, as the erasure DAG does), and check that every suppression list entry was made with
   the fingerprint key: a rotated or lost key fails the run here, before any export.
2. **plan_dataset_exports**: list each group's datasets holding USER_ID (Interactions, Users); a
   group with a data deletion job PENDING or IN_PROGRESS is skipped, reported "not verified: deletion
   running"; an Action interactions dataset (holds USER_ID, cannot be exported) is reported "not
   verified: the service cannot export this dataset type".
3. **export_dataset**: export each dataset (``ingestionMode`` ALL, so PutEvents/PutUsers data counts)
   to ``s3://<bucket>/<key_prefix>-verification/<run>/<dataset>/``, each job created exactly once,
   queued at the service's limit, and only once no data deletion job is PENDING or IN_PROGRESS on the
   group (looked at again right before each create call, waiting in the triggerer); wait in the
   triggerer. Arguments other than the plan's (an XCom written by hand) fail the task before any call.
4. **find_erased_users_in_exports**: stream the exported CSV files and check every USER_ID against
   the suppression list; a suppressed user found again becomes a pending erasure request (source
   ``reappeared``, with the group, dataset and export job), unless one is pending.
5. **record_verification**: write per group and dataset "verified absent", the count of users found
   again, or "not verified" with the reason (export FAILED, access denied, deletion running) into the
   table ``erasure_verification``; the run fails when anything was not verified.
6. **append_to_ledger**: once the rows are committed, append them (and any verification an earlier
   run could not append) to the evidence ledger (``[personalize_deletion] ledger_*``; skipped while
   ``ledger_bucket`` is unset); a teardown, so the run's state stays the verification's.
7. **delete_export_files**: delete the run's export files (personal data), after a failure too, and
   what killed runs left under the verification prefix (by age); never another object.

No user id is logged, pushed to XCom, or put into a task name. The next erasure run deletes the users
found again.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, Param, task

from airflow_provider_personalize_deletion.erasure.verification_export import VerificationExportOperator

#: Seconds between two status checks of an export job (the tests set one).
POLL_SECONDS = int(os.environ.get("PERSONALIZE_ERASURE_POLL_SECONDS", "60"))


@task
def check_suppression_list(params=None, dag_run=None) -> dict:
    from airflow_provider_personalize_deletion.erasure import verification_steps as steps

    return steps.check_suppression_list(steps.verification_settings(params, dag_run.conf))


@task
def plan_dataset_exports(params=None, dag_run=None, run_id=None, ti=None) -> list[dict]:
    from airflow_provider_personalize_deletion.erasure import verification_steps as steps

    return steps.plan_dataset_exports(steps.verification_settings(params, dag_run.conf), run_id, ti)


@task(trigger_rule="all_done")
def find_erased_users_in_exports(params=None, dag_run=None, run_id=None, ti=None) -> dict:
    from airflow.sdk import timezone

    from airflow_provider_personalize_deletion.erasure import verification_steps as steps

    settings = steps.verification_settings(params, dag_run.conf)
    return steps.find_erased_users_in_exports(settings, run_id, ti, timezone.utcnow())


@task(trigger_rule="all_done")
def record_verification(params=None, dag_run=None, run_id=None, ti=None) -> dict:
    from airflow.sdk import timezone

    from airflow_provider_personalize_deletion.erasure import verification_steps as steps

    settings = steps.verification_settings(params, dag_run.conf)
    return steps.record_the_verification(settings, run_id, ti, timezone.utcnow())


@task(trigger_rule="all_done")
def append_to_ledger(params=None, dag_run=None) -> dict:
    from airflow.sdk import timezone

    from airflow_provider_personalize_deletion.erasure import ledger_steps
    from airflow_provider_personalize_deletion.erasure import verification_steps as steps
    from airflow_provider_personalize_deletion.ledger.warehouse import VERIFICATION

    settings = steps.verification_settings(params, dag_run.conf)
    return ledger_steps.append_to_ledger(settings, VERIFICATION, timezone.utcnow())


@task(trigger_rule="all_done")
def delete_export_files(params=None, dag_run=None, run_id=None) -> dict:
    from airflow.sdk import timezone

    from airflow_provider_personalize_deletion.erasure import verification_steps as steps

    settings = steps.verification_settings(params, dag_run.conf)
    return steps.delete_verification_files(settings, run_id, timezone.utcnow())


with DAG(
    dag_id="personalize_erasure_verification",
    description="Prove erased users stay erased: export each dataset, check it against the suppression list",
    doc_md=__doc__,
    schedule="@weekly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    tags=["gdpr", "personalize", "erasure", "verification"],
    params={
        "dataset_group_arns": Param(
            [],
            type="array",
            items={"type": "string"},
            title="Dataset group ARNs",
            description=(
                'Empty: the Variable personalize_erasure_dataset_group_arns. "all", or a JSON tag filter '
                'such as {"erasure": "enabled"}, selects groups as the erasure DAG does.'
            ),
        ),
    },
) as dag:
    planned = plan_dataset_exports()
    exported = VerificationExportOperator.partial(
        task_id="export_dataset",
        deferrable=True,
        waiter_delay=POLL_SECONDS,
        slot_wait_delay=POLL_SECONDS,
        quiet_poll_interval=5 * POLL_SECONDS,
    ).expand_kwargs(planned)
    found = find_erased_users_in_exports()
    check_suppression_list() >> planned
    # A teardown: the run's state stays the verification's (see the erasure DAG).
    exported >> found >> record_verification() >> append_to_ledger().as_teardown()
    [exported, found] >> delete_export_files()
