"""
The fingerprint key at log level DEBUG: the example DAG run by ``airflow dags test`` in a process of
its own, as the README's first-run advice does, prints no fingerprint key in any output.

At DEBUG the Task SDK's supervisor logs the body of every message between a task and itself: a
key that passed through a Variable (``GetVariable``, ``PutVariable``) or ``mask_secret``
(``MaskSecret``) would be printed.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_personalize_deletion.utils.fingerprint_key import (
    FINGERPRINT_KEY_ENV,
    LEGACY_FINGERPRINT_KEY_VARIABLE,
)

pytestmark = pytest.mark.airflow_db

DAG_ID = "personalize_gdpr_erasure"


def every_output(result: subprocess.CompletedProcess, log_folder: Path) -> str:
    """The run's stdout and stderr, and every file the run left under its log folder."""
    files = [path.read_text(errors="replace") for path in sorted(log_folder.rglob("*")) if path.is_file()]
    return "\n".join([result.stdout, result.stderr, *files])


def metadata_database_copy(folder: Path) -> str:
    """
    A copy of the session's Airflow metadata database for the ``airflow dags test`` process: two
    processes writing one SQLite metadata database (this one holds open connections) corrupted it
    once ("database disk image is malformed" in every later dag.test()).
    """
    source = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///")
    copy = folder / "airflow.db"
    live, target = sqlite3.connect(source), sqlite3.connect(copy)
    with contextlib.closing(live), contextlib.closing(target):
        live.backup(target)
    return f"sqlite:///{copy}"


@pytest.mark.parametrize("source", ["environment", "command"])
def test_no_fingerprint_key_appears_in_any_output_of_a_debug_run(
    airflow_db, aws_conn, emulator, world, tmp_path, source
):
    key = secrets.token_hex(32)
    world.request("user-004", "user-005")
    log_folder = tmp_path / "logs"
    env = {
        **os.environ,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_database_copy(tmp_path),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(log_folder),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    del env[FINGERPRINT_KEY_ENV]
    # Upgraded from 0.2, the deployment still holds the key in the Variable too: it must not be read.
    env[f"AIRFLOW_VAR_{LEGACY_FINGERPRINT_KEY_VARIABLE.upper()}"] = key
    if source == "environment":
        env[FINGERPRINT_KEY_ENV] = key
    else:  # the _CMD variant, read in the task process too
        env[f"{FINGERPRINT_KEY_ENV}_CMD"] = f"cat {tmp_path / 'key'}"
        (tmp_path / "key").write_text(key + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", DAG_ID],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    output = every_output(result, log_folder)
    assert world.statuses() == {"user-004": "erased", "user-005": "erased"}, result.stdout[-3000:]
    assert "msg=GetVariable(" in output  # the supervisor logged the messages' bodies (DEBUG)
    assert key not in output
    ((_, record),) = world.audit()
    keyed = hmac.new(key.encode(), b"user-004\nuser-005\n", hashlib.sha256).hexdigest()
    assert record["export"]["fingerprint"] == f"hmac-sha256:{keyed}"  # the run used this key
