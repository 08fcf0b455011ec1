"""
One aiobotocore client per set of client settings, shared by the triggers of one event loop.

An Amazon-provider trigger opens its own client: its own botocore session, service model, credential
resolver and HTTP connection pool, several hundred kilobytes each, repeated for every deferred task
a triggerer holds. Triggers waiting with the same settings (connection, region, SSL verification,
botocore config, hook class) can share one client instead: aiobotocore clients are safe to use from
many coroutines of the loop they were opened on.

A shared client is opened lazily by the first trigger that asks for it, once per event loop (a client
is bound to the loop it was opened on, so each loop gets its own pool), and is closed as soon as the
last trigger using it leaves, whether it finished, failed or was cancelled (the triggerer cancels a
trigger when it hands it to another triggerer). The connection is read when the client is opened:
triggers that join an open client use the credentials it was opened with.

An opening's slow synchronous steps run in worker threads, not on the event loop: the hook's
construction, the Airflow connection lookup, the session, the user agent (the Amazon provider inspects
the call stack for it) and the reading of botocore's data files (the service model, endpoints,
partitions; aiobotocore's ``warm_up_loader_caches``). On the loop remain the client object's
construction and its HTTP session (a few milliseconds). Waiters are built once per shared client,
not once per trigger.

One client serves every poll of its triggers, so its connection pool is sized for many triggers:
:data:`DEFAULT_MAX_POOL_CONNECTIONS` unless the connection's ``config_kwargs`` or the trigger's
``botocore_config`` set ``max_pool_connections``, which always wins.

Its retry mode is botocore's ``adaptive`` (a client-side token bucket that slows the client down after
throttling answers) unless the user sets one: ``retries`` in the connection's ``config_kwargs`` or the
trigger's ``botocore_config`` (kept as they are, whole), or ``AWS_RETRY_MODE``. Whatever the mode, every
request of a shared client also waits for its turn from the :class:`~.call_rate.CallRateLimiter` of its
connection and region, one per event loop (see :mod:`.call_rate`).

A full garbage collection stops the loop while it walks every object of the process (about 170 to
210 ms on a quiet 2-core machine in a triggerer holding Airflow, botocore and the providers, measured
in ``benchmarks/triggerer.py``), and the first client's opening, which adds botocore's data, often
sets one off. With the Airflow setting ``[personalize_deletion] triggerer_gc_freeze`` on, the first
opening in a process first calls :func:`gc.freeze` (see :func:`freeze_gc_once`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_personalize_deletion.triggers.call_rate import (
    CallRateLimiter,
    calls_per_second_setting,
    limit_client_calls,
)

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsGenericHook
    from botocore.waiter import Waiter

ClientKey = tuple[str | bool | None, ...]
"""What makes two triggers' clients interchangeable: see :func:`client_key`."""


def client_key(
    hook_class: type[AwsGenericHook],
    aws_conn_id: str | None,
    region_name: str | None,
    verify: bool | str | None,
    botocore_config: dict[str, Any] | None,
) -> ClientKey:
    """
    Return the key under which triggers share a client.

    :param hook_class: the hook that opens the client (it fixes the service and the hook's defaults).
    :param aws_conn_id: the Airflow connection of the credentials and endpoint.
    :param region_name: the region; an empty string counts as None, as in the Amazon provider.
    :param verify: the SSL verification setting.
    :param botocore_config: the botocore config as a dictionary; compared by content.
    """
    config = json.dumps(botocore_config, sort_keys=True, default=repr) if botocore_config else None
    hook_path = f"{hook_class.__module__}.{hook_class.__qualname__}"
    return (hook_path, aws_conn_id, region_name or None, verify, config)


#: The connection pool of a shared client when the user sets no ``max_pool_connections`` (botocore's
#: default is 10). aiohttp opens connections as requests need them, so the limit costs nothing until
#: used. A poll holds a connection for one round trip (about 0.1 s to AWS): a triggerer at its default
#: capacity of 1000 triggers polling once a minute keeps about 2 busy, but the triggers' first polls
#: come together (a triggerer restart hands it every trigger at once), and 1000 polls drain in 10 round
#: trips through 100 connections against 100 through 10. More would mostly raise the burst the
#: service sees (its control-plane rate limits) and the sockets held open.
DEFAULT_MAX_POOL_CONNECTIONS = 100

#: The retries of a shared client whose user sets none: botocore's throttling-aware mode, with its
#: default attempts (3, or ``AWS_MAX_ATTEMPTS``).
DEFAULT_RETRIES = {"mode": "adaptive"}

#: The Airflow setting (section, option) that turns on :func:`freeze_gc_once`; off by default.
GC_FREEZE_SETTING = ("personalize_deletion", "triggerer_gc_freeze")

log = logging.getLogger(__name__)

#: A shared client is handed to new triggers for this long; then a fresh one is opened, so that a
#: changed connection (rotated keys, a new endpoint) reaches a busy triggerer that is never idle.
MAX_CLIENT_AGE_SECONDS = 3600.0


@dataclass
class OpenClient:
    """
    An open shared client: the hook that opened it, the aiobotocore client, and its waiters.

    :param hook: the hook that opened the client (its waiter definitions, its list helpers).
    :param client: the aiobotocore client, entered.
    """

    hook: AwsGenericHook
    client: Any
    _waiters: dict[tuple[str, str | None], Waiter] = field(default_factory=dict, repr=False)

    def waiter(self, name: str, config_overrides: dict[str, Any] | None = None) -> Waiter:
        """
        Return the client's deferrable waiter ``name``, built on first use and shared by the triggers.

        A waiter holds no state between calls (each ``wait`` gets its own arguments), so the triggers
        of one client can share it; built per trigger, each would carry its own waiter class and model.

        :param name: the waiter's name in the hook's waiter definitions.
        :param config_overrides: the waiter config values to override (part of the sharing key).
        """
        key = (name, json.dumps(config_overrides, sort_keys=True) if config_overrides else None)
        waiter = self._waiters.get(key)
        if waiter is None:
            waiter = self._waiters[key] = self.hook.get_waiter(
                name, deferrable=True, client=self.client, config_overrides=config_overrides
            )
        return waiter


@dataclass
class _SharedClient:
    """A client being opened or open, with the number of triggers using it."""

    opening: asyncio.Task[OpenClient]
    exit_stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    users: int = 0
    opened_at: float = field(default_factory=time.monotonic)

    @property
    def retired(self) -> bool:
        """Too old to be handed to a new trigger; its users keep it until they leave."""
        return time.monotonic() - self.opened_at > MAX_CLIENT_AGE_SECONDS

    async def close(self) -> None:
        """Wait for the client to be opened, if it still is, then close it."""
        with contextlib.suppress(Exception):
            await self.opening
        await self.exit_stack.aclose()


class ClientPool:
    """The shared clients of one event loop, by :func:`client_key`, and their call rate limiters."""

    def __init__(self) -> None:
        self._clients: dict[ClientKey, _SharedClient] = {}
        #: The call rate limiter of each (connection, region) whose clients opened with a bound, shared
        #: by them all, kept for the loop's lifetime.
        self.limiters: dict[tuple[str | None, str | None], CallRateLimiter] = {}

    def __len__(self) -> int:
        """Number of clients open or being opened."""
        return len(self._clients)

    @contextlib.asynccontextmanager
    async def client(
        self, key: ClientKey, hook_factory: Callable[[], AwsGenericHook]
    ) -> AsyncIterator[OpenClient]:
        """
        Use the shared client of ``key``, opening it if no trigger of this loop uses it yet.

        A trigger cancelled while the client is being opened leaves the opening to the other
        triggers waiting for it; the last user out, however it leaves, closes the client.

        :param key: the client settings, from :func:`client_key`.
        :param hook_factory: builds the hook that opens the client; called once per opening.
        :return: the open client.
        """
        shared = self._clients.get(key)
        if shared is None or shared.retired:
            shared = self._open(key, hook_factory)
        shared.users += 1
        try:
            yield await asyncio.shield(shared.opening)
        finally:
            shared.users -= 1
            if shared.users == 0:
                if self._clients.get(key) is shared:
                    del self._clients[key]
                # Shielded: a second cancellation must not leave the client half closed.
                await asyncio.shield(shared.close())

    def _open(self, key: ClientKey, hook_factory: Callable[[], AwsGenericHook]) -> _SharedClient:
        freeze_gc_once()
        exit_stack = contextlib.AsyncExitStack()

        def prepare() -> tuple[AwsGenericHook, contextlib.AbstractAsyncContextManager[Any], float | None]:
            hook = hook_factory()
            return hook, _client_context(hook), calls_per_second_setting()

        async def open_client() -> OpenClient:
            hook, context, calls_per_second = await asyncio.to_thread(prepare)
            client = await exit_stack.enter_async_context(context)
            if calls_per_second:
                limiter_key = (hook.aws_conn_id, client.meta.region_name)
                limiter = self.limiters.get(limiter_key)
                if limiter is None:
                    limiter = self.limiters[limiter_key] = CallRateLimiter(calls_per_second)
                limit_client_calls(client, limiter)
            return OpenClient(hook, client)

        shared = _SharedClient(asyncio.ensure_future(open_client()), exit_stack)
        self._clients[key] = shared

        def forget_if_failed(task: asyncio.Task) -> None:
            # A failed opening is not kept: the next trigger to arrive tries again.
            if (task.cancelled() or task.exception()) and self._clients.get(key) is shared:
                del self._clients[key]

        shared.opening.add_done_callback(forget_if_failed)
        return shared


def _client_context(hook: AwsGenericHook) -> contextlib.AbstractAsyncContextManager[Any]:
    """
    Prepare a hook's aiobotocore client, in a worker thread: everything but entering it.

    Reads the Airflow connection (``hook.config``) and creates the session; the config it gives the
    client makes aiobotocore read botocore's data files in a worker thread too, sizes the
    connection pool (see :data:`DEFAULT_MAX_POOL_CONNECTIONS`) and sets the ``adaptive`` retry mode,
    each unless the user's config sets it (``AWS_RETRY_MODE`` too, for the retry mode).

    :param hook: the hook that opens the client.
    """
    from aiobotocore.config import AioConfig

    retries = {} if os.environ.get("AWS_RETRY_MODE") else {"retries": dict(DEFAULT_RETRIES)}
    defaults = AioConfig(
        warm_up_loader_caches=True, max_pool_connections=DEFAULT_MAX_POOL_CONNECTIONS, **retries
    )
    # The user's options override the defaults: merge keeps the options of its argument.
    config = defaults.merge(hook.config)
    return hook.get_client_type(region_name=hook.region_name, config=config, deferrable=True)


_gc_freeze_lock = threading.Lock()
_gc_freeze_done = False


def freeze_gc_once() -> None:
    """
    Call :func:`gc.freeze` once in this process, if ``[personalize_deletion] triggerer_gc_freeze`` is on.

    Frozen objects (everything alive at that moment: Airflow's and the providers' modules, the
    triggerer's state) are no longer walked by the garbage collector, so a full collection of the
    triggerer then takes tens of milliseconds instead of hundreds, as in Airflow's DAG processor,
    which freezes its objects too. It is a decision for the whole process, so it is off unless the
    deployment turns it on; the cost is that cyclic garbage alive at that one moment is never freed.
    Freezing is a constant-time splice of the collector's lists: it does not hold the loop.
    """
    global _gc_freeze_done
    with _gc_freeze_lock:
        if _gc_freeze_done:
            return
        _gc_freeze_done = True
    from airflow.configuration import conf
    from airflow.exceptions import AirflowConfigException

    try:
        freeze = conf.getboolean(*GC_FREEZE_SETTING, fallback=False)
    except (AirflowConfigException, ValueError):
        # A tuning setting: a typo must not fail the erasures waiting in this triggerer.
        log.error(
            "%s is %r, not a boolean (True or False): the garbage collector is left as it is.",
            ".".join(GC_FREEZE_SETTING),
            conf.get(*GC_FREEZE_SETTING, fallback=None),
        )
        return
    if freeze:
        gc.freeze()
        log.info(
            "Froze %d objects for the garbage collector (%s).",
            gc.get_freeze_count(),
            ".".join(GC_FREEZE_SETTING),
        )


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ClientPool] = weakref.WeakKeyDictionary()
_pools_lock = threading.Lock()


def running_loop_pool() -> ClientPool:
    """Return the client pool of the running event loop, created on first use."""
    loop = asyncio.get_running_loop()
    with _pools_lock:
        pool = _pools.get(loop)
        if pool is None:
            pool = _pools[loop] = ClientPool()
    return pool


def shared_client(
    key: ClientKey, hook_factory: Callable[[], AwsGenericHook]
) -> contextlib.AbstractAsyncContextManager[OpenClient]:
    """
    Use the running loop's shared client of ``key``; see :meth:`ClientPool.client`.

    :param key: the client settings, from :func:`client_key`.
    :param hook_factory: builds the hook that opens the client, if it is not open yet.
    """
    return running_loop_pool().client(key, hook_factory)
