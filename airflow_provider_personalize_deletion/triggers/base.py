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
import json
import math
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.exceptions import AirflowException
from airflow.triggers.base import BaseTrigger, TriggerEvent
from airflow.utils.helpers import prune_dict

from airflow_provider_personalize_deletion.triggers.poll_jitter import POLL_JITTER, pause_before_poll

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

    It sleeps :meth:`pause_before` each poll: never more than ``waiter_delay``, shortened by a jitter
    drawn from its serialized arguments (see :mod:`.poll_jitter`), so that triggers deferred together
    do not poll together, and a trigger rebuilt by another triggerer pauses as it did.

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

    #: The largest share of ``waiter_delay`` taken off a pause (0: the first poll at once, then exactly
    #: ``waiter_delay``, as the Amazon provider's waiters do).
    poll_jitter: ClassVar[float] = POLL_JITTER

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

    def poll_identity(self) -> str:
        """What tells this trigger's pauses apart: its class path and serialized arguments (its ARN too)."""
        classpath, kwargs = self.serialize()
        return f"{classpath}\n{json.dumps(kwargs, sort_keys=True, default=repr)}"

    async def pause_before(self, poll: int) -> None:
        """
        Sleep before a poll, jittered (see :mod:`.poll_jitter`), never longer than ``waiter_delay``.

        :param poll: the poll's number, 0 for the first (a throttled poll made again counts too).
        """
        await asyncio.sleep(self.pause_seconds(poll))

    def pause_seconds(self, poll: int) -> float:
        """:param poll: the poll's number; return the seconds :meth:`pause_before` sleeps before it."""
        return pause_before_poll(self.poll_identity(), self.waiter_delay, poll, self.poll_jitter)

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
    A :class:`SharedClientTrigger` that waits with one of this package's waiters for one job until it
    succeeds, fails or runs out of attempts; the event's status is ``success``, ``error`` or ``timeout``.

    A subclass is data: the job it waits for (:attr:`job_arn_field`, :attr:`job_member`, :attr:`job_noun`),
    its :attr:`waiter_name` and its default delay and attempts. From them the constructor sets the waiter
    attributes of the Amazon provider's ``AwsBaseWaiterTrigger`` (``waiter_name``, ``waiter_args``,
    ``failure_message``, ``status_message``, ``status_queries``, ``waiter_config_overrides``), so that its
    ``run`` works on it too, and the operators' waits in a worker use the same waiter.

    The job's ARN is the keyword argument :attr:`job_arn_field`, the name it is serialized under and the
    event's key for it: ``{"status": ..., "<job_arn_field>": ..., "message": ...}``.

    :param waiter_delay: seconds between two polls. (default: the subclass's ``default_waiter_delay``)
    :param waiter_max_attempts: polls before giving up. (default: ``default_waiter_max_attempts``)
    :param aws_conn_id: the Airflow connection used for AWS credentials.
    :param region_name: the AWS region of the job.
    :param verify: whether to verify SSL certificates.
    :param botocore_config: configuration dictionary (key-values) for the botocore client.
    :param job_arn: the job's ARN, as the keyword argument :attr:`job_arn_field`.
    """

    #: The keyword argument, serialized kwarg and event key of the job's ARN (``data_deletion_job_arn``).
    job_arn_field: ClassVar[str]
    #: The job's member in its Describe response (``dataDeletionJob``): the waiter's argument is
    #: ``<member>Arn`` and the status it logs ``<member>.status``.
    job_member: ClassVar[str]
    #: What the service calls the job, in the waiter's log lines (``data deletion job``).
    job_noun: ClassVar[str]
    #: The waiter, in ``waiters/personalize.json``.
    waiter_name: str
    default_waiter_delay: ClassVar[int]
    default_waiter_max_attempts: ClassVar[int]
    waiter_config_overrides: dict[str, Any] | None = None

    def __init__(
        self,
        *,
        waiter_delay: int | None = None,
        waiter_max_attempts: int | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
        **job_arn: str,
    ) -> None:
        arn = job_arn.pop(self.job_arn_field, None)
        if job_arn:
            raise TypeError(
                f"{type(self).__name__} got an unexpected keyword argument {next(iter(job_arn))!r}"
            )
        if arn is None:
            raise TypeError(f"{type(self).__name__} missing the keyword argument {self.job_arn_field!r}")
        super().__init__(
            serialized_fields={self.job_arn_field: arn},
            return_key=self.job_arn_field,
            return_value=arn,
            waiter_delay=self.default_waiter_delay if waiter_delay is None else waiter_delay,
            waiter_max_attempts=(
                self.default_waiter_max_attempts if waiter_max_attempts is None else waiter_max_attempts
            ),
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            verify=verify,
            botocore_config=botocore_config,
        )
        self.waiter_args: dict[str, Any] = {f"{self.job_member}Arn": arn}
        self.failure_message = f"Personalize {self.job_noun} failed."
        self.status_message = f"Status of Personalize {self.job_noun} is"
        self.status_queries = [f"{self.job_member}.status"]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield await self._wait_for_job()

    async def _wait_for_job(self) -> TriggerEvent:
        """
        Poll on the shared client; the client is released before the event is handed over.

        Each poll is one ``async_wait`` of one attempt (the Amazon provider's: its log lines, its
        messages, a throttled call made again after a pause without counting as an attempt), after a
        jittered pause of its own.
        """
        async with self.shared_client() as opened:
            from airflow.providers.amazon.aws.exceptions import WaiterMaxAttemptsError
            from airflow.providers.amazon.aws.utils.waiter_with_logging import async_wait

            waiter = opened.waiter(self.waiter_name, self.waiter_config_overrides)
            ran_out = WaiterMaxAttemptsError("Waiter error: max attempts reached")
            for poll in range(max(1, self.attempts)):
                await self.pause_before(poll)
                try:
                    await async_wait(
                        waiter,
                        math.ceil(self.pause_seconds(poll + 1)),  # its pause when throttled
                        1,
                        self.waiter_args,
                        self.failure_message,
                        self.status_message,
                        self.status_queries,
                    )
                except WaiterMaxAttemptsError as error:
                    ran_out = error  # the job is still running (or the credentials were missing)
                    continue
                except AirflowException as error:
                    return self.event("error", str(error))
                return self.event("success")
        return self.event("timeout", str(ran_out))
