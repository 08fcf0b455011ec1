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


#: The end-to-end suite: one unit of work for ``pytest -n 2``, and the first one handed out.
END_TO_END = "tests/e2e"


def _scope_of(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return END_TO_END if path.startswith(END_TO_END + "/") else path


def pytest_collection_modifyitems(items: list) -> None:
    """Under ``pytest -n``, collect the end-to-end suite first (the longest unit of work starts first)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: _scope_of(item.nodeid) != END_TO_END)


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: a venv without it still runs the tests
def pytest_xdist_make_scheduler(config, log):
    """
    Spread the tests over ``pytest -n 2`` (``make test``) by file, with the whole end-to-end suite as
    one unit handed out first: a module's fixtures are set up in one process, and the e2e suite's
    Airflow deployments (session fixtures) start once, in one process, while the other process runs
    the rest, file by file in collection order.
    """
    from xdist.scheduler import LoadScopeScheduling

    class ByFileEndToEndFirst(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _scope_of(nodeid)

    config.option.loadscopereorder = False  # xdist would hand out the files with the most tests first
    return ByFileEndToEndFirst(config, log)
