"""Test DAGs: create a data deletion job and wait for it deferred; wait for a free slot deferred; wait for a
quiet dataset group deferred, then for the job and what overlapped it."""

from __future__ import annotations

from airflow.sdk import DAG, Param

from airflow_provider_personalize_deletion.operators.personalize import (
    PersonalizeCreateDataDeletionJobOperator,
)
from airflow_provider_personalize_deletion.sensors.personalize import PersonalizeDataDeletionJobSensor

with DAG(
    dag_id="personalize_core",
    schedule=None,
    params={
        "dataset_group_arn": Param("", type="string"),
        "data_location": Param("", type="string"),
        "role_arn": Param("arn:aws:iam::123456789012:role/PersonalizeDeletion", type="string"),
    },
):
    create = PersonalizeCreateDataDeletionJobOperator(
        task_id="create_deletion_job",
        dataset_group_arn="{{ params.dataset_group_arn }}",
        data_location="{{ params.data_location }}",
        role_arn="{{ params.role_arn }}",
        tags={"purpose": "gdpr-erasure"},
    )
    PersonalizeDataDeletionJobSensor(
        task_id="wait_for_deletion",
        data_deletion_job_arn=create.output,
        deferrable=True,
        poke_interval=1,
        timeout=60,
    )

with DAG(
    dag_id="personalize_slot_wait",
    schedule=None,
    params={
        "dataset_group_arn": Param("", type="string"),
        "data_location": Param("", type="string"),
    },
):
    PersonalizeCreateDataDeletionJobOperator(
        task_id="create_deletion_job",
        dataset_group_arn="{{ params.dataset_group_arn }}",
        data_location="{{ params.data_location }}",
        role_arn="arn:aws:iam::123456789012:role/PersonalizeDeletion",
        deferrable=True,
        slot_wait_delay=1,
        slot_wait_timeout=4,
    )

with DAG(
    dag_id="personalize_quiet_wait",
    schedule=None,
    params={
        "dataset_group_arn": Param("", type="string"),
        "data_location": Param("", type="string"),
    },
):
    quiet_create = PersonalizeCreateDataDeletionJobOperator(
        task_id="create_deletion_job",
        dataset_group_arn="{{ params.dataset_group_arn }}",
        data_location="{{ params.data_location }}",
        role_arn="arn:aws:iam::123456789012:role/PersonalizeDeletion",
        deferrable=True,
        quiet_poll_interval=1,
        quiet_timeout=8,
    )
    PersonalizeDataDeletionJobSensor(
        task_id="wait_for_deletion",
        data_deletion_job_arn=quiet_create.output,
        deferrable=True,
        poke_interval=1,
        timeout=60,
    )
