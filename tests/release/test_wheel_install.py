"""
The install itself, as a user without the repository does it: build the wheel, install it next to Airflow
3.3 (the lock's versions) in a new virtualenv, and run the shipped example DAG against the emulator.

Steps (one module-scoped install, about two minutes with a warm uv cache):

1. ``make dist``: ``uv build`` (sdist, then the wheel from the sdist) and ``dist/constraints.txt`` (the
   lock's versions); the wheel must hold every file listed below.
2. ``uv venv``; ``uv pip install apache-airflow <wheel> -c dist/constraints.txt``: no ``[emulator]``
   yet, so the emulator's script must name it.
3. ``uv pip install <wheel>[emulator,sqlite]``: the emulator (none of ``moto[server]``'s extras) and
   the SQLite provider of the warehouse.
4. ``airflow providers list`` shows the provider; ``personalize-deletion-example-dag`` installs the DAG.
5. The installed ``personalize-deletion-emulator``; ``scripts/demo_stage.py`` (run by the new venv's
   Python) seeds it and a SQLite warehouse; ``airflow dags test`` erases every request.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.release

REPO = Path(__file__).resolve().parents[2]
DISTRIBUTION = "airflow-provider-personalize-deletion"
PACKAGE = "airflow_provider_personalize_deletion"
EXAMPLE_DAG = "dags/personalize_gdpr_erasure.py"
#: Files the wheel must hold, beyond the Python modules.
REQUIRED_FILES = [
    f"{PACKAGE}/py.typed",
    f"{PACKAGE}/waiters/personalize.json",
    f"{PACKAGE}/example_dags/personalize_gdpr_erasure.py",
    f"{PACKAGE}/example_dags/personalize_erasure_verification.py",
    f"{PACKAGE}/example_dags/personalize_guarded_import.py",
    f"{PACKAGE}/example_dags/personalize_forget_backlog.py",
    f"{PACKAGE}/example_dags/__init__.py",
    *(f"{PACKAGE}/dashboard/static/{name}" for name in ("index.html", "app.js", "app.css", "icon.svg")),
]
#: moto[server] brings these; the [emulator] extra must not.
NOT_WANTED = ["cfn-lint", "sympy", "networkx", "docker", "aws-xray-sdk"]


def _uv() -> str:
    uv = os.environ.get("UV") or shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
    assert Path(uv).is_file(), "uv not found: set UV, put uv on PATH, or run `make setup`"
    return uv


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{output}"
    return result


@dataclass
class Installed:
    wheel: Path
    venv: Path
    env: dict[str, str]
    no_extra_emulator: subprocess.CompletedProcess[str]

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    uv, root = _uv(), tmp_path_factory.mktemp("release")
    dist = root / "dist"
    _run(["make", "--silent", "dist", f"DIST={dist}", f"UV={uv}"], cwd=REPO)
    (wheel,) = dist.glob("*.whl")
    constraints = dist / "constraints.txt"
    venv = root / "venv"
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)])
    python = ["--python", str(venv / "bin" / "python"), "--constraint", str(constraints)]
    _run([uv, "pip", "install", "--quiet", *python, "apache-airflow", str(wheel)])
    env = {**os.environ, "AIRFLOW_HOME": str(root / "airflow")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    for key in [key for key in env if key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))]:
        del env[key]  # the test session's settings are not the user's
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    no_extra = subprocess.run(
        [str(venv / "bin" / "personalize-deletion-emulator")], capture_output=True, text=True, env=env
    )
    _run([uv, "pip", "install", "--quiet", *python, f"{DISTRIBUTION}[emulator,sqlite] @ {wheel.as_uri()}"])
    return Installed(wheel, venv, env, no_extra)


def test_the_wheel_holds_every_file_it_must(installed):
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        missing = [name for name in REQUIRED_FILES if name not in names]
        assert not missing, f"the wheel lacks {missing}"
        dist_info = next(name.split("/")[0] for name in names if name.endswith(".dist-info/METADATA"))
        assert f"{dist_info}/licenses/LICENSE" in names
        assert wheel.read(f"{dist_info}/licenses/LICENSE") == (REPO / "LICENSE").read_bytes()
        shipped = wheel.read(f"{PACKAGE}/example_dags/personalize_gdpr_erasure.py")
        assert shipped == (REPO / EXAMPLE_DAG).read_bytes()
        entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
        metadata = wheel.read(f"{dist_info}/METADATA").decode()
    assert re.search(
        rf"\[apache_airflow_provider\]\s*\nprovider_info = {PACKAGE}:get_provider_info", entry_points
    )
    assert re.search(  # the erasure dashboard's plugin, for Airflow's default lazy provider discovery
        rf"\[airflow\.plugins\]\s*\npersonalize_erasure_dashboard = "
        rf"{PACKAGE}\.dashboard\.plugin:ENTRY_POINT_PLUGIN",
        entry_points,
    )
    for script in ("personalize-deletion-emulator", "personalize-deletion-example-dag"):
        assert f"{script} = " in entry_points
    assert "License-Expression: Apache-2.0" in metadata
    assert "Classifier: Typing :: Typed" in metadata
    assert "Project-URL: Documentation, " in metadata
    long_description = metadata.split("\n\n", 1)[1]
    assert not re.search(r"\]\((?!https?://)", long_description), "relative link in the long description"


def test_without_the_extra_the_emulator_names_the_extra_to_install(installed):
    result = installed.no_extra_emulator
    assert result.returncode == 1
    assert f"pip install '{DISTRIBUTION}[emulator]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_emulator_extra_brings_nothing_of_moto_server(installed):
    listed = _run([_uv(), "pip", "list", "--python", installed.bin("python"), "--format", "json"])
    names = {package["name"] for package in json.loads(listed.stdout)}
    assert not names & set(NOT_WANTED)
    assert {"moto", "flask", "flask-cors", "werkzeug"} <= names


def test_airflow_lists_the_provider(installed):
    result = _run([installed.bin("airflow"), "providers", "list", "--output", "json"], env=installed.env)
    providers = {provider["package_name"]: provider for provider in json.loads(result.stdout)}
    assert DISTRIBUTION in providers


@pytest.fixture
def emulator_endpoint(installed) -> Iterator[tuple[str, str]]:
    """The installed ``personalize-deletion-emulator``: its endpoint and the aws connection URI it prints."""
    process = subprocess.Popen(
        [installed.bin("personalize-deletion-emulator"), "--port", "0", "--pending-seconds", "1",
         "--in-progress-seconds", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=installed.env,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline(), process.stdout.readline(), process.stdout.readline()]
        endpoint = re.search(r"listening on (\S+)", lines[0])
        conn = re.search(r"AIRFLOW_CONN_AWS_DEFAULT='([^']+)'", "".join(lines))
        assert endpoint and conn, f"unexpected emulator output: {lines}"
        yield endpoint.group(1), conn.group(1)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_the_shipped_example_dag_erases_every_request_on_the_emulator(installed, emulator_endpoint, tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    command = [installed.bin("personalize-deletion-example-dag"), str(dags)]
    assert str(dags / "personalize_gdpr_erasure.py") in _run(command).stdout
    assert subprocess.run(command, capture_output=True, check=False).returncode == 1  # no overwrite
    _run([*command, "--force"])

    endpoint, conn_uri = emulator_endpoint
    stage = [installed.bin("python"), str(REPO / "scripts" / "demo_stage.py"), str(tmp_path), str(dags)]
    seeded = _run([*stage, endpoint, conn_uri], env=installed.env)
    env = {**installed.env, **json.loads(seeded.stdout.splitlines()[-1])}
    env["PERSONALIZE_ERASURE_POLL_SECONDS"] = "1"
    env["AIRFLOW__PERSONALIZE_DELETION__FINGERPRINT_KEY"] = secrets.token_hex(32)
    _run([installed.bin("airflow"), "db", "migrate"], env=env)
    _run([installed.bin("airflow"), "dags", "test", "personalize_gdpr_erasure"], env=env)

    warehouse = sqlite3.connect(tmp_path / "warehouse.db")
    statuses = dict(warehouse.execute("SELECT status, COUNT(*) FROM erasure_requests GROUP BY status"))
    assert statuses == {"erased": 8}
    (outcome,) = warehouse.execute("SELECT outcome FROM erasure_audit").fetchone()
    assert outcome == "erased"
