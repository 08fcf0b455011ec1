"""
The distributed shape: CeleryExecutor with a Redis broker (Debian's redis-server), a PostgreSQL
metadata DB, two Celery workers, and scheduler, DAG processor, API server and triggerer as
separate processes. The same REST-triggered erasure as on the single-machine topology.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import CORE_COMPONENTS, Stage, deployed_airflow, staged
from tests.e2e.harness import AirflowDeployment, Component, free_port, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory) -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is missing: run scripts/ensure-system-deps.sh", pytrace=False)
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    redis = Component(
        "redis",
        [
            server,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        folder / "redis.out",
    )
    redis.start({"PATH": "/usr/bin:/bin"}, folder)
    try:
        import redis as redis_client

        wait_until(lambda: redis_client.Redis(port=port).ping(), 30, what="redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        redis.stop()


@pytest.fixture(scope="module")
def celery_airflow(
    tmp_path_factory, postgres_server, e2e_aws, warehouse, redis_url
) -> Iterator[AirflowDeployment]:
    worker = ["airflow", "celery", "worker", "--concurrency", "2", "--skip-serve-logs"]
    with deployed_airflow(
        tmp_path_factory.mktemp("airflow-celery-home"),
        postgres_server,
        e2e_aws,
        warehouse,
        "CeleryExecutor: api-server, scheduler, dag-processor, triggerer, 2 Celery workers",
        {
            **CORE_COMPONENTS,
            "celery-worker-1": [*worker, "--celery-hostname", "worker1@%h"],
            "celery-worker-2": [*worker, "--celery-hostname", "worker2@%h"],
        },
        executor="CeleryExecutor",
        extra_env={
            "AIRFLOW__CELERY__BROKER_URL": redis_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+postgresql://{metadata_url}",
        },
    ) as deployment:
        yield deployment


def test_celery_topology_runs_the_rest_triggered_erasure_end_to_end(
    celery_airflow, e2e_aws, warehouse
) -> None:
    with staged(celery_airflow, e2e_aws, warehouse) as stage:
        stage: Stage
        from_portal = stage.user_ids(3, "portal")
        ad_hoc = stage.user_ids(2, "adhoc")
        stage.request_erasure(from_portal)

        assert stage.run(stage.conf(ad_hoc)) == "success"

        erased = from_portal + ad_hoc
        assert stage.statuses(erased) == dict.fromkeys(erased, "erased")
        assert stage.audit(stage.last_run_id)[0] == "erased"
        for arn in stage.group_arns:
            assert [job["status"] for job in stage.jobs_of(arn)] == ["COMPLETED"]
        assert stage.s3_keys() == []
        # The tasks ran on the Celery workers, both of them taking work.
        for worker in ("celery-worker-1", "celery-worker-2"):
            assert "Executing workload in Celery" in (celery_airflow.home / f"{worker}.out").read_text()
        stage.assert_nothing_leaked(erased)
