"""
Test-session setup shared by every test module.

Airflow reads its configuration when first imported, so the private ``AIRFLOW_HOME`` and the test
DAGs folder are set here, at conftest import time, before any test module imports Airflow.
Fixtures live in ``tests/plugins/``, one module per real service the tests start.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).parent

_airflow_home = Path(tempfile.mkdtemp(prefix="ppd-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_airflow_home)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(TESTS_DIR / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_airflow_home / 'airflow.db'}"
# No test may reach real AWS: credentials are fake and every client is pointed at the emulator.
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.pop("AWS_PROFILE", None)
# A test that forgets the emulator fixture fails fast on a closed local port, never reaching AWS.
os.environ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = "aws://testing:testing@/?endpoint_url=http%3A%2F%2F127.0.0.1%3A9"

# The key of the id-set fingerprints: the provider's setting [personalize_deletion] fingerprint_key.
TEST_FINGERPRINT_KEY = "test-fingerprint-key-" + "5a" * 16
os.environ["AIRFLOW__PERSONALIZE_DELETION__FINGERPRINT_KEY"] = TEST_FINGERPRINT_KEY

# The example DAG polls its jobs every second in tests.
os.environ["PERSONALIZE_ERASURE_POLL_SECONDS"] = "1"

pytest_plugins = [
    "tests.plugins.emulator",
    "tests.plugins.postgres",
    "tests.plugins.airflow_env",
    "tests.plugins.ledger",
]


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the marks into the node ids
def pytest_collection_modifyitems(config, items) -> None:
    """
    Group the tests for ``pytest -n 2 --dist loadgroup`` (``make test``): one group per test file, so
    that a module's fixtures are set up in one process, and one group for the whole end-to-end suite,
    so that its Airflow deployments (session fixtures) start once, in one process, while the other
    process runs the rest. Without ``-n`` the marks change nothing.
    """
    for item in items:
        group = "e2e" if item.get_closest_marker("e2e") else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))
