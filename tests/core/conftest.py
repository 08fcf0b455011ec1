"""Fixtures of the provider core tests: a dataset group and a deletion file on the emulator."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

ROLE_ARN = "arn:aws:iam::123456789012:role/PersonalizeDeletion"
BUCKET = "erasure-requests"


@pytest.fixture
def dataset_group(emulator) -> str:
    """A dataset group holding users u1..u3."""
    return emulator.create_dataset_group("shop", user_ids=["u1", "u2", "u3"])


@pytest.fixture
def deletion_file(aws_conn, s3_client) -> str:
    """An s3:// URI of a USER_ID file listing u1 and u2."""
    s3_client.create_bucket(Bucket=BUCKET)
    s3_client.put_object(Bucket=BUCKET, Key="run-1/part-00000.csv", Body=b"USER_ID\nu1\nu2\n")
    return f"s3://{BUCKET}/run-1/part-00000.csv"


class MemoryTaskStateStore:
    """In-memory stand-in for Airflow 3.3's ``task_state_store``, which lives in the API server."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, key: str):
        return self.values.get(key)

    def set(self, key: str, value) -> None:
        self.values[key] = value


def task_context(run_id: str = "manual__1", map_index: int = -1, store=None, xcom=None) -> dict:
    """
    The part of a task's context the operator reads: its task instance and the state store.

    :param xcom: a dict that receives what the task pushes under a key of its own.
    """
    pushed = {} if xcom is None else xcom
    ti = SimpleNamespace(
        dag_id="gdpr_erasure",
        task_id="create_deletion_job",
        run_id=run_id,
        map_index=map_index,
        try_number=1,
        xcom_push=lambda key, value: pushed.__setitem__(key, value),
    )
    context: dict = {"ti": ti}
    if store is not None:
        context["task_state_store"] = store
    return context


def release_after_calls(emulator, operation: str, count: int, job_name: str) -> threading.Thread:
    """Release a held job from another thread once the emulator has received ``count`` such calls."""

    def release() -> None:
        deadline = time.monotonic() + 30
        while emulator.calls(operation) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        emulator.release(job_name)

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    return thread
