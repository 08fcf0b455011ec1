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
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsGenericHook

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


#: A shared client is handed to new triggers for this long; then a fresh one is opened, so that a
#: changed connection (rotated keys, a new endpoint) reaches a busy triggerer that is never idle.
MAX_CLIENT_AGE_SECONDS = 3600.0


@dataclass
class _SharedClient:
    """A client being opened or open, with the number of triggers using it."""

    opening: asyncio.Task[tuple[AwsGenericHook, Any]]
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
    """The shared clients of one event loop, by :func:`client_key`."""

    def __init__(self) -> None:
        self._clients: dict[ClientKey, _SharedClient] = {}

    def __len__(self) -> int:
        """Number of clients open or being opened."""
        return len(self._clients)

    @contextlib.asynccontextmanager
    async def client(
        self, key: ClientKey, hook_factory: Callable[[], AwsGenericHook]
    ) -> AsyncIterator[tuple[AwsGenericHook, Any]]:
        """
        Use the shared client of ``key``, opening it if no trigger of this loop uses it yet.

        A trigger cancelled while the client is being opened leaves the opening to the other
        triggers waiting for it; the last user out, however it leaves, closes the client.

        :param key: the client settings, from :func:`client_key`.
        :param hook_factory: builds the hook that opens the client; called once per opening.
        :return: the hook that opened the client (for its waiters) and the aiobotocore client.
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
        exit_stack = contextlib.AsyncExitStack()

        async def open_client() -> tuple[AwsGenericHook, Any]:
            hook = hook_factory()
            client = await exit_stack.enter_async_context(await hook.get_async_conn())
            return hook, client

        shared = _SharedClient(asyncio.ensure_future(open_client()), exit_stack)
        self._clients[key] = shared

        def forget_if_failed(task: asyncio.Task) -> None:
            # A failed opening is not kept: the next trigger to arrive tries again.
            if (task.cancelled() or task.exception()) and self._clients.get(key) is shared:
                del self._clients[key]

        shared.opening.add_done_callback(forget_if_failed)
        return shared


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
) -> contextlib.AbstractAsyncContextManager[tuple[AwsGenericHook, Any]]:
    """
    Use the running loop's shared client of ``key``; see :meth:`ClientPool.client`.

    :param key: the client settings, from :func:`client_key`.
    :param hook_factory: builds the hook that opens the client, if it is not open yet.
    """
    return running_loop_pool().client(key, hook_factory)
