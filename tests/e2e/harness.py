"""
A real Airflow for end-to-end tests: its processes, its REST API, and what it leaves behind.

:class:`AirflowDeployment` owns a fresh ``AIRFLOW_HOME``, starts Airflow's components (API server,
scheduler, DAG processor, triggerer, Celery workers...) as separate processes, each in its own
process group, and always stops them by that group's id. It talks to the REST API as a user would
(a token from ``POST /auth/token``), finds the OS processes of a running task, measures the memory
of its processes, and scans task logs and the metadata database for values that must never appear.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg2

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
DAG_ID = "personalize_gdpr_erasure"
ADMIN_USER = "admin"
FINISHED_RUN_STATES = frozenset({"success", "failed"})

#: Every process group the harness started, stopped at interpreter exit if a test run is killed.
_LIVE_GROUPS: set[int] = set()


def _stop_all_groups() -> None:
    for pgid in list(_LIVE_GROUPS):
        _kill_group(pgid, signal.SIGKILL)


atexit.register(_stop_all_groups)


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(
    condition: Callable[[], Any], timeout: float, interval: float = 0.5, what: str = "condition"
) -> Any:
    """
    Call ``condition`` until it returns a truthy value, and return that value.

    :param condition: the check; exceptions count as "not yet" until the deadline.
    :param timeout: seconds before giving up with TimeoutError.
    :param interval: seconds between two checks.
    :param what: words for the error message.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except Exception as error:
            last_error = error
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"Timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


@dataclass
class Component:
    """One Airflow process (and its children), in its own process group, logging to a file."""

    name: str
    command: list[str]
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self, env: Mapping[str, str], cwd: Path) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child, closed below
        try:
            self.process = subprocess.Popen(
                self.command,
                env=dict(env),
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()
        _LIVE_GROUPS.add(self.process.pid)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace_seconds: float = 20) -> None:
        """SIGTERM the process group, then SIGKILL what is left after the grace period."""
        if self.process is None:
            return
        pgid = self.process.pid
        _kill_group(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(grace_seconds)
        _kill_group(pgid, signal.SIGKILL)  # children that outlived the leader
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        _LIVE_GROUPS.discard(pgid)
        self.process = None

    def kill(self) -> None:
        """SIGKILL the whole process group at once: a crash, not a shutdown."""
        if self.process is None:
            return
        pgid = self.process.pid
        _kill_group(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        _LIVE_GROUPS.discard(pgid)
        self.process = None

    def pids(self) -> set[int]:
        """Every live process of the component's process group."""
        if self.process is None:
            return set()
        return {pid for pid in _all_pids() if _pgid(pid) == self.process.pid}


def _all_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def cmdline(pid: int) -> str:
    """A process's command line ('' when it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def pss_bytes(pid: int) -> int:
    """A process's proportional set size (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class MemorySampler:
    """Samples the summed PSS and RSS of a set of processes in a thread; keeps the peaks."""

    def __init__(self, pids: Callable[[], Iterable[int]], interval: float = 2.0) -> None:
        self._pids = pids
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="e2e-memory-sampler", daemon=True)
        self.peak_pss = self.peak_rss = self.peak_processes = 0

    def start(self) -> MemorySampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def sample(self) -> None:
        pids = list(self._pids())
        self.peak_pss = max(self.peak_pss, sum(map(pss_bytes, pids)))
        self.peak_rss = max(self.peak_rss, sum(map(rss_bytes, pids)))
        self.peak_processes = max(self.peak_processes, len(pids))

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with contextlib.suppress(Exception):
                self.sample()


@dataclass
class AirflowDeployment:
    """
    A running Airflow: its home, environment, components, metadata database and REST API.

    :param home: the fresh ``AIRFLOW_HOME``.
    :param env: the environment of every Airflow process.
    :param api_port: where the API server listens (127.0.0.1).
    :param metadata_dsn: the metadata database (psycopg2 DSN) for scans and checks.
    :param components: name -> command line (e.g. ``["airflow", "scheduler"]``).
    """

    home: Path
    env: dict[str, str]
    api_port: int
    metadata_dsn: str
    components: dict[str, list[str]]
    password: str = ""
    running: dict[str, Component] = field(default_factory=dict)
    _token: str | None = None
    _memory: MemorySampler | None = None

    # ---- processes ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def run_cli(self, *args: str, timeout: float = 300) -> None:
        """Run an ``airflow`` command to completion; fail with its output if it fails."""
        result = subprocess.run(
            ["airflow", *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,
            check=False,
        )
        if result.returncode:
            raise RuntimeError(
                f"`airflow {' '.join(args)}` failed:\n{result.stdout[-4000:]}{result.stderr[-4000:]}"
            )

    def start(self, *names: str) -> None:
        """Start components by name (all when none is given); each in its own process group."""
        for name in names or tuple(self.components):
            component = Component(name, self.components[name], self.home / f"{name}.out")
            component.start(self.env, self.home)
            self.running[name] = component
        if self._memory is None:
            self._memory = MemorySampler(self.pids).start()

    def stop(self, *names: str) -> None:
        """Stop components by name (all when none is given), by their process groups."""
        for name in names or tuple(self.running):
            component = self.running.pop(name, None)
            if component is not None:
                component.stop()
        if not self.running and self._memory is not None:
            self._memory.stop()

    def kill(self, name: str) -> None:
        """Crash a component: SIGKILL to its whole process group."""
        self.running.pop(name).kill()

    def pids(self) -> set[int]:
        return {pid for component in list(self.running.values()) for pid in component.pids()}

    @property
    def memory(self) -> MemorySampler | None:
        return self._memory

    def assert_components_alive(self) -> None:
        dead = [name for name, component in self.running.items() if not component.running]
        if dead:
            raise AssertionError(f"Airflow component(s) died: {dead}; see {self.home}/<name>.out")

    def wait_healthy(self, timeout: float = 180, need: Iterable[str] = ("scheduler", "triggerer")) -> None:
        """Wait until the API answers and reports the metadata DB and the ``need`` components healthy."""

        def healthy() -> bool:
            self.assert_components_alive()
            health = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).json()
            parts = ["metadatabase", *need]
            return all(health.get(part, {}).get("status") == "healthy" for part in parts)

        wait_until(healthy, timeout, interval=1, what="a healthy Airflow")

    # ---- REST API ---------------------------------------------------------------------------------

    def token(self) -> str:
        """A bearer token, from ``POST /auth/token`` with the admin's password (cached)."""
        if self._token is None:
            response = httpx.post(
                f"{self.base_url}/auth/token",
                json={"username": ADMIN_USER, "password": self.password},
                timeout=30,
            )
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the REST API (``/api/v2`` + path) as the admin; return the JSON body; raise on errors."""
        response = httpx.request(
            method,
            f"{self.base_url}/api/v2{path}",
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=30,
            **kwargs,
        )
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text[:2000]}")
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str = DAG_ID, timeout: float = 180) -> dict[str, Any]:
        """Wait until the DAG processor has parsed the DAG, then unpause it."""
        wait_until(lambda: self.api("GET", f"/dags/{dag_id}"), timeout, interval=1, what=f"DAG {dag_id}")
        return self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, conf: Mapping[str, Any], dag_id: str = DAG_ID) -> str:
        """Start a DAG run with a conf through the REST API; return its run id."""
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": dict(conf)})
        return run["dag_run_id"]

    def dag_run(self, run_id: str, dag_id: str = DAG_ID) -> dict[str, Any]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def wait_for_run(self, run_id: str, timeout: float = 240, dag_id: str = DAG_ID) -> str:
        """Wait until a DAG run has finished; return its state."""

        def finished() -> str | None:
            self.assert_components_alive()
            state = self.dag_run(run_id, dag_id)["state"]
            return state if state in FINISHED_RUN_STATES else None

        return wait_until(finished, timeout, interval=1, what=f"DAG run {run_id} to finish")

    def task_instances(self, run_id: str, dag_id: str = DAG_ID) -> list[dict[str, Any]]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})[
            "task_instances"
        ]

    def task_states(self, run_id: str, dag_id: str = DAG_ID) -> dict[str, list[str | None]]:
        """task id -> the states of its instances (one per map index)."""
        states: dict[str, list[str | None]] = {}
        for ti in self.task_instances(run_id, dag_id):
            states.setdefault(ti["task_id"], []).append(ti["state"])
        return states

    def wait_for_task_state(
        self, run_id: str, task_id: str, states: Iterable[str], timeout: float = 180, dag_id: str = DAG_ID
    ) -> list[dict[str, Any]]:
        """Wait until every instance of a task is in one of ``states``; return those instances."""
        wanted = set(states)

        def reached() -> list[dict[str, Any]] | None:
            self.assert_components_alive()
            tis = [ti for ti in self.task_instances(run_id, dag_id) if ti["task_id"] == task_id]
            return tis if tis and all(ti["state"] in wanted for ti in tis) else None

        return wait_until(reached, timeout, interval=0.5, what=f"{task_id} in {sorted(wanted)}")

    def fail_unfinished_runs(self, dag_id: str = DAG_ID) -> None:
        """Mark every queued or running run failed, so that the next test's run can start."""
        runs = self.api("GET", f"/dags/{dag_id}/dagRuns", params={"state": ["queued", "running"]})
        for run in runs["dag_runs"]:
            self.api("PATCH", f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}", json={"state": "failed"})

    def set_variable(self, key: str, value: str) -> None:
        with contextlib.suppress(RuntimeError):
            self.api("DELETE", f"/variables/{key}")
        self.api("POST", "/variables", json={"key": key, "value": value})

    def delete_variable(self, key: str) -> None:
        with contextlib.suppress(RuntimeError):
            self.api("DELETE", f"/variables/{key}")

    def task_log_dir(self, run_id: str, task_id: str, map_index: int = -1, dag_id: str = DAG_ID) -> Path:
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return folder / f"map_index={map_index}" if map_index >= 0 else folder

    # ---- metadata database ------------------------------------------------------------------------

    def query(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        with (
            contextlib.closing(psycopg2.connect(self.metadata_dsn)) as connection,
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, parameters)
            return cursor.fetchall()

    def triggerer_jobs(self) -> list[tuple[int, str]]:
        """(id, state) of every triggerer job, oldest first."""
        return self.query("SELECT id, state FROM job WHERE job_type = 'TriggererJob' ORDER BY id")

    # ---- the OS processes of a task ----------------------------------------------------------------

    def task_processes(self, ti_ids: Iterable[str]) -> list[int]:
        """
        The processes running task instances now, found by the ids in their process titles.

        The task runner (titled ``airflow worker -- <ti id>``, the process that runs the operator)
        comes first, then, with LocalExecutor, its supervisor (a pool worker titled
        ``airflow worker -- LocalExecutor: <ti id>`` while busy, ``<idle>`` after). A Celery pool
        process keeps the title of its last task, so it is not counted.
        """
        ids = list(ti_ids)
        runners = tuple(f"airflow worker -- {ti_id}" for ti_id in ids)
        supervisors = tuple(f"airflow worker -- LocalExecutor: {ti_id}" for ti_id in ids)
        titles = {pid: cmdline(pid).strip() for pid in self.pids()}
        busy = [pid for pid, title in titles.items() if title.startswith(runners + supervisors)]
        return sorted(busy, key=lambda pid: not titles[pid].startswith(runners))

    # ---- what must never leak ---------------------------------------------------------------------

    def leaks(self, needles: Iterable[str]) -> list[str]:
        """
        Where any needle appears: task logs and component logs under the home, and the metadata DB's
        XComs, rendered template fields, task instances (and their history), triggers, the task
        state store, mapped-task and callback rows, Celery results.

        The DAG run's own ``conf`` (what the user typed in) and the API's audit ``log`` table are
        not the provider's doing and are left out.
        """
        needles = [needle for needle in needles if needle]
        found: list[str] = []
        for path in sorted(self.home.rglob("*")):
            if path.is_file() and path.suffix in {".log", ".out", ""} and "airflow.cfg" not in path.name:
                text = path.read_text(errors="replace")
                found += [
                    f"{path.relative_to(self.home)}: {needle!r}" for needle in needles if needle in text
                ]
        tables = self.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_name = ANY(%s)",
            (
                [
                    "xcom",
                    "rendered_task_instance_fields",
                    "task_instance",
                    "task_instance_history",
                    "trigger",
                    "task_state_store",
                    "task_map",
                    "task_reschedule",
                    "task_instance_note",
                    "callback",
                    "deadline",
                    "celery_taskmeta",
                ],
            ),
        )
        for (table,) in tables:
            for (row,) in self.query(f"SELECT t::text FROM {table} t"):
                found += [f"table {table}: {needle!r}" for needle in needles if needle in row]
        return found


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def postgres_dsn(host: str, port: int, user: str, dbname: str) -> str:
    return f"host={host} port={port} user={user} dbname={dbname}"


def create_database(admin_connect: Callable[[], Any], name: str) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"Invalid database name {name!r}")
    connection = admin_connect()
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()


def airflow_env(
    home: Path,
    api_port: int,
    metadata_url: str,
    extra: Mapping[str, str],
    executor: str = "LocalExecutor",
) -> dict[str, str]:
    """
    The environment of every Airflow process of a deployment.

    Starts from this process's environment without any ``AIRFLOW*`` setting of the test session
    (its private home, unit-test mode), puts the virtualenv's ``bin`` first on PATH (Airflow starts
    some components as a bare ``airflow`` command), and adds ``extra`` (connections, Variables).
    """
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "AWS_ENDPOINT_URL", "PYTEST", "_AIRFLOW"))
    }
    secret = new_secret()
    return {
        **base,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        # The deployment's own temp dir: the tests look there for ids a killed task left behind.
        "TMPDIR": str(home / "tmp"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__CORE__FERNET_KEY": "",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": secret,
        "AIRFLOW__API_AUTH__JWT_SECRET": secret,
        # The key of the id-set fingerprints, as a deployment sets it (a task cannot create it).
        "AIRFLOW__PERSONALIZE_DELETION__FINGERPRINT_KEY": new_secret(),
        # A crashed worker or triggerer is noticed within seconds, not minutes.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "15",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "60",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # Log servers of this deployment only (other deployments may run on the machine).
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        # Runs come from the tests only: no scheduled run claims a test's requests.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        **extra,
    }


#: Seconds before a retry of the example DAG's tasks on the e2e deployments (the DAG's: 2 minutes).
CREATE_RETRY_DELAY_SECONDS = 10

#: A cluster policy (``$AIRFLOW_HOME/config/airflow_local_settings.py``, as a deployment sets one): the
#: tests of a killed task (test_faults, the kill matrix) wait for its retry, not for two minutes.
LOCAL_SETTINGS = f"""\
from datetime import timedelta


def task_policy(task):
    if task.dag_id == {DAG_ID!r} and task.retries:
        task.retry_delay = timedelta(seconds={CREATE_RETRY_DELAY_SECONDS})
"""


def write_local_settings(home: Path) -> None:
    """Give a deployment the cluster policy :data:`LOCAL_SETTINGS`."""
    (home / "config").mkdir(exist_ok=True)
    (home / "tmp").mkdir(exist_ok=True)
    (home / "config" / "airflow_local_settings.py").write_text(LOCAL_SETTINGS)


def write_password_file(home: Path) -> str:
    """Pre-set the admin's password for SimpleAuthManager; return it."""
    password = new_secret()
    (home / "passwords.json").write_text(json.dumps({ADMIN_USER: password}) + "\n")
    return password
