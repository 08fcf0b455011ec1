"""The Airflow side of find and forget's steps (:mod:`.forget_steps`): settings, XComs, connections."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_personalize_deletion.erasure import forget_steps, runtime
from airflow_provider_personalize_deletion.erasure.forget_tasks import FIND_TASK, FORGET_TASK
from airflow_provider_personalize_deletion.erasure.settings import ErasureSettings, select_dataset_groups
from airflow_provider_personalize_deletion.forget.batch import ForgetScope
from airflow_provider_personalize_deletion.forget.find_locations import find_locations
from airflow_provider_personalize_deletion.forget.locations import LocationPlan
from airflow_provider_personalize_deletion.operators.find_and_forget import FORGET_PLAN_XCOM_KEY


def _settings(context: Mapping[str, Any], backlog: bool) -> ErasureSettings:
    """The run's settings with its dataset groups: the example DAG's as its collect step resolved them."""
    settings = runtime.context_settings(context)
    if backlog:
        return select_dataset_groups(settings, runtime.groups_lister(settings))
    return runtime.run_groups(settings, context["ti"])


def find_files(context: Mapping[str, Any], backlog: bool = False) -> list[list[dict[str, str]]]:
    """
    The planning task: the batches (none when the run forgets nothing); the summary under the XCom key
    :data:`~..operators.find_and_forget.FORGET_PLAN_XCOM_KEY`.

    :param context: the running task's context.
    :param backlog: the task is the backlog DAG's.
    """
    from airflow.providers.common.compat.sdk import conf

    from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook

    settings = _settings(context, backlog)
    ti = context["ti"]
    found = forget_steps.find_files_to_forget(
        settings,
        runtime.get_variable,
        runtime.request_store(settings),
        PersonalizeHook(aws_conn_id=settings.aws_conn_id),
        runtime.s3_client(settings),
        conf.getint("core", "max_map_length"),
        (ti.dag_id, ti.run_id),
        backlog,
    )
    if found is None:
        return []
    context["ti"].xcom_push(key=FORGET_PLAN_XCOM_KEY, value=found.summary)
    return found.batches


def scope(context: Mapping[str, Any], backlog: bool = False) -> ForgetScope:
    """
    The mapped task's scope (``PersonalizeForgetObjectsOperator(scope=...)``): the users to forget read
    from the warehouse in the task, the run's plan (recorded by the planning task; found again in a dry
    run), the Variable's allowed buckets, and the evidence writer.

    :param context: the running task's context.
    :param backlog: the task is the backlog DAG's (the suppression list only, no claim).
    """
    ti = context["ti"]
    settings = runtime.context_settings(context)
    store = runtime.request_store(settings)

    def find_again() -> LocationPlan:
        from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook

        with_groups = _settings(context, backlog)
        return find_locations(
            PersonalizeHook(aws_conn_id=settings.aws_conn_id),
            with_groups.dataset_group_arns,
            runtime.get_variable(forget_steps.LOCATIONS_VARIABLE),
            forget_steps.LOCATIONS_VARIABLE,
        )

    return forget_steps.forget_scope(
        settings,
        runtime.get_variable,
        store,
        runtime.fingerprint_key(),
        None if backlog else runtime.claim(ti).batch_key,
        (ti.dag_id, ti.run_id, ti.map_index, ti.try_number),
        lambda: forget_steps.run_plan(settings, store, (ti.dag_id, ti.run_id), find_again),
        backlog,
    )


def backlog_scope(context: Mapping[str, Any]) -> ForgetScope:
    """:func:`scope` of the backlog DAG. :param context: the running task's context."""
    return scope(context, backlog=True)


def record(context: Mapping[str, Any], backlog: bool = False) -> dict[str, Any]:
    """
    The record task (:func:`.forget_steps.record_find_and_forget`): a real run's plan and evidence come
    from the warehouse; only a dry run's from XComs.

    :param context: the running task's context.
    :param backlog: the task is the backlog DAG's.
    """
    ti = context["ti"]
    settings = runtime.context_settings(context)

    def dry_run_xcoms() -> forget_steps.DryRunXComs:
        batches = ti.xcom_pull(task_ids=FIND_TASK)
        results = ti.xcom_pull(task_ids=FORGET_TASK, map_indexes=list(range(len(batches)))) if batches else []
        return batches, ti.xcom_pull(task_ids=FIND_TASK, key=FORGET_PLAN_XCOM_KEY), results

    return forget_steps.record_find_and_forget(
        settings, runtime.request_store(settings), (ti.dag_id, ti.run_id), dry_run_xcoms, backlog
    )
