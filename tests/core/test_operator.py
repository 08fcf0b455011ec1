"""PersonalizeCreateDataDeletionJobOperator: exactly once, limits, bad input, waiting."""

from __future__ import annotations

import re
import threading
import time

import pytest
from airflow.exceptions import AirflowProviderDeprecationWarning
from airflow.providers.common.compat.sdk import AirflowException, TaskDeferred
from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from botocore.exceptions import ClientError

from airflow_provider_personalize_deletion.exceptions import (
    DataDeletionJobFailedError,
    PersonalizeValidationError,
)
from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
from airflow_provider_personalize_deletion.links.personalize import PersonalizeDataDeletionJobLink
from airflow_provider_personalize_deletion.operators.personalize import (
    SUPERSEDED_XCOM_KEY,
    TASK_STATE_KEY,
    PersonalizeCreateDataDeletionJobOperator,
)
from airflow_provider_personalize_deletion.triggers.personalize import (
    PersonalizeDataDeletionJobCompletedTrigger,
)
from tests.core.conftest import ROLE_ARN, MemoryTaskStateStore, release_after_calls, task_context


def operator(dataset_group: str, location: str, **kwargs) -> PersonalizeCreateDataDeletionJobOperator:
    arguments = {"dataset_group_arn": dataset_group, "data_location": location, "role_arn": ROLE_ARN}
    return PersonalizeCreateDataDeletionJobOperator(task_id="create_deletion_job", **{**arguments, **kwargs})


def test_creates_one_job_and_returns_its_arn(emulator, dataset_group, deletion_file):
    arn = operator(dataset_group, deletion_file).execute(task_context())
    (job,) = emulator.jobs()
    assert job["dataDeletionJobArn"] == arn
    assert job["jobName"].startswith("erase-gdpr-erasure-")


def test_a_retry_after_the_worker_died_carries_on_with_the_same_job(emulator, dataset_group, deletion_file):
    # The first try created the job, then died before pushing its XCom: no state store, no XCom.
    first = operator(dataset_group, deletion_file).execute(task_context())
    retry = operator(dataset_group, deletion_file).execute(task_context())
    assert retry == first
    assert emulator.calls("CreateDataDeletionJob") == 1
    assert len(emulator.jobs()) == 1


def test_a_job_created_between_look_up_and_create_is_reused(
    emulator, dataset_group, deletion_file, monkeypatch
):
    first = operator(dataset_group, deletion_file).execute(task_context())
    # The look-up misses it (a concurrent try created it meanwhile); the service refuses the name.
    misses = iter([iter(())])
    original = PersonalizeHook.list_data_deletion_jobs
    monkeypatch.setattr(
        PersonalizeHook, "list_data_deletion_jobs", lambda self, *a: next(misses, None) or original(self, *a)
    )
    assert operator(dataset_group, deletion_file).execute(task_context()) == first
    assert emulator.calls("CreateDataDeletionJob") == 2  # the second create was refused: name in use
    assert len(emulator.jobs()) == 1


def test_another_run_or_map_index_creates_its_own_job(emulator, dataset_group, deletion_file):
    arns = {
        operator(dataset_group, deletion_file).execute(task_context(run_id="manual__1")),
        operator(dataset_group, deletion_file).execute(task_context(run_id="manual__2")),
        operator(dataset_group, deletion_file).execute(task_context(run_id="manual__2", map_index=1)),
    }
    assert len(arns) == 3


def test_the_arn_is_recorded_in_the_task_state_store_and_reused_without_a_create(
    emulator, dataset_group, deletion_file
):
    store = MemoryTaskStateStore()
    arn = operator(dataset_group, deletion_file).execute(task_context(store=store))
    assert store.get(TASK_STATE_KEY) == arn
    creates, lists = emulator.calls("CreateDataDeletionJob"), emulator.calls("ListDataDeletionJobs")
    again = operator(dataset_group, deletion_file, job_name="a-new-name").execute(task_context(store=store))
    assert again == arn
    assert emulator.calls("CreateDataDeletionJob") == creates
    assert emulator.calls("ListDataDeletionJobs") == lists


def test_a_fixed_job_name_of_an_earlier_run_fails_the_next_run(emulator, dataset_group, deletion_file):
    # A @daily DAG with job_name="gdpr-erasure-shop" and the same folder: run 2 must not pass off run 1's job.
    operator(dataset_group, deletion_file, job_name="gdpr-erasure-shop").execute(
        task_context(store=MemoryTaskStateStore())
    )
    with pytest.raises(PersonalizeValidationError, match="already exists") as error:
        operator(dataset_group, deletion_file, job_name="gdpr-erasure-shop").execute(
            task_context(run_id="scheduled__2", store=MemoryTaskStateStore())
        )
    assert error.value.field == "jobName"
    assert len(emulator.jobs()) == 1


@pytest.mark.parametrize("job_name", ["gdpr-erasure-shop", "x" * 63])
def test_action_if_job_exists_timestamp_gives_the_run_a_job_of_its_own(
    emulator, dataset_group, deletion_file, job_name
):
    first = operator(dataset_group, deletion_file, job_name=job_name).execute(task_context())
    second = operator(
        dataset_group, deletion_file, job_name=job_name, action_if_job_exists="timestamp"
    ).execute(task_context(run_id="scheduled__2"))
    assert second != first
    name = {job["dataDeletionJobArn"]: job["jobName"] for job in emulator.jobs()}[second]
    assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9\-_]*-\d{10}", name)
    assert len(name) <= 63
    assert name.startswith(job_name[:52])


def test_a_fixed_job_name_is_the_tasks_own_after_its_worker_died_before_recording_the_arn(
    emulator, dataset_group, deletion_file
):
    store = MemoryTaskStateStore()
    first = operator(dataset_group, deletion_file, job_name="gdpr-erasure-shop").execute(
        task_context(store=store)
    )
    del store.values[TASK_STATE_KEY]  # killed between the create call and recording its ARN
    retry = operator(dataset_group, deletion_file, job_name="gdpr-erasure-shop").execute(
        task_context(store=store)
    )
    assert retry == first
    assert emulator.calls("CreateDataDeletionJob") == 1


def test_if_exists_is_deprecated_and_reuse_is_refused():
    with pytest.warns(AirflowProviderDeprecationWarning):
        assert operator("arn", "s3://b/k", if_exists="fail").action_if_job_exists == "fail"
    with pytest.warns(AirflowProviderDeprecationWarning), pytest.raises(ValueError, match="if_exists"):
        operator("arn", "s3://b/k", if_exists="reuse")


def test_a_failed_job_is_replaced_by_a_new_generation_and_named_in_xcom(
    emulator, dataset_group, deletion_file
):
    emulator.fail_job(None, "Access denied to the input file")
    store, xcom = MemoryTaskStateStore(), {}
    first = operator(dataset_group, deletion_file).execute(task_context(store=store))
    assert emulator.jobs()[0]["status"] == "FAILED"
    retry = operator(dataset_group, deletion_file).execute(task_context(store=store, xcom=xcom))
    assert retry != first
    names = {job["dataDeletionJobArn"]: job["jobName"] for job in emulator.jobs()}
    assert names[retry] == names[first] + "-g1"
    assert xcom[SUPERSEDED_XCOM_KEY] == [first]


def test_a_retry_after_the_replacement_was_created_but_not_recorded_creates_no_duplicate(
    emulator, dataset_group, deletion_file
):
    emulator.fail_job(None, "Access denied to the input file")
    first = operator(dataset_group, deletion_file).execute(task_context())
    replacement = operator(dataset_group, deletion_file).execute(task_context())
    xcom: dict = {}
    # No task_state_store (or a worker killed before recording): the group's jobs tell the generation.
    again = operator(dataset_group, deletion_file).execute(task_context(xcom=xcom))
    assert again == replacement
    assert len(emulator.jobs()) == 2
    assert xcom[SUPERSEDED_XCOM_KEY] == [first]


def test_a_fixed_job_name_that_failed_gets_a_new_generation_on_retry(emulator, dataset_group, deletion_file):
    emulator.fail_job("gdpr-erasure-shop", "Access denied to the input file")
    store, xcom = MemoryTaskStateStore(), {}
    first = operator(dataset_group, deletion_file, job_name="gdpr-erasure-shop").execute(
        task_context(store=store)
    )
    retry = operator(dataset_group, deletion_file, job_name="gdpr-erasure-shop").execute(
        task_context(store=store, xcom=xcom)
    )
    assert {job["jobName"] for job in emulator.jobs()} == {"gdpr-erasure-shop", "gdpr-erasure-shop-g1"}
    assert retry != first
    assert xcom[SUPERSEDED_XCOM_KEY] == [first]


def test_a_create_resent_by_botocore_after_a_read_timeout_carries_on_with_its_own_job(
    emulator, dataset_group, deletion_file, monkeypatch
):
    # The first create call is slower than the read timeout: the job is created, the response lost,
    # botocore re-sends the call and the service answers ResourceAlreadyExistsException.
    create = PersonalizeHook.create_data_deletion_job

    def slow_first_answer(self, **job):
        emulator.set_latency(1.0)
        threading.Thread(target=answer_quickly_once_created, args=(job["job_name"],), daemon=True).start()
        return create(self, **job)

    def answer_quickly_once_created(name: str) -> None:
        while name not in {job["jobName"] for job in emulator.jobs()}:
            time.sleep(0.05)
        emulator.set_latency(0)

    monkeypatch.setattr(PersonalizeHook, "create_data_deletion_job", slow_first_answer)
    resent = {"read_timeout": 0.3, "retries": {"mode": "standard", "total_max_attempts": 10}}
    arn = operator(
        dataset_group, deletion_file, job_name="gdpr-erasure-shop", botocore_config=resent
    ).execute(task_context())
    assert [job["dataDeletionJobArn"] for job in emulator.jobs()] == [arn]
    assert emulator.calls("CreateDataDeletionJob") >= 2


def test_a_name_taken_in_another_dataset_group_is_refused(emulator, dataset_group, deletion_file):
    other = emulator.create_dataset_group("news")
    operator(other, deletion_file, job_name="erase-today").execute(task_context())
    with pytest.raises(PersonalizeValidationError) as error:
        operator(dataset_group, deletion_file, job_name="erase-today").execute(task_context())
    assert error.value.field == "jobName"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"job_name": "no spaces allowed"}, "jobName"),
        ({"data_location": "http://bucket/users.csv"}, "dataSource.dataLocation"),
        ({"dataset_group_arn": "shop"}, "datasetGroupArn"),
        ({"role_arn": "arn:aws:iam::1:role/x"}, "roleArn"),
        ({"tags": {"bad|key": "v"}}, "tags[0].tagKey"),
    ],
)
def test_bad_input_is_refused_before_any_aws_call(emulator, dataset_group, deletion_file, kwargs, field):
    with pytest.raises(PersonalizeValidationError) as error:
        operator(dataset_group, deletion_file, **kwargs).execute(task_context())
    assert error.value.field == field
    assert emulator.calls() == 0


def test_an_unknown_dataset_group_is_refused_before_the_create_call(emulator, deletion_file):
    unknown = "arn:aws:personalize:us-east-1:123456789012:dataset-group/nope"
    with pytest.raises(PersonalizeValidationError) as error:
        operator(unknown, deletion_file).execute(task_context())
    assert error.value.field == "datasetGroupArn"
    assert emulator.calls("CreateDataDeletionJob") == 0


def test_an_invalid_action_if_job_exists_is_refused_when_the_dag_is_parsed():
    with pytest.raises(ValueError, match="action_if_job_exists"):
        operator("arn", "s3://b/k", action_if_job_exists="overwrite")


def test_tags_in_boto3_list_shape_are_accepted(emulator, dataset_group, deletion_file):
    tags = [{"tagKey": "purpose", "tagValue": "gdpr-erasure"}]
    assert operator(dataset_group, deletion_file, tags=tags).execute(task_context())
    assert emulator.calls("CreateDataDeletionJob") == 1


def test_tags_of_another_shape_are_refused_naming_tags(emulator, dataset_group, deletion_file):
    with pytest.raises(PersonalizeValidationError) as error:
        operator(dataset_group, deletion_file, tags="purpose=gdpr").execute(task_context())
    assert error.value.field == "tags"
    assert emulator.calls() == 0


def fill_pending_slots(emulator, dataset_group: str, location: str) -> list[str]:
    names = [f"queued-{index}" for index in range(5)]
    for name in names:
        emulator.hold(name, "PENDING")
        PersonalizeHook().create_data_deletion_job(name, dataset_group, location, ROLE_ARN)
    return names


def test_at_the_pending_limit_it_waits_for_a_slot_then_creates(emulator, dataset_group, deletion_file):
    names = fill_pending_slots(emulator, dataset_group, deletion_file)
    release_after_calls(emulator, "CreateDataDeletionJob", 6, names[0])  # after the first refusal
    task = operator(dataset_group, deletion_file, slot_wait_delay=0.2, slot_wait_timeout=30)
    arn = task.execute(task_context())
    assert arn in {job["dataDeletionJobArn"] for job in emulator.jobs()}
    assert emulator.calls("CreateDataDeletionJob") > 6  # the five queued, then refusals, then ours


def test_it_gives_up_waiting_for_a_slot_after_the_bound(emulator, dataset_group, deletion_file):
    fill_pending_slots(emulator, dataset_group, deletion_file)
    task = operator(dataset_group, deletion_file, slot_wait_delay=0.2, slot_wait_timeout=1)
    with pytest.raises(AirflowException, match="5 PENDING"):
        task.execute(task_context())
    assert len(emulator.jobs()) == 5


def test_wait_for_completion_returns_when_completed(emulator, dataset_group, deletion_file):
    emulator.set_timings(pending_seconds=0.5, in_progress_seconds=0.5)
    arn = operator(
        dataset_group, deletion_file, wait_for_completion=True, deferrable=False, waiter_delay=1
    ).execute(task_context())
    assert {job["dataDeletionJobArn"]: job["status"] for job in emulator.jobs()}[arn] == "COMPLETED"


def test_wait_for_completion_fails_with_the_service_reason(emulator, dataset_group, deletion_file):
    emulator.fail_job(None, "Input file is not valid")
    with pytest.raises(DataDeletionJobFailedError, match="Input file is not valid"):
        operator(
            dataset_group, deletion_file, wait_for_completion=True, deferrable=False, waiter_delay=1
        ).execute(task_context())


def test_every_user_facing_argument_is_templated():
    task = operator("arn", "s3://b/k")
    for field in task.template_fields:
        assert hasattr(task, field), field
    assert {"dataset_group_arn", "data_location", "role_arn", "job_name", "tags"} <= set(task.template_fields)


def test_deferrable_at_the_pending_limit_it_waits_for_a_slot_in_the_triggerer(
    emulator, dataset_group, deletion_file
):
    names = fill_pending_slots(emulator, dataset_group, deletion_file)
    task = operator(dataset_group, deletion_file, deferrable=True, slot_wait_delay=5)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(task_context())
    assert isinstance(deferred.value.trigger, TimeDeltaTrigger)
    assert deferred.value.method_name == "resume_after_slot_wait"
    assert len(emulator.jobs()) == 5
    emulator.release(names[0])
    arn = task.resume_after_slot_wait(task_context(), **deferred.value.kwargs)
    assert arn in {job["dataDeletionJobArn"] for job in emulator.jobs()}


def test_deferrable_wait_for_completion_hands_the_job_to_the_trigger_and_checks_its_outcome(
    emulator, dataset_group, deletion_file
):
    emulator.fail_job(None, "Input file is not valid")
    task = operator(dataset_group, deletion_file, wait_for_completion=True, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(task_context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, PersonalizeDataDeletionJobCompletedTrigger)
    arn = trigger.return_value
    with pytest.raises(DataDeletionJobFailedError, match="Input file is not valid"):
        task.execute_complete(task_context(), {"status": "error", "data_deletion_job_arn": arn})


def test_slot_waits_start_once_per_try_and_survive_a_resume_that_lost_the_defer_kwargs(
    emulator, dataset_group, deletion_file
):
    fill_pending_slots(emulator, dataset_group, deletion_file)
    store = MemoryTaskStateStore()
    task = operator(dataset_group, deletion_file, deferrable=True, slot_wait_delay=0.1, slot_wait_timeout=0.5)
    with pytest.raises(TaskDeferred):
        task.execute(task_context(store=store))
    time.sleep(0.6)
    # dag.test() resumes with the trigger's event in place of the defer kwargs.
    with pytest.raises(AirflowException, match="still busy"):
        task.resume_after_slot_wait(task_context(store=store), event=None)


def test_the_console_link_has_the_consoles_shape():
    link = PersonalizeDataDeletionJobLink().format_link(
        region_name="eu-west-1",
        aws_domain="aws.amazon.com",
        dataset_group_arn="arn:aws:personalize:eu-west-1:123456789012:dataset-group/shop",
    )
    assert link == (
        "https://console.aws.amazon.com/personalize/home?region=eu-west-1"
        "#arn:aws:personalize:eu-west-1:123456789012:dataset-group$shop/setup"
    )


def test_the_console_link_keeps_the_partitions_console_domain():
    link = PersonalizeDataDeletionJobLink().format_link(
        region_name="cn-north-1",
        aws_domain="amazonaws.cn",
        dataset_group_arn="arn:aws-cn:personalize:cn-north-1:123456789012:dataset-group/shop",
    )
    assert link == (
        "https://console.amazonaws.cn/personalize/home?region=cn-north-1"
        "#arn:aws-cn:personalize:cn-north-1:123456789012:dataset-group$shop/setup"
    )


def test_a_cleared_task_whose_input_changed_gets_a_new_job(emulator, dataset_group, deletion_file, s3_client):
    store = MemoryTaskStateStore()
    first = operator(dataset_group, deletion_file).execute(task_context(store=store))
    s3_client.put_object(Bucket="erasure-requests", Key="run-1b/part-00000.csv", Body=b"USER_ID\nu3\n")
    cleared = operator(dataset_group, "s3://erasure-requests/run-1b/part-00000.csv")
    second = cleared.execute(task_context(store=store))
    assert second != first
    assert store.get(TASK_STATE_KEY) == second
    assert len(emulator.jobs()) == 2


def test_a_fixed_job_name_already_used_for_other_input_is_refused(
    emulator, dataset_group, deletion_file, s3_client
):
    operator(dataset_group, deletion_file, job_name="erase-today").execute(task_context())
    s3_client.put_object(Bucket="erasure-requests", Key="other.csv", Body=b"USER_ID\nu3\n")
    with pytest.raises(PersonalizeValidationError) as error:
        operator(dataset_group, "s3://erasure-requests/other.csv", job_name="erase-today").execute(
            task_context(map_index=1)
        )
    assert error.value.field == "jobName"
    assert len(emulator.jobs()) == 1


def test_a_busy_dataset_group_is_waited_for_like_a_full_one(
    emulator, dataset_group, deletion_file, monkeypatch
):
    # The emulator cannot make a dataset group busy with training: the refusal is injected once.
    refusals = iter([ClientError({"Error": {"Code": "ResourceInUseException"}}, "CreateDataDeletionJob")])
    original = PersonalizeHook.create_data_deletion_job

    def create_once_busy(self, *args, **kwargs):
        refusal = next(refusals, None)
        if refusal is not None:
            raise refusal
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PersonalizeHook, "create_data_deletion_job", create_once_busy)
    arn = operator(dataset_group, deletion_file, slot_wait_delay=0.1).execute(task_context())
    assert [job["dataDeletionJobArn"] for job in emulator.jobs()] == [arn]


@pytest.mark.parametrize(
    ("field", "value"),
    [("waiter_delay", 0), ("waiter_delay", -5), ("waiter_delay", float("nan")), ("waiter_max_attempts", 0),
     ("waiter_max_attempts", 2.5), ("quiet_poll_interval", float("inf")), ("quiet_timeout", float("inf"))],
)  # fmt: skip
def test_a_bad_wait_bound_is_refused_when_the_operator_is_built_before_any_call(emulator, field, value):
    with pytest.raises(ValueError, match=f"'{field}'"):
        operator("arn:g", "s3://bucket/ids.csv", **{field: value})
    assert emulator.calls() == 0
