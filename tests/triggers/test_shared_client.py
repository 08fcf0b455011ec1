"""Deletion-job triggers of one event loop share one aiobotocore client per set of client settings."""

from __future__ import annotations

import asyncio
import gc
import json
import threading

import botocore.loaders
import pytest
from airflow.providers.amazon.aws.hooks import base_aws

from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
from airflow_provider_personalize_deletion.triggers import client_pool
from airflow_provider_personalize_deletion.triggers.client_pool import (
    DEFAULT_MAX_POOL_CONNECTIONS,
    client_key,
    running_loop_pool,
    shared_client,
)
from airflow_provider_personalize_deletion.triggers.personalize import (
    PersonalizeDataDeletionJobCompletedTrigger,
)


def trigger(arn: str, **kwargs) -> PersonalizeDataDeletionJobCompletedTrigger:
    return PersonalizeDataDeletionJobCompletedTrigger(
        data_deletion_job_arn=arn, waiter_delay=1, waiter_max_attempts=30, **kwargs
    )


async def first_event(trigger: PersonalizeDataDeletionJobCompletedTrigger) -> dict:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger ended without an event")


async def until(condition, timeout: float = 10.0) -> None:
    """Wait, without blocking the loop, until ``condition()`` holds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


async def test_triggers_with_the_same_settings_open_one_client_and_close_it(clients, create_jobs):
    arns = create_jobs(5)
    events = await asyncio.gather(*(first_event(trigger(arn)) for arn in arns))
    assert events == [{"status": "success", "data_deletion_job_arn": arn} for arn in arns]
    assert (clients.opened, clients.closed) == (1, 1)
    assert len(running_loop_pool()) == 0


async def test_triggers_with_different_settings_do_not_share(clients, create_jobs):
    first, second, third = create_jobs(3)
    await asyncio.gather(
        first_event(trigger(first)),
        first_event(trigger(second, botocore_config={"read_timeout": 30})),
        first_event(trigger(third, botocore_config={"read_timeout": 30})),
    )
    assert (clients.opened, clients.closed) == (2, 2)


async def test_the_client_is_closed_when_the_last_waiting_trigger_is_cancelled(
    clients, create_jobs, emulator
):
    arns = create_jobs(3, held=True)
    tasks = [asyncio.create_task(first_event(trigger(arn))) for arn in arns]
    await until(lambda: emulator.calls("DescribeDataDeletionJob") >= 3)
    assert clients.open_now == 1
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert (clients.opened, clients.closed) == (1, 1)
    assert len(running_loop_pool()) == 0


async def test_cancelling_one_trigger_leaves_the_shared_client_to_the_others(clients, create_jobs, emulator):
    leaving, staying = create_jobs(2, held=True)
    leaving_task = asyncio.create_task(first_event(trigger(leaving)))
    staying_task = asyncio.create_task(first_event(trigger(staying)))
    await until(lambda: emulator.calls("DescribeDataDeletionJob") >= 2)
    leaving_task.cancel()
    await asyncio.gather(leaving_task, return_exceptions=True)
    assert clients.open_now == 1
    emulator.release("erase-1")
    assert await staying_task == {"status": "success", "data_deletion_job_arn": staying}
    assert (clients.opened, clients.closed) == (1, 1)


async def test_a_trigger_cancelled_while_the_client_opens_does_not_fail_the_others(clients, create_jobs):
    first, second = create_jobs(2)
    cancelled = asyncio.create_task(first_event(trigger(first)))
    waiting = asyncio.create_task(first_event(trigger(second)))
    await asyncio.sleep(0)  # both are now waiting for the client the first one started opening
    cancelled.cancel()
    assert await waiting == {"status": "success", "data_deletion_job_arn": second}
    assert cancelled.cancelled()
    assert (clients.opened, clients.closed) == (1, 1)


async def test_a_failed_opening_is_not_kept_and_the_next_trigger_opens_again(
    clients, create_jobs, monkeypatch
):
    first, second = create_jobs(2)
    get_client_type = PersonalizeHook.get_client_type
    failures = iter([ConnectionError("credentials service unreachable")])

    def fail_once(self, *args, **kwargs):
        for error in failures:
            raise error
        return get_client_type(self, *args, **kwargs)

    monkeypatch.setattr(PersonalizeHook, "get_client_type", fail_once)
    with pytest.raises(ConnectionError):
        await first_event(trigger(first))
    assert await first_event(trigger(second)) == {"status": "success", "data_deletion_job_arn": second}
    assert (clients.opened, clients.closed) == (1, 1)


def test_each_event_loop_opens_its_own_client(clients, create_jobs):
    first, second = create_jobs(2)
    assert asyncio.run(first_event(trigger(first)))["status"] == "success"
    assert asyncio.run(first_event(trigger(second)))["status"] == "success"
    assert (clients.opened, clients.closed) == (2, 2)


async def test_a_trigger_arriving_after_the_client_aged_out_gets_a_fresh_one(
    clients, create_jobs, emulator, monkeypatch
):
    old_user, new_user = create_jobs(2, held=True)
    old_task = asyncio.create_task(first_event(trigger(old_user)))
    await until(lambda: emulator.calls("DescribeDataDeletionJob") >= 1)
    monkeypatch.setattr(client_pool, "MAX_CLIENT_AGE_SECONDS", 0.0)
    new_task = asyncio.create_task(first_event(trigger(new_user)))
    await until(lambda: clients.opened == 2)
    emulator.release("erase-0")
    emulator.release("erase-1")
    await asyncio.gather(old_task, new_task)
    assert (clients.opened, clients.closed) == (2, 2)
    assert len(running_loop_pool()) == 0


async def test_the_client_opens_without_reading_the_connection_or_data_files_on_the_event_loop(
    create_jobs, monkeypatch
):
    (arn,) = create_jobs(1)
    # A fresh loader has nothing cached: the opening must read botocore's data files.
    monkeypatch.setattr(base_aws, "_loader", botocore.loaders.Loader())
    threads: dict[str, list[int]] = {"data files": [], "connection": []}
    load_file = botocore.loaders.JSONFileLoader.load_file
    get_connection = PersonalizeHook.get_connection

    def recorded_load_file(self, *args, **kwargs):
        threads["data files"].append(threading.get_ident())
        return load_file(self, *args, **kwargs)

    def recorded_get_connection(cls, conn_id):
        threads["connection"].append(threading.get_ident())
        return get_connection(conn_id)

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", recorded_load_file)
    monkeypatch.setattr(PersonalizeHook, "get_connection", classmethod(recorded_get_connection))
    assert (await first_event(trigger(arn)))["status"] == "success"
    loop_thread = threading.get_ident()
    assert threads["data files"] and threads["connection"]
    assert loop_thread not in threads["data files"]
    assert loop_thread not in threads["connection"]


async def max_pool_connections(botocore_config: dict | None = None, aws_conn_id: str = "aws_default") -> int:
    """The connection pool size of the shared client that triggers with these settings get."""
    waiting = trigger("arn:unused", aws_conn_id=aws_conn_id, botocore_config=botocore_config)
    key = client_key(PersonalizeHook, aws_conn_id, None, None, botocore_config)
    async with shared_client(key, waiting.hook) as opened:
        return opened.client.meta.config.max_pool_connections


async def test_the_shared_client_pools_connections_for_many_triggers_unless_the_user_sizes_it(
    aws_conn, local_aws, monkeypatch
):
    assert DEFAULT_MAX_POOL_CONNECTIONS > 10  # botocore's own default
    assert await max_pool_connections() == DEFAULT_MAX_POOL_CONNECTIONS
    assert await max_pool_connections({"max_pool_connections": 7, "read_timeout": 30}) == 7
    extra = {
        "endpoint_url": aws_conn,
        "region_name": local_aws.region,
        "config_kwargs": {"max_pool_connections": 3},
    }
    connection = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_PERSONALIZE_SIZED", json.dumps(connection))
    assert await max_pool_connections(aws_conn_id="personalize_sized") == 3


async def retry_mode(botocore_config: dict | None = None, aws_conn_id: str = "aws_default") -> str:
    """The retry mode of the shared client that triggers with these settings get."""
    waiting = trigger("arn:unused", aws_conn_id=aws_conn_id, botocore_config=botocore_config)
    key = client_key(PersonalizeHook, aws_conn_id, None, None, botocore_config)
    async with shared_client(key, waiting.hook) as opened:
        return opened.client.meta.config.retries["mode"]


async def test_the_shared_client_retries_adaptively_unless_the_user_sets_a_retry_mode(
    aws_conn, local_aws, monkeypatch
):
    assert await retry_mode() == "adaptive"
    assert await retry_mode({"retries": {"mode": "legacy"}}) == "legacy"
    extra = {
        "endpoint_url": aws_conn,
        "region_name": local_aws.region,
        "config_kwargs": {"retries": {"mode": "standard", "max_attempts": 7}},
    }
    connection = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_PERSONALIZE_RETRIES", json.dumps(connection))
    assert await retry_mode(aws_conn_id="personalize_retries") == "standard"
    monkeypatch.setenv("AWS_RETRY_MODE", "legacy")
    assert await retry_mode() == "legacy"


async def test_triggers_of_one_client_share_its_waiter(clients, create_jobs, monkeypatch):
    arns = create_jobs(3)
    built = []
    get_waiter = PersonalizeHook.get_waiter

    def recorded_get_waiter(self, *args, **kwargs):
        built.append(args[0] if args else kwargs["waiter_name"])
        return get_waiter(self, *args, **kwargs)

    monkeypatch.setattr(PersonalizeHook, "get_waiter", recorded_get_waiter)
    events = await asyncio.gather(*(first_event(trigger(arn)) for arn in arns))
    assert [event["status"] for event in events] == ["success"] * 3
    assert built == ["data_deletion_job_complete"]
    assert clients.opened == 1


GC_FREEZE_ENV = "AIRFLOW__PERSONALIZE_DELETION__TRIGGERER_GC_FREEZE"


@pytest.fixture
def unfrozen_gc(monkeypatch):
    """A process whose garbage collector froze nothing yet, as far as the client pool knows."""
    gc.unfreeze()
    monkeypatch.setattr(client_pool, "_gc_freeze_done", False)
    yield
    gc.unfreeze()


async def test_the_garbage_collector_is_left_alone_unless_the_deployment_asks(
    clients, create_jobs, unfrozen_gc, monkeypatch
):
    monkeypatch.delenv(GC_FREEZE_ENV, raising=False)
    (arn,) = create_jobs(1)
    assert (await first_event(trigger(arn)))["status"] == "success"
    assert clients.opened == 1
    assert gc.get_freeze_count() == 0


async def test_the_gc_freeze_setting_freezes_once_when_the_first_client_opens(
    clients, create_jobs, unfrozen_gc, monkeypatch
):
    monkeypatch.setenv(GC_FREEZE_ENV, "True")
    first, second = create_jobs(2)
    assert gc.get_freeze_count() == 0
    assert (await first_event(trigger(first)))["status"] == "success"
    frozen = gc.get_freeze_count()
    assert frozen > 0
    event = await first_event(trigger(second, botocore_config={"read_timeout": 30}))
    assert event["status"] == "success"
    assert clients.opened == 2  # a second opening: a second freeze would take its new objects too
    assert gc.get_freeze_count() <= frozen  # frozen objects still die of their reference counts


async def test_an_invalid_gc_freeze_value_fails_no_trigger_and_is_reported_once(
    clients, create_jobs, unfrozen_gc, monkeypatch, caplog
):
    # Once, the first opening in the process raised the config error (that trigger's task failed)
    # and every later opening skipped the setting without a word: one erasure failed at random.
    monkeypatch.setenv(GC_FREEZE_ENV, "maybe")
    first, second = create_jobs(2)
    with caplog.at_level("ERROR", logger=client_pool.__name__):
        assert (await first_event(trigger(first)))["status"] == "success"
        event = await first_event(trigger(second, botocore_config={"read_timeout": 30}))
    assert event["status"] == "success"
    assert clients.opened == 2
    assert gc.get_freeze_count() == 0
    errors = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    assert len(errors) == 1, errors
    assert "personalize_deletion.triggerer_gc_freeze" in errors[0]
    assert "maybe" in errors[0]
