"""The job-waiter triggers: what they stored stays readable across upgrades; each waits with its waiter."""

from __future__ import annotations

import time

import pytest
from airflow.models.trigger import Trigger
from airflow.sdk._shared.module_loading import import_string

PACKAGE = "airflow_provider_personalize_deletion.triggers"

#: What ``serialize()`` gave before the triggers' constructors became class data (commit 5f78059): the
#: rows a running triggerer's metadata database holds while the provider is upgraded under it.
STORED_BEFORE_THE_UPGRADE = [
    (
        f"{PACKAGE}.personalize.PersonalizeDataDeletionJobCompletedTrigger",
        {
            "waiter_delay": 60,
            "waiter_max_attempts": 1500,
            "aws_conn_id": "aws_default",
            "data_deletion_job_arn": "arn:d",
        },
    ),
    (
        f"{PACKAGE}.dataset_export.PersonalizeDatasetExportJobActiveTrigger",
        {
            "waiter_delay": 60,
            "waiter_max_attempts": 1440,
            "aws_conn_id": "aws_default",
            "dataset_export_job_arn": "arn:e",
        },
    ),
    (
        f"{PACKAGE}.dataset_import.PersonalizeDatasetImportJobActiveTrigger",
        {
            "waiter_delay": 5,
            "waiter_max_attempts": 9,
            "aws_conn_id": None,
            "dataset_import_job_arn": "arn:i",
            "region_name": "eu-west-1",
            "verify": False,
            "botocore_config": {"retries": {"mode": "standard"}},
        },
    ),
]

#: Per trigger: its waiter, the waiter's argument, the status it logs, the event's key of the job, its noun.
WAITERS = [
    (
        "data_deletion_job_complete",
        "dataDeletionJobArn",
        "dataDeletionJob.status",
        "data_deletion_job_arn",
        "data deletion job",
    ),
    (
        "dataset_export_job_active",
        "datasetExportJobArn",
        "datasetExportJob.status",
        "dataset_export_job_arn",
        "dataset export job",
    ),
    (
        "dataset_import_job_active",
        "datasetImportJobArn",
        "datasetImportJob.status",
        "dataset_import_job_arn",
        "dataset import job",
    ),
]


@pytest.mark.parametrize(("classpath", "kwargs"), STORED_BEFORE_THE_UPGRADE)
def test_a_trigger_stored_by_the_earlier_version_is_rebuilt_and_serializes_the_same(classpath, kwargs):
    """It had no deadline: it gets one when rebuilt, its whole wait from then (and keeps it after)."""
    row = Trigger(classpath=classpath, kwargs=kwargs)  # encrypted and decrypted as the triggerer does
    before = time.time()
    rebuilt = import_string(row.classpath)(**row.kwargs)
    rebuilt_classpath, rebuilt_kwargs = rebuilt.serialize()
    deadline = rebuilt_kwargs.pop("deadline")
    assert (rebuilt_classpath, rebuilt_kwargs) == (classpath, kwargs)
    wait = kwargs["waiter_delay"] * kwargs["waiter_max_attempts"]
    assert before + wait <= deadline <= time.time() + wait


@pytest.mark.parametrize(("stored", "waiter"), list(zip(STORED_BEFORE_THE_UPGRADE, WAITERS, strict=True)))
def test_each_trigger_waits_with_its_jobs_waiter_and_names_the_job_in_its_event(stored, waiter):
    classpath, kwargs = stored
    waiter_name, waiter_arg, status_query, event_key, noun = waiter
    trigger = import_string(classpath)(**kwargs)
    arn = kwargs[event_key]
    assert (trigger.waiter_name, trigger.waiter_args, trigger.status_queries) == (
        waiter_name,
        {waiter_arg: arn},
        [status_query],
    )
    assert trigger.failure_message == f"Personalize {noun} failed."
    assert trigger.status_message == f"Status of Personalize {noun} is"
    assert trigger.event("error", "boom").payload == {"status": "error", event_key: arn, "message": "boom"}


@pytest.mark.parametrize(("classpath", "kwargs"), STORED_BEFORE_THE_UPGRADE)
def test_an_unknown_or_missing_argument_is_refused_naming_it(classpath, kwargs):
    trigger_class = import_string(classpath)
    with pytest.raises(TypeError, match="job_arn"):
        trigger_class(job_arn="arn:x")
    arn_field = next(name for name in kwargs if name.endswith("_job_arn"))
    with pytest.raises(TypeError, match=arn_field):
        trigger_class(waiter_delay=1)
