"""The Airflow side of the erasure steps: connections, Variables, XComs. Imported at run time only."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow.sdk import BaseHook, Variable
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_personalize_deletion.erasure.claim import Claim
from airflow_provider_personalize_deletion.erasure.settings import (
    ErasureSettings,
    check_conf,
    resolve_settings,
)
from airflow_provider_personalize_deletion.erasure.steps import Describe
from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore

COLLECT_TASK = "collect_erasure_requests"
PLAN_TASK = "plan_deletion_jobs"
CREATE_TASK = "create_deletion_job"


def get_variable(key: str) -> Any | None:
    """
    An Airflow Variable's value, JSON-decoded when it is JSON; None when not set.

    :param key: the Variable's key.
    """
    value = Variable.get(key, default=None)
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


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


def request_store(settings: ErasureSettings) -> ErasureRequestStore:
    """
    The request store of a run's warehouse.

    :param settings: the run's settings.
    """
    # The hook would log each statement with its parameters, and those may be user ids.
    hook = BaseHook.get_connection(settings.warehouse_conn_id).get_hook(hook_params={"log_sql": False})
    return ErasureRequestStore(hook, settings.requests_table, settings.audit_table)


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


def created_jobs(ti: Any) -> dict[str, list[str]]:
    """
    The deletion jobs this run created (none when the create step was skipped), each with the ARNs
    of the FAILED jobs it replaced (the create task's XCom ``superseded_job_arns``, oldest first).

    :param ti: the running task instance.
    :return: ``{job ARN: [superseded job ARN, ...]}``, in map index order.
    """
    indexes = list(range(len(ti.xcom_pull(task_ids=PLAN_TASK) or [])))
    if not indexes:
        return {}
    arns = ti.xcom_pull(task_ids=CREATE_TASK, map_indexes=indexes)
    superseded = ti.xcom_pull(task_ids=CREATE_TASK, key="superseded_job_arns", map_indexes=indexes)
    return {
        arn: list(json.loads(earlier) if isinstance(earlier, str) else earlier or [])
        for arn, earlier in zip(arns, superseded, strict=True)
        if arn
    }


def fingerprint_key() -> bytes:
    """The secret key of the id-set fingerprints (the transfer's default Variable), created if unset."""
    from airflow_provider_personalize_deletion.utils.fingerprint_key import get_or_create_fingerprint_key

    return get_or_create_fingerprint_key()


def describer(settings: ErasureSettings) -> Describe:
    """
    Describe jobs with the run's AWS connection.

    :param settings: the run's settings.
    """
    from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook

    return PersonalizeHook(aws_conn_id=settings.aws_conn_id).describe_data_deletion_job


def s3_client(settings: ErasureSettings) -> Any:
    """
    A boto3 S3 client on the run's AWS connection.

    :param settings: the run's settings.
    """
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=settings.aws_conn_id).get_conn()
