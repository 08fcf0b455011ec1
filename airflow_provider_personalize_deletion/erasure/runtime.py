"""The Airflow side of the erasure steps: connections, Variables, XComs. Imported at run time only."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow.sdk import BaseHook, Variable
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_personalize_deletion.erasure.claim import Claim
from airflow_provider_personalize_deletion.erasure.rounds import ROUNDS, round_tasks
from airflow_provider_personalize_deletion.erasure.settings import (
    ErasureSettings,
    WarehouseSettings,
    check_conf,
    resolve_settings,
    select_dataset_groups,
    variable_value,
)
from airflow_provider_personalize_deletion.erasure.steps import (
    Describe,
    ErasureRunFailedError,
    ListActivity,
    ListJobs,
    selected_groups_problem,
)
from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore

COLLECT_TASK = "collect_erasure_requests"
EXPORT_TASK = "export_user_ids"
PLAN_TASK, CREATE_TASK, WAIT_TASK = round_tasks(0)


def get_variable(key: str) -> Any | None:
    """
    An Airflow Variable's value, JSON-decoded when it is JSON; None when not set.

    :param key: the Variable's key.
    """
    return variable_value(Variable.get(key, default=None))


def run_settings(params: Mapping[str, Any], conf: Mapping[str, Any] | None) -> ErasureSettings:
    """
    The run's settings, resolved anew from its params and the Variables (never from an XCom).

    :param params: the DAG run's params.
    :param conf: the DAG run's conf: a key that is not a trigger form field refuses the run.
    """
    check_conf(conf)
    return resolve_settings(params, get_variable)


def context_settings(context: Mapping[str, Any]) -> ErasureSettings:
    """
    :func:`run_settings` of a task's context.

    :param context: the running task's context.
    """
    return run_settings(context["params"], context["dag_run"].conf)


def request_store(settings: ErasureSettings | WarehouseSettings) -> ErasureRequestStore:
    """
    The request store of a run's warehouse.

    :param settings: the run's settings (or the warehouse's, outside a run).
    """
    # The hook would log each statement with its parameters, and those may be user ids.
    hook = BaseHook.get_connection(settings.warehouse_conn_id).get_hook(hook_params={"log_sql": False})
    return ErasureRequestStore(
        hook, settings.requests_table, settings.audit_table, settings.suppression_table
    )


def collected(ti: Any) -> dict[str, Any]:
    """
    The collect step's result; a run whose collect step failed has nothing to record or clean.

    Only its claim (:meth:`.Claim.from_collected`) and its request counts (for display) are used.

    :param ti: the running task instance.
    """
    result = ti.xcom_pull(task_ids=COLLECT_TASK)
    if not isinstance(result, Mapping):
        raise AirflowFailException(f"{COLLECT_TASK} did not finish: no request was claimed, nothing to do")
    return dict(result)


def claim(ti: Any) -> Claim:
    """
    The run's claim, from the collect step's result (checked).

    :param ti: the running task instance.
    """
    return Claim.from_collected(collected(ti))


def _round_jobs(ti: Any, round_number: int) -> list[tuple[str | None, list[str], Any]]:
    """The jobs of a round by map index: (ARN or None, superseded ARNs, the wait task's result)."""
    plan, create, wait = round_tasks(round_number)
    indexes = list(range(len(ti.xcom_pull(task_ids=plan) or [])))
    if not indexes:
        return []
    arns = ti.xcom_pull(task_ids=create, map_indexes=indexes)
    superseded = ti.xcom_pull(task_ids=create, key="superseded_job_arns", map_indexes=indexes)
    waited = ti.xcom_pull(task_ids=wait, map_indexes=indexes)
    return [
        (arn, list(json.loads(earlier) if isinstance(earlier, str) else earlier or []), result)
        for arn, earlier, result in zip(arns, superseded, waited, strict=True)
    ]


def created_jobs(ti: Any) -> dict[str, list[str]]:
    """
    The deletion jobs this run created, initial ones then each follow-up round's (none when the create
    step was skipped), each with the ARNs of the FAILED jobs it replaced (the create task's XCom
    ``superseded_job_arns``, oldest first).

    :param ti: the running task instance.
    :return: ``{job ARN: [superseded job ARN, ...]}``, in round and map index order.
    """
    return {arn: earlier for _, arn, earlier in _all_jobs(ti)}


def job_rounds(ti: Any) -> dict[str, int]:
    """
    The round of each job this run created: 0 for the initial jobs, then 1, 2, ... for follow-ups.

    :param ti: the running task instance.
    """
    return {arn: round_number for round_number, arn, _ in _all_jobs(ti)}


def _all_jobs(ti: Any) -> list[tuple[int, str, list[str]]]:
    return [
        (round_number, arn, earlier)
        for round_number in ROUNDS
        for arn, earlier, _ in _round_jobs(ti, round_number)
        if arn
    ]


def previous_round(ti: Any, round_number: int) -> list[dict[str, Any]]:
    """
    The jobs of the round before ``round_number``, each with what overlapped it (the wait task's
    ``overlapping_activity``); for display and to decide which file to read again, never where.

    :param ti: the running task instance.
    :param round_number: the follow-up round being planned (from 1).
    """
    return [
        {
            "job_arn": arn,
            "overlapping_activity": result.get("overlapping_activity")
            if isinstance(result, Mapping)
            else None,
        }
        for arn, _, result in _round_jobs(ti, round_number - 1)
        if arn
    ]


def group_settings(settings: ErasureSettings, ti: Any) -> tuple[ErasureSettings, str | None]:
    """
    The settings with the run's dataset groups: a selector is resolved again (never taken from an
    XCom), and compared with what the collect step resolved.

    :param settings: the run's settings.
    :param ti: the running task instance.
    :return: the settings, and why the groups differ from the collect step's (None when they do not).
    """
    if settings.selector is None:
        return settings, None
    resolved = select_dataset_groups(settings, groups_lister(settings))
    return resolved, selected_groups_problem(resolved, collected(ti))


def run_groups(settings: ErasureSettings, ti: Any) -> ErasureSettings:
    """
    :func:`group_settings`, refusing the task when the groups changed since the collect step.

    :param settings: the run's settings.
    :param ti: the running task instance.
    :raises ErasureRunFailedError: the selector names other groups now.
    """
    resolved, problem = group_settings(settings, ti)
    if problem:
        raise ErasureRunFailedError(f"No deletion job planned: {problem}")
    return resolved


def groups_lister(settings: ErasureSettings) -> Any:
    """
    Lists the ACTIVE dataset groups a selector names, with the run's AWS connection.

    :param settings: the run's settings.
    """
    from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook

    hook = PersonalizeHook(aws_conn_id=settings.aws_conn_id)
    return lambda selector: hook.list_dataset_groups_by(selector, field="dataset_group_arns")


def activity_lister(settings: ErasureSettings) -> ListActivity:
    """
    Lists what uses a dataset group's datasets, with the run's AWS connection.

    :param settings: the run's settings.
    """
    from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook

    return PersonalizeHook(aws_conn_id=settings.aws_conn_id).list_dataset_group_activity


def fingerprint_key() -> bytes:
    """
    The fingerprint key, from ``[personalize_deletion] fingerprint_key``
    (:func:`.utils.fingerprint_key.fingerprint_key`); a copy of the example DAG made by 0.2 calls it.
    """
    from airflow_provider_personalize_deletion.utils.fingerprint_key import fingerprint_key as setting

    return setting()


def describer(settings: ErasureSettings) -> Describe:
    """
    Describe jobs with the run's AWS connection.

    :param settings: the run's settings.
    """
    from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook

    return PersonalizeHook(aws_conn_id=settings.aws_conn_id).describe_data_deletion_job


def job_lister(settings: ErasureSettings) -> ListJobs:
    """
    List every data deletion job of the account (summaries) with the run's AWS connection.

    :param settings: the run's settings.
    """
    from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook

    return PersonalizeHook(aws_conn_id=settings.aws_conn_id).list_data_deletion_jobs


def s3_client(settings: ErasureSettings) -> Any:
    """
    A boto3 S3 client on the run's AWS connection.

    :param settings: the run's settings.
    """
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=settings.aws_conn_id).get_conn()
