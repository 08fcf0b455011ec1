"""
The trigger tests' rig: the core tests' dataset group, deletion file and stage (what uses the group),
jobs created on the emulator, and a record of the aiobotocore clients the triggers open and close.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
from tests.core.conftest import ROLE_ARN, dataset_group, deletion_file, personalize, stage

__all__ = ["dataset_group", "deletion_file", "personalize", "stage"]


@dataclass
class ClientRecord:
    """How many Personalize aiobotocore clients were opened and closed."""

    opened: int = 0
    closed: int = 0

    @property
    def open_now(self) -> int:
        """Clients opened and not closed yet."""
        return self.opened - self.closed


class _RecordedClientContext:
    """Wraps aiobotocore's client context to count the clients entered and exited."""

    def __init__(self, context: Any, record: ClientRecord) -> None:
        self._context = context
        self._record = record

    async def __aenter__(self) -> Any:
        client = await self._context.__aenter__()
        self._record.opened += 1
        return client

    async def __aexit__(self, *exc_info: Any) -> None:
        self._record.closed += 1
        await self._context.__aexit__(*exc_info)


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> ClientRecord:
    """Count every aiobotocore client a PersonalizeHook opens and closes during the test."""
    record = ClientRecord()
    get_client_type = PersonalizeHook.get_client_type

    def recorded_get_client_type(self: PersonalizeHook, *args: Any, **kwargs: Any) -> Any:
        client = get_client_type(self, *args, **kwargs)
        return _RecordedClientContext(client, record) if kwargs.get("deferrable") else client

    monkeypatch.setattr(PersonalizeHook, "get_client_type", recorded_get_client_type)
    return record


@pytest.fixture
def create_jobs(emulator, dataset_group, deletion_file) -> Callable[..., list[str]]:
    """
    Create data deletion jobs ``erase-0`` .. ``erase-{count-1}`` and return their ARNs.

    With ``held=True`` they stay IN_PROGRESS until ``emulator.release(name)``.
    """

    def create(count: int, held: bool = False) -> list[str]:
        hook = PersonalizeHook()
        arns = []
        for index in range(count):
            if held:
                emulator.hold(f"erase-{index}", "IN_PROGRESS")
            arns.append(
                hook.create_data_deletion_job(f"erase-{index}", dataset_group, deletion_file, ROLE_ARN)
            )
        return arns

    return create
