"""
What every benchmark script shares: fresh worker processes, memory readings, the machine's
description, and printing results as Markdown tables with ratios against the baseline.

Each script runs its variants (ours and the baseline) in fresh worker processes, launched by
re-running the script with ``--worker``; a worker prints one JSON line prefixed with
:data:`RESULT_MARKER`, which :func:`run_worker` returns as a dictionary. Peak memory is the worker's
own high-water mark (:func:`peak_rss_bytes`), so one variant never inherits the other's memory; the
memory of the worker's own child processes (e.g. a ``sort``) is sampled from outside
(``children_peak_rss_bytes``), so that the sampling costs the worker nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    from airflow_provider_personalize_deletion.emulator import LocalAws

REPO = Path(__file__).resolve().parents[1]
RESULT_MARKER = "BENCHMARK-RESULT "
PACKAGES = (
    "apache-airflow",
    "apache-airflow-task-sdk",
    "apache-airflow-providers-amazon",
    "apache-airflow-providers-common-sql",
    "aiobotocore",
    "botocore",
    "moto",
    "pandas",
    "psycopg",
    "psycopg2-binary",
)
MIB = 1024 * 1024
CHILD_SAMPLE_SECONDS = 0.02
"""How often the memory of a worker's child processes is read."""


def argument_parser(description: str) -> argparse.ArgumentParser:
    """
    Return a parser with the options every benchmark takes: ``--quick`` and the hidden worker switch.

    :param description: the script's one-line description.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run (under 2 minutes)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-args", default="{}", help=argparse.SUPPRESS)
    return parser


def aws_client(aws: LocalAws, service: str) -> Any:
    """
    A boto3 client of the emulator, with its fake credentials, for the benchmark's own set-up.

    :param aws: the running emulator.
    :param service: ``s3`` or ``personalize``.
    """
    import boto3  # not at module level: the DAG-parse workers must not have it loaded beforehand

    return boto3.client(
        service,
        endpoint_url=aws.endpoint_url,
        region_name=aws.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


#: The IAM role of the benchmarks' data deletion jobs (the emulator does not check it).
ROLE_ARN = "arn:aws:iam::123456789012:role/PersonalizeDeletion"
#: CreateDataDeletionJob allows 5 PENDING jobs per dataset group.
JOBS_PER_GROUP = 5
DELETION_FILE_BUCKET = "erasure-benchmark"


def create_held_jobs(aws: LocalAws, count: int, new_group: Callable[[int], str]) -> list[str]:
    """
    Create ``count`` data deletion jobs ``erase-00000``, ... held IN_PROGRESS, 5 per dataset group.

    :param aws: the running emulator, reset.
    :param count: how many jobs.
    :param new_group: creates the n-th dataset group and returns its ARN.
    :return: the jobs' ARNs.
    """
    s3 = aws_client(aws, "s3")
    s3.create_bucket(Bucket=DELETION_FILE_BUCKET)
    s3.put_object(Bucket=DELETION_FILE_BUCKET, Key="run/part-00000.csv", Body=b"USER_ID\nu1\n")
    personalize = aws_client(aws, "personalize")
    arns = []
    for index in range(count):
        if index % JOBS_PER_GROUP == 0:
            group = new_group(index // JOBS_PER_GROUP)
        name = f"erase-{index:05d}"
        aws.client.hold(name, "IN_PROGRESS")
        arns.append(
            personalize.create_data_deletion_job(
                jobName=name,
                datasetGroupArn=group,
                dataSource={"dataLocation": f"s3://{DELETION_FILE_BUCKET}/run/part-00000.csv"},
                roleArn=ROLE_ARN,
            )["dataDeletionJobArn"]
        )
    return arns


def benchmark_env(airflow_home: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """
    Return the environment of a worker: a private Airflow home and fake AWS credentials.

    :param airflow_home: the worker's ``AIRFLOW_HOME``.
    :param extra: more variables, e.g. connections as ``AIRFLOW_CONN_<ID>``.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "AWS_"))}
    env.update(
        {
            "AIRFLOW_HOME": airflow_home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home}/airflow.db",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    env.update(extra or {})
    return env


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[str]:
    """
    A private temporary directory, removed on exit.

    :param prefix: the directory name's prefix.
    """
    path = tempfile.mkdtemp(prefix=prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_worker(
    script: str,
    worker: str,
    args: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    timeout: float = 3600,
) -> dict[str, Any]:
    """
    Run one variant in a fresh process (the script itself with ``--worker``) and return its result.

    The process gets its own ``AIRFLOW_HOME`` and fake AWS credentials (:func:`benchmark_env`). The
    result gains ``children_peak_rss_bytes``: the highest sum of the RSS of the worker's descendants
    seen while it ran (sampled every :data:`CHILD_SAMPLE_SECONDS`; 0 without any).

    :param script: the benchmark script's path (``__file__``).
    :param worker: the worker's name, as the script's ``--worker`` switch knows it.
    :param args: the worker's arguments, passed as JSON.
    :param env: more environment variables, e.g. connections as ``AIRFLOW_CONN_<ID>``.
    :param timeout: seconds before the worker is killed.
    :raises RuntimeError: the worker failed or printed no result; the message holds its stderr tail.
    """
    command = [sys.executable, script, "--worker", worker, "--worker-args", json.dumps(args)]
    with scratch_dir("ppd-bench-home-") as home:
        process = subprocess.Popen(
            command,
            env=benchmark_env(home, env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        children_peak = [0]
        sampler = threading.Thread(target=_sample_children, args=(process, children_peak), daemon=True)
        sampler.start()
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        finally:
            process.kill()
            sampler.join()
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            return {**json.loads(line[len(RESULT_MARKER) :]), "children_peak_rss_bytes": children_peak[0]}
    raise RuntimeError(
        f"worker {worker} {args} failed (exit {process.returncode}):\n{stderr[-3000:]}{stdout[-1000:]}"
    )


def _sample_children(process: subprocess.Popen[str], peak: list[int]) -> None:
    """Record in ``peak[0]`` the highest RSS sum of the descendants of ``process`` until it ends."""
    try:
        worker = psutil.Process(process.pid)
    except psutil.NoSuchProcess:
        return
    while process.poll() is None:
        total = 0
        with contextlib.suppress(psutil.Error):
            for child in worker.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
        peak[0] = max(peak[0], total)
        time.sleep(CHILD_SAMPLE_SECONDS)


def emit_result(result: Mapping[str, Any]) -> None:
    """
    Hand a worker's result to :func:`run_worker`, adding the worker's peak RSS.

    :param result: the figures the worker measured (JSON-serialisable).
    """
    figures = {**result, "peak_rss_bytes": peak_rss_bytes()}
    print(RESULT_MARKER + json.dumps(figures), flush=True)


def peak_rss_bytes() -> int:
    """
    The peak resident set size of this process so far.

    Linux's ``VmHWM`` is read first: ``ru_maxrss`` survives ``execve``, so a worker would report its
    parent's peak (the emulator's, holding every uploaded object) when that one is larger.
    """
    with contextlib.suppress(OSError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss_bytes() -> int:
    """The resident set size of this process now."""
    return psutil.Process().memory_info().rss


def mib(size: float) -> str:
    """:param size: a size in bytes, shown in MiB."""
    return f"{size / MIB:,.1f} MiB"


def ratio(ours: float, baseline: float) -> str:
    """
    Format ``ours / baseline`` as ``"0.21x"``.

    :param ours: our figure.
    :param baseline: the baseline's figure.
    """
    return f"{ours / baseline:.2f}x" if baseline else "n/a"


def median(values: Sequence[float]) -> float:
    """:param values: measurements; their median."""
    return statistics.median(values)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """
    Render rows as a Markdown table.

    :param headers: the column titles.
    :param rows: the cells, already formatted.
    """
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_description() -> str:
    """One paragraph naming the machine, the date, Python and the package versions."""
    memory = psutil.virtual_memory().total
    versions = ", ".join(f"{name} {_version(name)}" for name in PACKAGES)
    return (
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {platform.platform()}; "
        f"{os.cpu_count()} cores, {memory / 1024**3:.1f} GiB; load average "
        f"{', '.join(f'{load:.1f}' for load in os.getloadavg())} at start; "
        f"Python {platform.python_version()}; {versions}"
    )


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"
