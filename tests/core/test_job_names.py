"""Deterministic job names: the same for every try of a task instance, different otherwise."""

from __future__ import annotations

import pytest

from airflow_provider_personalize_deletion.utils.job_names import deterministic_job_name
from airflow_provider_personalize_deletion.utils.service_model import find_violations

GROUP = "arn:aws:personalize:us-east-1:123456789012:dataset-group/shop"
BASE = ("gdpr_erasure", "create_deletion_job", "scheduled__2026-11-28T00:00:00+00:00", -1, GROUP, "s3://b/k/")


def test_every_try_of_a_task_instance_gets_the_same_name():
    assert deterministic_job_name(*BASE) == deterministic_job_name(*BASE)


@pytest.mark.parametrize("position", range(6))
def test_any_other_dag_task_run_map_index_group_or_location_gets_another_name(position):
    other = list(BASE)
    other[position] = -7 if position == 3 else f"{other[position]}-other"
    assert deterministic_job_name(*other) != deterministic_job_name(*BASE)


@pytest.mark.parametrize("dag_id", ["gdpr_erasure", "é" * 80, "__x__", "a" * 300, "!!!"])
def test_the_name_always_follows_the_service_rules(dag_id):
    name = deterministic_job_name(dag_id, *BASE[1:])
    assert len(name) <= 63
    request = {
        "jobName": name,
        "datasetGroupArn": GROUP,
        "dataSource": {"dataLocation": "s3://b/k"},
        "roleArn": "arn:aws:iam::123456789012:role/R",
    }
    assert find_violations("CreateDataDeletionJob", request) == []


def test_the_name_shows_which_dag_created_it():
    assert deterministic_job_name(*BASE).startswith("erase-gdpr-erasure-")
