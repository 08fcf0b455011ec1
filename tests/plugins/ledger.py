"""
Fixtures of the evidence ledger, on the emulator's S3 (moto, over HTTP).

- ``ledger_bucket`` (function): a bucket created with Object Lock enabled; yields its name.
- ``unlocked_bucket`` (function): a bucket without Object Lock (versioning off); yields its name.
- ``ledger_on`` (function): the provider's settings ``[personalize_deletion] ledger_*`` point at
  ``ledger_bucket`` (environment variables, as a deployment's configuration would); yields the settings.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_personalize_deletion.erasure.ledger_steps import LedgerSettings

LEDGER_BUCKET = "erasure-evidence"
UNLOCKED_BUCKET = "erasure-evidence-unlocked"
LEDGER_PREFIX = "ledger/erasure"


@pytest.fixture
def ledger_bucket(s3_client) -> str:
    s3_client.create_bucket(Bucket=LEDGER_BUCKET, ObjectLockEnabledForBucket=True)
    return LEDGER_BUCKET


@pytest.fixture
def unlocked_bucket(s3_client) -> str:
    s3_client.create_bucket(Bucket=UNLOCKED_BUCKET)
    return UNLOCKED_BUCKET


@pytest.fixture
def ledger_on(ledger_bucket, monkeypatch: pytest.MonkeyPatch) -> Iterator[LedgerSettings]:
    settings = LedgerSettings(bucket=ledger_bucket, prefix=LEDGER_PREFIX, retention_days=3)
    monkeypatch.setenv("AIRFLOW__PERSONALIZE_DELETION__LEDGER_BUCKET", settings.bucket)
    monkeypatch.setenv("AIRFLOW__PERSONALIZE_DELETION__LEDGER_PREFIX", settings.prefix)
    monkeypatch.setenv("AIRFLOW__PERSONALIZE_DELETION__LEDGER_RETENTION_DAYS", str(settings.retention_days))
    yield settings
