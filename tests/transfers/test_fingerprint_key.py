"""
The fingerprint key: the Airflow setting ``[personalize_deletion] fingerprint_key``, from any of
Airflow's sources, refused when unset or short, and never sent to the supervisor.
"""

from __future__ import annotations

import json
import shlex
import sys

import pytest

from airflow_provider_personalize_deletion.exceptions import FingerprintKeyError
from airflow_provider_personalize_deletion.utils.fingerprint_key import FINGERPRINT_KEY_ENV, fingerprint_key
from tests.conftest import TEST_FINGERPRINT_KEY

KEY = "f0e1d2c3b4a5968778695a4b3c2d1e0f-from-a-source"


@pytest.fixture
def no_key(monkeypatch):
    monkeypatch.delenv(FINGERPRINT_KEY_ENV)


def test_the_key_is_the_settings_value():
    assert fingerprint_key() == TEST_FINGERPRINT_KEY.encode()


def test_the_key_comes_from_a_command(no_key, monkeypatch):
    command = shlex.join([sys.executable, "-c", f"print({KEY!r})"])
    monkeypatch.setenv(f"{FINGERPRINT_KEY_ENV}_CMD", command)

    assert fingerprint_key() == KEY.encode()  # without the command's line break


def test_the_key_comes_from_the_secrets_backend(no_key, monkeypatch, tmp_path):
    configs = tmp_path / "configs.json"
    configs.write_text(json.dumps({"personalize-deletion-fingerprint-key": KEY}))
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND", "airflow.secrets.local_filesystem.LocalFilesystemBackend")
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND_KWARGS", json.dumps({"configs_file_path": str(configs)}))
    monkeypatch.setenv(f"{FINGERPRINT_KEY_ENV}_SECRET", "personalize-deletion-fingerprint-key")

    assert fingerprint_key() == KEY.encode()


def test_an_unset_key_fails_naming_the_setting_and_how_to_make_one(no_key):
    with pytest.raises(FingerprintKeyError) as error:
        fingerprint_key()

    message = str(error.value)
    assert "[personalize_deletion] fingerprint_key" in message
    assert FINGERPRINT_KEY_ENV in message
    assert "secrets.token_hex(32)" in message
    assert "Variable personalize_erasure_fingerprint_key" in message


@pytest.mark.parametrize("value", ["fifteen-bytes!!", "\u00e9" * 7])
def test_a_key_shorter_than_16_bytes_is_refused_without_quoting_it(monkeypatch, value):
    monkeypatch.setenv(FINGERPRINT_KEY_ENV, value)

    with pytest.raises(FingerprintKeyError) as error:
        fingerprint_key()

    assert "[personalize_deletion] fingerprint_key must hold at least 16 bytes" in str(error.value)
    assert value not in str(error.value)


def test_the_key_is_masked_in_this_process_without_a_message_to_the_supervisor(monkeypatch):
    from airflow.sdk._shared.secrets_masker import redact
    from airflow.sdk.execution_time import task_runner

    sent = []

    class Recorder:
        def send(self, message):
            sent.append(message)

    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", Recorder(), raising=False)
    monkeypatch.setenv(FINGERPRINT_KEY_ENV, KEY)

    assert fingerprint_key() == KEY.encode()
    assert sent == []
    assert KEY not in redact(f"the key is {KEY}.")


def test_the_removed_variable_parameter_fails_naming_the_setting():
    from airflow_provider_personalize_deletion.transfers.sql_to_s3 import SqlToPersonalizeDeletionFileOperator

    with pytest.raises(TypeError, match=r"\[personalize_deletion\] fingerprint_key"):
        SqlToPersonalizeDeletionFileOperator(
            task_id="export",
            conn_id="warehouse",
            sql="SELECT 1",
            s3_bucket="bucket",
            s3_key_prefix="prefix",
            fingerprint_key_variable="personalize_erasure_fingerprint_key",
        )
