"""Ledger writers and entries for the chain's tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_personalize_deletion.ledger.chain import walk_chain
from airflow_provider_personalize_deletion.ledger.record import Entry
from airflow_provider_personalize_deletion.ledger.writer import LedgerWriter
from tests.plugins.ledger import LEDGER_PREFIX

#: The first made-up run: an hour back from now, so that each record's retention is running.
START = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


def entry(number: int, **fields) -> Entry:
    """The entry of a made-up erasure run ``number``."""
    return Entry(
        kind="erasure_run",
        run_id=f"scheduled__run-{number}",
        recorded_at=(START + timedelta(hours=number)).strftime("%Y-%m-%d %H:%M:%S"),
        payload={"outcome": "nothing_to_erase", "requests": {"claimed": 0}},
        **fields,
    )


@pytest.fixture
def writer(s3_client, ledger_bucket) -> LedgerWriter:
    return LedgerWriter(s3_client, ledger_bucket, LEDGER_PREFIX, retention_days=3)


@pytest.fixture
def unlocked_writer(s3_client, unlocked_bucket) -> LedgerWriter:
    return LedgerWriter(s3_client, unlocked_bucket, LEDGER_PREFIX, retention_days=3, allow_unlocked=True)


def fill(writer: LedgerWriter, count: int) -> None:
    """Append ``count`` entries, an hour apart."""
    for number in range(count):
        writer.append(entry(number), START + timedelta(hours=number))


def breaks(writer: LedgerWriter, allow_unlocked: bool = False) -> list[str]:
    return walk_chain(writer.s3, writer.bucket, writer.prefix, allow_unlocked=allow_unlocked).breaks
