"""
The plumbing of this provider's triggers: their AWS settings, serialization, hook and shared client.

This module is light to import on purpose. The triggerer imports a trigger's class on its event loop
the first time it meets its class path (``TriggerRunner.get_trigger_by_classpath``); a trigger built on
the Amazon provider's ``AwsBaseWaiterTrigger`` pulls in the AWS hooks and boto3 there, holding the loop
about 0.2 s with cached bytecode and 0.5 s without (the triggerer warns that its loop was blocked). Here
the class imports only Airflow's trigger base; what a run needs (the hook, boto3, the client pool) is
imported by the first trigger that runs, in a worker thread (:func:`load_run_time_modules`), while the
loop goes on serving the other triggers. The serialized form is the one ``AwsBaseWaiterTrigger`` gives.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.exceptions import AirflowException
from airflow.triggers.base import BaseTrigger, TriggerEvent
from airflow.utils.helpers import prune_dict

if TYPE_CHECKING:
    from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
    from airflow_provider_personalize_deletion.triggers.client_pool import OpenClient

#: What a running trigger imports beyond this module, all of it off the event loop.
RUN_TIME_MODULES = (
    "airflow_provider_personalize_deletion.hooks.personalize",
    "airflow_provider_personalize_deletion.hooks.activity",
    "airflow_provider_personalize_deletion.triggers.client_pool",
    "airflow.providers.amazon.aws.utils.waiter_with_logging",
)

_loaded = False


async def load_run_time_modules() -> None:
    """
    Import :data:`RUN_TIME_MODULES` in a worker thread, once per process.

    Until the first import has finished, every trigger waits for it in a thread of its own, never on
    the loop: a module another thread is still importing would block the loop on its import lock.
    """
    global _loaded
    if not _loaded:
        await asyncio.to_thread(lambda: [importlib.import_module(name) for name in RUN_TIME_MODULES])
        _loaded = True


class SharedClientTrigger(BaseTrigger):
    """
    A trigger that polls Amazon Personalize on its event loop's shared client (see :mod:`.client_pool`).

    :param serialized_fields: the subclass's own constructor arguments, serialized with the AWS ones.
    :param return_key: the key of the event's field naming what was waited for.
    :param return_value: the value of that field.
    :param waiter_delay: seconds between two polls.
    :param waiter_max_attempts: polls before giving up.
    :param aws_conn_id: the Airflow connection used for AWS credentials.
    :param region_name: the AWS region.
    :param verify: whether to verify SSL certificates. See:
        https://boto3.amazonaws.com/v1/documentation/api/latest/reference/core/session.html
    :param botocore_config: configuration dictionary (key-values) for the botocore client. See:
        https://botocore.amazonaws.com/v1/documentation/api/latest/reference/config.html
    """

    def __init__(
        self,
        *,
        serialized_fields: dict[str, Any],
        return_key: str,
        return_value: Any,
        waiter_delay: int,
        waiter_max_attempts: int,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
    ) -> None:
        super().__init__()
        self.serialized_fields = serialized_fields
        self.return_key = return_key
        self.return_value = return_value
        self.waiter_delay = waiter_delay
        self.attempts = waiter_max_attempts
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and the constructor arguments, as ``AwsBaseWaiterTrigger`` does."""
        params = {
            "waiter_delay": self.waiter_delay,
            "waiter_max_attempts": self.attempts,
            "aws_conn_id": self.aws_conn_id,
            **self.serialized_fields,
        }
        # Unset settings are left out (an empty region counts as unset), as in the Amazon provider.
        params.update(
            prune_dict(
                {
                    "region_name": self.region_name or None,
                    "verify": self.verify,
                    "botocore_config": self.botocore_config,
                }
            )
        )
        return f"{type(self).__module__}.{type(self).__qualname__}", params

    def hook(self) -> PersonalizeHook:
        """Build the hook this trigger waits with, from its serialized AWS settings."""
        from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook

        return PersonalizeHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )

    @contextlib.asynccontextmanager
    async def shared_client(self) -> AsyncIterator[OpenClient]:
        """Use the loop's shared client of this trigger's settings, importing what it needs off the loop."""
        await load_run_time_modules()
        from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
        from airflow_provider_personalize_deletion.triggers.client_pool import client_key, shared_client

        key = client_key(
            PersonalizeHook, self.aws_conn_id, self.region_name, self.verify, self.botocore_config
        )
        async with shared_client(key, self.hook) as opened:
            yield opened

    def event(self, status: str, message: str | None = None, **fields: Any) -> TriggerEvent:
        """
        Build the trigger's event.

        :param status: ``success``, ``timeout`` or ``error``.
        :param message: what went wrong, if anything.
        :param fields: more fields of the payload.
        """
        payload: dict[str, Any] = {"status": status, self.return_key: self.return_value, **fields}
        if message is not None:
            payload["message"] = message
        return TriggerEvent(payload)


class SharedClientWaiterTrigger(SharedClientTrigger):
    """
    A :class:`SharedClientTrigger` that waits with one of this package's waiters until it succeeds, fails
    or runs out of attempts; the event's status is ``success``, ``error`` or ``timeout``.

    The subclass sets the waiter attributes of the Amazon provider's ``AwsBaseWaiterTrigger``
    (``waiter_name``, ``waiter_args``, ``failure_message``, ``status_message``, ``status_queries``,
    ``waiter_config_overrides``), so that its ``run`` works on it too.
    """

    waiter_name: str
    waiter_args: dict[str, Any]
    failure_message: str
    status_message: str
    status_queries: list[str]
    waiter_config_overrides: dict[str, Any] | None = None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield await self._wait_for_job()

    async def _wait_for_job(self) -> TriggerEvent:
        """Poll on the shared client; the client is released before the event is handed over."""
        async with self.shared_client() as opened:
            from airflow.providers.amazon.aws.exceptions import WaiterMaxAttemptsError
            from airflow.providers.amazon.aws.utils.waiter_with_logging import async_wait

            waiter = opened.waiter(self.waiter_name, self.waiter_config_overrides)
            try:
                await async_wait(
                    waiter,
                    self.waiter_delay,
                    self.attempts,
                    self.waiter_args,
                    self.failure_message,
                    self.status_message,
                    self.status_queries,
                )
            except WaiterMaxAttemptsError as error:
                return self.event("timeout", str(error))
            except AirflowException as error:
                return self.event("error", str(error))
        return self.event("success")
