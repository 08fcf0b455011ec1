"""
Triggerer benchmark: N deletion-job triggers in one event loop against the local emulator.

Ours: ``PersonalizeDataDeletionJobCompletedTrigger``, whose triggers share one aiobotocore client per
connection settings. Baseline: the same trigger with ``AwsBaseWaiterTrigger.run`` (what it was before
the shared client, and what every Amazon-provider trigger does): one client per trigger.

Each (N, variant) runs in a fresh process. The jobs are held IN_PROGRESS; the triggers start
spread over one poll interval, as deferrals reach a real triggerer (started at once, they would poll
in bursts). Once every trigger has polled, the worker waits one poll interval, then measures over two
poll intervals the RSS growth per trigger (over the RSS after imports) and the
DescribeDataDeletionJob calls per minute; then it releases every job (they complete at once) and
records, per job, the delay from its release to its trigger's event. Target: fewer bytes per trigger
than the baseline, and no delay above one poll interval plus one second.

Run: ``.venv/bin/python benchmarks/triggerer.py [--quick] [--counts 100,500] [--poll-seconds 10]``
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import statistics
import time
from typing import Any

from _common import (
    argument_parser,
    aws_client,
    current_rss_bytes,
    emit_result,
    machine_description,
    markdown_table,
    ratio,
    run_worker,
)
from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger

from airflow_provider_personalize_deletion.emulator import EmulatorClient, JobTimings, LocalAws
from airflow_provider_personalize_deletion.triggers.personalize import (
    PersonalizeDataDeletionJobCompletedTrigger,
)

COUNTS = (100, 500, 1000)
QUICK_COUNTS = (50, 200)
POLL_SECONDS = 10
QUICK_POLL_SECONDS = 4
VARIANTS = ("baseline", "ours")
BUCKET = "erasure-benchmark"
DELETION_FILE = f"s3://{BUCKET}/run/part-00000.csv"
ROLE_ARN = "arn:aws:iam::123456789012:role/PersonalizeDeletion"
JOBS_PER_GROUP = 5  # CreateDataDeletionJob allows 5 PENDING jobs per dataset group
WAITER_LOGGER = "airflow.providers.amazon.aws.utils.waiter_with_logging"


class OneClientPerTriggerBaseline(PersonalizeDataDeletionJobCompletedTrigger):
    """The deletion-job trigger as the Amazon provider runs its triggers: one aiobotocore client each."""

    run = AwsBaseWaiterTrigger.run


TRIGGERS = {"ours": PersonalizeDataDeletionJobCompletedTrigger, "baseline": OneClientPerTriggerBaseline}


class PolledTriggers(logging.Handler):
    """
    Records which triggers have polled at least once.

    ``async_wait`` logs the job's status after each poll that finds it running, from the trigger's
    own asyncio task: the distinct tasks seen are the triggers that polled.
    """

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.tasks: set[asyncio.Task] = set()

    def emit(self, record: logging.LogRecord) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)


async def wait_for(condition: Any, poll: float = 0.2) -> None:
    """:param condition: a callable; return once it is true, checking every ``poll`` seconds."""
    while not condition():
        await asyncio.sleep(poll)


async def sample_rss(seconds: float) -> int:
    """:param seconds: sample this process's RSS for this long; return the highest reading."""
    highest = current_rss_bytes()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        highest = max(highest, current_rss_bytes())
    return highest


def release_all(emulator: EmulatorClient, job_names: list[str]) -> dict[str, float]:
    """
    Release every held job, one after the other, in a shuffled order; return when each was released.

    Shuffled: released in the order the triggers started, each job would be released at a fixed phase
    of its trigger's polling, and every delay would come out the same.

    :param emulator: the emulator's control client.
    :param job_names: the jobs.
    """
    released = {}
    for name in random.Random(6).sample(job_names, len(job_names)):
        released[name] = time.monotonic()
        emulator.release(name)
    return released


async def run_triggers(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """
    Run N triggers of one variant in this process's event loop and measure them.

    :param name: the variant, ``ours`` or ``baseline``.
    :param args: ``endpoint_url`` (the emulator, whose every job is held) and ``poll_seconds``.
    """
    poll = args["poll_seconds"]
    emulator = EmulatorClient(args["endpoint_url"])
    jobs = {job["jobName"]: job["dataDeletionJobArn"] for job in emulator.jobs()}
    polled = PolledTriggers()
    logger = logging.getLogger(WAITER_LOGGER)
    logger.setLevel(logging.INFO)
    logger.addHandler(polled)
    logger.propagate = False
    rss_before = current_rss_bytes()

    fired: dict[str, float] = {}

    async def run_one(trigger_class: type, arn: str, job_name: str, start_after: float) -> None:
        await asyncio.sleep(start_after)
        trigger = trigger_class(data_deletion_job_arn=arn, waiter_delay=poll, waiter_max_attempts=10_000)
        async for event in trigger.run():
            if event.payload["status"] != "success":
                raise RuntimeError(f"trigger of {job_name} fired {event.payload}")
            fired[job_name] = time.monotonic()

    started = time.monotonic()
    tasks = [
        asyncio.create_task(run_one(TRIGGERS[name], arn, job, poll * index / len(jobs)))
        for index, (job, arn) in enumerate(jobs.items())
    ]
    await wait_for(lambda: len(polled.tasks) == len(tasks) or any(task.done() for task in tasks))
    all_polling = time.monotonic() - started
    await asyncio.sleep(poll)
    calls_before = await asyncio.to_thread(emulator.calls, "DescribeDataDeletionJob")
    window_started = time.monotonic()
    rss_steady = await sample_rss(2 * poll)
    calls = await asyncio.to_thread(emulator.calls, "DescribeDataDeletionJob") - calls_before
    window = time.monotonic() - window_started
    released = await asyncio.to_thread(release_all, emulator, list(jobs))
    await asyncio.gather(*tasks)
    delays = [fired[job] - released[job] for job in jobs]
    return {
        "seconds_until_all_polling": all_polling,
        "rss_before_bytes": rss_before,
        "rss_steady_bytes": rss_steady,
        "describe_calls_per_minute": calls * 60 / window,
        "delay_median": statistics.median(delays),
        "delay_p95": statistics.quantiles(delays, n=20)[-1],
        "delay_max": max(delays),
    }


def worker(name: str, args: dict[str, Any]) -> None:
    """
    Measure one variant in this fresh process and emit its figures.

    :param name: the variant, ``ours`` or ``baseline``.
    :param args: see :func:`run_triggers`.
    """
    # Loaded by the triggers' first client; imported here so the RSS floor holds them, in both variants.
    import aiobotocore.session  # noqa: F401
    import aiohttp  # noqa: F401
    import airflow.providers.amazon.aws.utils.waiter_with_logging  # noqa: F401

    emit_result(asyncio.run(run_triggers(name, args)))


def create_held_jobs(aws: LocalAws, count: int) -> None:
    """
    Create ``count`` data deletion jobs held IN_PROGRESS.

    :param aws: the running emulator, reset.
    :param count: how many jobs.
    """
    aws_client(aws, "s3").create_bucket(Bucket=BUCKET)
    aws_client(aws, "s3").put_object(Bucket=BUCKET, Key="run/part-00000.csv", Body=b"USER_ID\nu1\n")
    personalize = aws_client(aws, "personalize")
    for index in range(count):
        if index % JOBS_PER_GROUP == 0:
            group = aws.client.create_dataset_group(f"shop-{index // JOBS_PER_GROUP}", user_ids=["u1"])
        name = f"erase-{index:05d}"
        aws.client.hold(name, "IN_PROGRESS")
        personalize.create_data_deletion_job(
            jobName=name, datasetGroupArn=group, dataSource={"dataLocation": DELETION_FILE}, roleArn=ROLE_ARN
        )


def measure(aws: LocalAws, count: int, poll_seconds: int) -> dict[str, dict[str, Any]]:
    """
    Run both variants with ``count`` triggers, each in a fresh process, on fresh jobs.

    :param aws: the running emulator.
    :param count: the number of triggers.
    :param poll_seconds: the triggers' ``waiter_delay``.
    """
    results = {}
    for variant in VARIANTS:
        aws.client.reset()
        create_held_jobs(aws, count)
        args = {"endpoint_url": aws.endpoint_url, "poll_seconds": poll_seconds}
        env = {"AIRFLOW_CONN_AWS_DEFAULT": aws.airflow_conn_uri()}
        results[variant] = run_worker(__file__, variant, args, env)
    aws.client.reset()
    return results


def report(rows: list[tuple[int, dict[str, dict[str, Any]]]], poll_seconds: int) -> str:
    """
    Format the figures and the ratios (ours over baseline) as a Markdown table.

    :param rows: ``(count, {variant: result})`` per measurement.
    :param poll_seconds: the poll interval, for the delay target.
    """
    table = []
    for count, results in rows:
        per_trigger = {
            variant: (result["rss_steady_bytes"] - result["rss_before_bytes"]) / count
            for variant, result in results.items()
        }
        ours, base = results["ours"], results["baseline"]
        table.append(
            (
                count,
                f"{per_trigger['ours'] / 1024:,.0f} / {per_trigger['baseline'] / 1024:,.0f}",
                ratio(per_trigger["ours"], per_trigger["baseline"]),
                f"{ours['describe_calls_per_minute']:,.0f} / {base['describe_calls_per_minute']:,.0f}",
                f"{ours['delay_median']:.2f} / {ours['delay_p95']:.2f} / {ours['delay_max']:.2f}",
                f"{base['delay_median']:.2f} / {base['delay_p95']:.2f} / {base['delay_max']:.2f}",
                "yes" if ours["delay_max"] <= poll_seconds + 1 else "no",
                f"{ours['seconds_until_all_polling']:.1f} / {base['seconds_until_all_polling']:.1f}",
            )
        )
    headers = (
        "triggers",
        "KiB per trigger ours / baseline",
        "memory ratio",
        "Describe calls/min ours / baseline",
        "firing delay s ours (median / p95 / max)",
        "firing delay s baseline (median / p95 / max)",
        f"ours max delay <= {poll_seconds + 1} s",
        "s until all polled ours / baseline",
    )
    return markdown_table(headers, table)


def main() -> None:
    parser = argument_parser(__doc__.strip().splitlines()[0])
    parser.add_argument("--counts", help="comma-separated numbers of triggers (default 100,500,1000)")
    parser.add_argument("--poll-seconds", type=int, help="the triggers' waiter_delay (default 10; quick 4)")
    options = parser.parse_args()
    if options.worker:
        worker(options.worker, json.loads(options.worker_args))
        return
    counts = [int(count) for count in options.counts.split(",")] if options.counts else None
    counts = counts or list(QUICK_COUNTS if options.quick else COUNTS)
    poll_seconds = options.poll_seconds or (QUICK_POLL_SECONDS if options.quick else POLL_SECONDS)
    print(machine_description(), flush=True)
    rows = []
    with LocalAws(timings=JobTimings(pending_seconds=0, in_progress_seconds=0)) as aws:
        for count in counts:
            rows.append((count, measure(aws, count, poll_seconds)))
            print(report(rows[-1:], poll_seconds).splitlines()[-1], flush=True)
    print(f"\nPoll interval {poll_seconds} s.\n")
    print(report(rows, poll_seconds))


if __name__ == "__main__":
    main()
