"""
Fixtures of the end-to-end suite: one real Airflow for the whole session, a clean stage per test.

- ``e2e_aws`` (session): the local emulator, in this process, with short job timings (2 s / 4 s).
- ``warehouse`` (session): a PostgreSQL warehouse database with the erasure tables.
- ``airflow`` (session): API server, scheduler, DAG processor and triggerer as separate processes
  (LocalExecutor, PostgreSQL metadata DB), the example DAG unpaused.
- ``stage`` (function): emulator reset (bucket with SSE-S3 default encryption, two dataset groups
  holding users), warehouse tables emptied, no unfinished run left by an earlier test.
- ``browser`` (module), ``page`` (function): Debian's headless Chromium through Playwright; a tab,
  screenshotted on a failure. ``open_logged_in`` opens a UI page, logging in when asked.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest

from airflow_provider_personalize_deletion.emulator import EmulatorClient, JobTimings, LocalAws
from tests.e2e.harness import (
    ADMIN_USER,
    DAG_ID,
    AirflowDeployment,
    airflow_env,
    create_database,
    free_port,
    postgres_dsn,
    wait_until,
    write_local_settings,
    write_password_file,
)

ROLE_ARN = "arn:aws:iam::123456789012:role/PersonalizeDeletion"
BUCKET = "personalize-erasure"
WAREHOUSE_CONN_ID = "personalize_erasure_warehouse"
GROUP_NAMES = ("shop-recommendations", "news-recommendations")
#: Bystanders: users every dataset group holds that nobody asked to erase.
BYSTANDERS = [f"bystander-{number:03d}" for number in range(20)]


@pytest.fixture(scope="session")
def e2e_aws() -> Iterator[LocalAws]:
    with LocalAws(timings=JobTimings(pending_seconds=2, in_progress_seconds=4)) as aws:
        yield aws


@dataclass
class Warehouse:
    """The PostgreSQL warehouse of erasure requests, seen from the test."""

    dsn: str
    uri: str

    def store(self):
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore

        os.environ[f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}"] = self.uri
        return ErasureRequestStore(PostgresHook(postgres_conn_id=WAREHOUSE_CONN_ID, log_sql=False))

    def query(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        import psycopg2

        connection = psycopg2.connect(self.dsn)
        try:
            with connection, connection.cursor() as cursor:
                cursor.execute(sql, parameters)
                return cursor.fetchall() if cursor.description else []
        finally:
            connection.close()


@pytest.fixture(scope="session")
def warehouse(postgres_server) -> Warehouse:
    name = f"e2e_warehouse_{uuid.uuid4().hex[:8]}"
    create_database(postgres_server.connect, name)
    dsn = postgres_dsn(postgres_server.host, postgres_server.port, postgres_server.user, name)
    warehouse = Warehouse(dsn, postgres_server.uri(name))
    warehouse.store().create_tables()
    return warehouse


def deployment_extras(aws: LocalAws, warehouse: Warehouse) -> dict[str, str]:
    """Connections, Variables and settings every Airflow process gets (as scripts/demo.py does)."""
    group_arns = [
        f"arn:aws:personalize:{aws.region}:123456789012:dataset-group/{name}" for name in GROUP_NAMES
    ]
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": aws.region,
        "AWS_ENDPOINT_URL": aws.endpoint_url,
        "AIRFLOW_CONN_AWS_DEFAULT": aws.airflow_conn_uri(),
        f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}": warehouse.uri,
        # A warehouse nobody listens to, for the test of an unreachable warehouse.
        "AIRFLOW_CONN_WAREHOUSE_UNREACHABLE": f"postgres://postgres@127.0.0.1:{free_port()}/nowhere",
        "AIRFLOW_VAR_PERSONALIZE_ERASURE_DATASET_GROUP_ARNS": json.dumps(group_arns),
        "AIRFLOW_VAR_PERSONALIZE_ERASURE_ROLE_ARN": ROLE_ARN,
        "AIRFLOW_VAR_PERSONALIZE_ERASURE_BUCKET": BUCKET,
        "PERSONALIZE_ERASURE_POLL_SECONDS": "2",
    }


#: The components of every topology: API server, scheduler, DAG processor, triggerer.
CORE_COMPONENTS = {
    "api-server": ["airflow", "api-server"],
    "scheduler": ["airflow", "scheduler"],
    "dag-processor": ["airflow", "dag-processor"],
    "triggerer": ["airflow", "triggerer"],
}


@contextlib.contextmanager
def deployed_airflow(
    home: Path,
    postgres_server,
    aws: LocalAws,
    warehouse: Warehouse,
    topology: str,
    components: dict[str, list[str]],
    executor: str = "LocalExecutor",
    extra_env: dict[str, str] | None = None,
) -> Iterator[AirflowDeployment]:
    """
    Start a fresh Airflow on a PostgreSQL metadata DB, the example DAG parsed and unpaused; always stop it.

    :param extra_env: settings of the topology (e.g. the Celery broker), given the metadata DB's URL
        under ``{metadata_url}`` placeholders.
    """
    metadata_db = f"e2e_airflow_{uuid.uuid4().hex[:8]}"
    create_database(postgres_server.connect, metadata_db)
    server = f"{postgres_server.user}@{postgres_server.host}:{postgres_server.port}/{metadata_db}"
    api_port = free_port()
    extras = {
        **deployment_extras(aws, warehouse),
        **{key: value.format(metadata_url=server) for key, value in (extra_env or {}).items()},
    }
    deployment = AirflowDeployment(
        home=home,
        env=airflow_env(home, api_port, f"postgresql+psycopg2://{server}", extras, executor),
        api_port=api_port,
        metadata_dsn=postgres_dsn(
            postgres_server.host, postgres_server.port, postgres_server.user, metadata_db
        ),
        components=components,
    )
    deployment.password = write_password_file(home)
    write_local_settings(home)
    try:
        deployment.run_cli("db", "migrate")
        deployment.start()
        deployment.wait_healthy(need=("scheduler", "triggerer", "dag_processor"))
        deployment.wait_for_dag()
        yield deployment
    finally:
        deployment.stop()
        _report_memory(deployment, topology)


@pytest.fixture(scope="session")
def airflow(tmp_path_factory, postgres_server, e2e_aws, warehouse) -> Iterator[AirflowDeployment]:
    with deployed_airflow(
        tmp_path_factory.mktemp("airflow-home"),
        postgres_server,
        e2e_aws,
        warehouse,
        "LocalExecutor: api-server, scheduler, dag-processor, triggerer",
        CORE_COMPONENTS,
    ) as deployment:
        yield deployment


_MEMORY_REPORTS: list[str] = []


def _report_memory(deployment: AirflowDeployment, topology: str) -> None:
    memory = deployment.memory
    if memory is not None:
        _MEMORY_REPORTS.append(
            f"{topology}: peak PSS {memory.peak_pss / 2**20:.0f} MiB, "
            f"peak RSS {memory.peak_rss / 2**20:.0f} MiB, up to {memory.peak_processes} processes"
        )


def pytest_collection_modifyitems(config, items) -> None:
    """The kill matrix's cells not marked ``kill_matrix_ci`` run only with ``KILL_MATRIX=all``."""
    if os.environ.get("KILL_MATRIX") == "all":
        return
    skip = pytest.mark.skip(reason="a cell of the full kill matrix: make kill-matrix (KILL_MATRIX=all)")
    for item in items:
        if item.get_closest_marker("kill_matrix") and not item.get_closest_marker("kill_matrix_ci"):
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, for fixtures that act on failures (screenshots)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def pytest_terminal_summary(terminalreporter) -> None:
    if _MEMORY_REPORTS:
        terminalreporter.section("memory used by Airflow (e2e)")
        for line in _MEMORY_REPORTS:
            terminalreporter.write_line(line)


@dataclass
class Stage:
    """What one test starts from: an emulator with two dataset groups, an empty warehouse."""

    airflow: AirflowDeployment
    aws: LocalAws
    emulator: EmulatorClient
    warehouse: Warehouse
    group_arns: list[str]
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    last_run_id: str = ""

    def user_ids(self, count: int, label: str = "user") -> list[str]:
        """Fresh user ids, unique to this test (so a scan can tell them apart), held by every group."""
        ids = [f"{label}-{self.token}-{number:03d}" for number in range(count)]
        for arn in self.group_arns:
            self.emulator.seed_users(arn, ids)
        return ids

    def request_erasure(self, user_ids: list[str], days_ago: int = 1) -> None:
        """Requests arriving through the warehouse (e.g. a privacy portal), not through the DAG."""
        now = datetime.now(timezone.utc)
        self.warehouse.store().add_requests(user_ids, "privacy-portal", now - timedelta(days=days_ago))

    def statuses(self, user_ids: list[str]) -> dict[str, str]:
        rows = self.warehouse.query(
            "SELECT user_id, status FROM erasure_requests WHERE user_id = ANY(%s)", (user_ids,)
        )
        return dict(rows)

    def audit(self, run_id: str) -> tuple[str, dict[str, Any]] | None:
        rows = self.warehouse.query("SELECT outcome, record FROM erasure_audit WHERE run_id = %s", (run_id,))
        return (rows[0][0], json.loads(rows[0][1])) if rows else None

    @property
    def s3(self):
        return boto3.client("s3", endpoint_url=self.aws.endpoint_url, region_name=self.aws.region)

    def s3_keys(self) -> list[str]:
        try:
            return [item["Key"] for item in self.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
        except self.s3.exceptions.NoSuchBucket:
            return []

    def jobs_of(self, group_arn: str) -> list[dict[str, Any]]:
        return [job for job in self.emulator.jobs() if job["datasetGroupArn"] == group_arn]

    def conf(self, user_ids: list[str] = (), group_arns: list[str] | None = None) -> dict[str, Any]:
        return {"dataset_group_arns": group_arns or self.group_arns, "user_ids": list(user_ids)}

    def hold_jobs_as_created(self, count: int, ignore: Iterable[str] = (), timeout: float = 240) -> list[str]:
        """
        Hold the next ``count`` new jobs IN_PROGRESS as soon as they appear; return their names.

        A job stays PENDING 2 s, then IN_PROGRESS 4 s: polling every 0.2 s holds it well before it
        could complete.
        """
        held: list[str] = []
        skip = set(ignore)

        def hold_new() -> bool:
            for job in self.emulator.jobs():
                if job["jobName"] in skip or job["jobName"] in held:
                    continue
                assert job["status"] in ("PENDING", "IN_PROGRESS"), f"job finished before it was held: {job}"
                self.emulator.hold(job["jobName"], "IN_PROGRESS")
                held.append(job["jobName"])
            return len(held) >= count

        wait_until(hold_new, timeout, interval=0.2, what=f"{count} new deletion job(s)")
        return held

    def wait_until_deferred(
        self, run_id: str, timeout: float = 180, task_id: str = "wait_for_deletion", dag_id: str = DAG_ID
    ) -> list[dict[str, Any]]:
        """
        Wait until every sensor is deferred, no process of the sensor task is left, and a triggerer
        has taken each trigger; return the task instances.

        :param task_id: the deferring task (the erasure DAG's sensor unless told).
        :param dag_id: its DAG.

        Releasing a job before the deferring worker has exited would hit an Airflow race
        (apache/airflow#67287: a trigger that fires before the executor reports the deferring
        workload's exit gets the task failed as "state changed externally" and retried).
        """
        tis = self.airflow.wait_for_task_state(run_id, task_id, {"deferred"}, timeout, dag_id)
        wait_until(
            lambda: not self.airflow.task_processes(ti["id"] for ti in tis),
            60,
            what="the deferring sensor's worker process to exit",
        )
        time.sleep(3)  # the scheduler's next loop takes in the executor's event

        def picked_up_by_a_triggerer() -> list[dict[str, Any]] | None:
            now = [ti for ti in self.airflow.task_instances(run_id, dag_id) if ti["task_id"] == task_id]
            ready = all(ti["state"] == "deferred" and (ti["trigger"] or {}).get("triggerer_id") for ti in now)
            return now if ready else None

        return wait_until(picked_up_by_a_triggerer, 60, what="a triggerer to take the sensors' triggers")

    def run(self, conf: dict[str, Any], timeout: float = 300) -> str:
        """Trigger a run by the REST API, release its jobs once the sensors are deferred; return its state."""
        earlier = [job["jobName"] for job in self.emulator.jobs()]
        run_id = self.airflow.trigger(conf)
        names = self.hold_jobs_as_created(len(conf.get("dataset_group_arns") or self.group_arns), earlier)
        self.wait_until_deferred(run_id)
        for name in names:
            self.emulator.release(name)
        self.last_run_id = run_id
        return self.airflow.wait_for_run(run_id, timeout)

    def assert_nothing_leaked(self, user_ids: list[str]) -> None:
        leaks = self.airflow.leaks(user_ids)
        assert not leaks, "User ids found where they must never be:\n" + "\n".join(leaks[:20])


def create_bucket(s3) -> None:
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )


@contextlib.contextmanager
def staged(airflow: AirflowDeployment, aws: LocalAws, warehouse: Warehouse) -> Iterator[Stage]:
    """A clean stage on a deployment: no unfinished run, emulator reset and seeded, warehouse empty."""
    airflow.fail_unfinished_runs()
    emulator = aws.client
    emulator.reset()
    group_arns = [emulator.create_dataset_group(name, BYSTANDERS) for name in GROUP_NAMES]
    stage = Stage(airflow, aws, emulator, warehouse, group_arns)
    create_bucket(stage.s3)
    warehouse.query("DELETE FROM erasure_requests")
    warehouse.query("DELETE FROM erasure_audit")
    # Each deployment has a fingerprint key of its own (the Celery one too): entries an earlier
    # deployment's runs left would fail the next suppression check, rightly, as made with another key.
    warehouse.query("DELETE FROM erasure_suppression")
    try:
        yield stage
    finally:
        airflow.fail_unfinished_runs()


@pytest.fixture
def stage(airflow: AirflowDeployment, e2e_aws: LocalAws, warehouse: Warehouse) -> Iterator[Stage]:
    with staged(airflow, e2e_aws, warehouse) as stage:
        yield stage


# ---- the UI in a browser ----------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator:
    """Debian's headless Chromium, driven by Playwright, with a fresh profile of the module's own."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-system-deps.sh", pytrace=False)
    with playwright_api.sync_playwright() as playwright:
        # A persistent context gives Chromium a fresh user-data-dir of the test's own.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser, airflow: AirflowDeployment, tmp_path: Path, request) -> Iterator:
    """A new tab; on a failure, a screenshot of it in the test's tmp_path."""
    page = browser.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is None or report.failed:
            with contextlib.suppress(Exception):
                page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
                print(f"Screenshot of the failure: {tmp_path / 'failure.png'}")
        page.close()


def open_logged_in(page, airflow: AirflowDeployment, path: str, ready) -> None:
    """
    Open a page of the UI, logging in as the admin when the UI asks.

    :param path: the UI path, e.g. ``/dags/<dag_id>``.
    :param ready: a locator that shows once the page is open (the app redirects to its login, or not).
    """
    page.goto(f"{airflow.base_url}{path}")
    login = page.get_by_label("Username")
    login.or_(ready).first.wait_for()
    if login.is_visible():
        page.get_by_label("Username").fill(ADMIN_USER)
        page.get_by_label("Password").fill(airflow.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"**{path}")


__all__ = ["BUCKET", "DAG_ID", "Stage"]
