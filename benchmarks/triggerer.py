"""
Triggerer benchmark: N deletion-job triggers in one event loop against the local emulator.

Ours: ``PersonalizeDataDeletionJobCompletedTrigger``, whose triggers share one aiobotocore client per
connection settings (opened off the event loop, with a pool of 100 connections). ``ours-pool10``: the
same with ``botocore_config={"max_pool_connections": 10}``, botocore's default pool, to measure what
the pool size does. ``ours-gc-frozen``: ours with ``[personalize_deletion] triggerer_gc_freeze`` on (the
first opening of a shared client calls ``gc.freeze()``), to measure what the garbage collector's pauses
over the imported modules cost and what the setting saves. Baseline: the same
trigger with ``AwsBaseWaiterTrigger.run`` (what every Amazon-provider trigger does): one client per
trigger, opened on the loop.

``herd`` and ``herd-unpaced`` (issue 23) start every trigger at once, as a mapped task's deferrals
reach a triggerer together: ``herd`` is ours as shipped (jittered pauses, the call rate limiter at
``--calls-per-second``), ``herd-unpaced`` the same trigger without either (no jitter, no limiter), the
baseline of that issue. Every variant of ours runs with ``[personalize_deletion]
triggerer_calls_per_second`` at ``--calls-per-second`` (R), the others without a bound.

Each (N, variant) runs in a fresh process. The jobs are held IN_PROGRESS; the other variants' triggers
start spread over one poll interval, as deferrals reach a real triggerer one by one. Once every
trigger has polled, the worker waits one poll interval, then measures over two poll intervals the
RSS growth per trigger (over the RSS after imports) and the DescribeDataDeletionJob calls per
minute; then it releases every job (they complete at once) and records, per job, the delay from its
release to its trigger's event. The emulator's process counts the DescribeDataDeletionJob calls it
receives every 50 ms throughout, and the worker records when each request leaves: the peaks are the
most in any second, sent (what the limiter bounds) and received (the emulator's threads, on a busy
machine, can take requests in clumps).

Throughout, from before the first trigger starts to the last event, it watches the event loop three
ways: a lag probe (a task sleeping 10 ms; its overshoot is how long the loop was held), Airflow's own
triggerer watchdog (``TriggerRunner.block_watchdog``, which warns when a 0.1 s sleep overshoots
``[triggerer] blocked_main_thread_warning_threshold``, 0.2 s by default: a block of about 0.1 s), and
the full (generation 2) garbage collections, whose pauses hold the loop whatever code triggered them;
a lag that overlaps none is reported apart.

Targets: fewer bytes per trigger than the baseline; no delay above one poll interval plus one second;
no lag above 0.1 s and no blocked-loop warning; for ``herd``, no more calls in a second than R.

Run: ``.venv/bin/python benchmarks/triggerer.py [--quick] [--counts 100,500] [--poll-seconds 10]
[--variants baseline,ours,ours-pool10] [--latency-ms 0] [--calls-per-second 150]``; issue 23's run:
``--counts 500,1000 --variants herd-unpaced,herd --latency-ms 50``
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import random
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from _common import (
    RESULT_MARKER,
    argument_parser,
    create_held_jobs,
    current_rss_bytes,
    emit_result,
    machine_description,
    markdown_table,
    ratio,
    run_worker,
)
from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger

from airflow_provider_personalize_deletion.emulator import EmulatorClient, JobTimings, LocalAws
from airflow_provider_personalize_deletion.triggers.call_rate import CALLS_PER_SECOND_SETTING
from airflow_provider_personalize_deletion.triggers.personalize import (
    PersonalizeDataDeletionJobCompletedTrigger,
)

COUNTS = (100, 500, 1000)
QUICK_COUNTS = (50, 200)
POLL_SECONDS = 10
QUICK_POLL_SECONDS = 4
VARIANTS = ("baseline", "ours", "ours-pool10", "ours-gc-frozen", "herd-unpaced", "herd")
#: R of the variants of ours: enough for 1000 triggers polling every 10 s (111 calls/s with the jitter).
CALLS_PER_SECOND = 150
CALLS_PER_SECOND_ENV = "AIRFLOW__{}__{}".format(*(part.upper() for part in CALLS_PER_SECOND_SETTING))
#: How often the emulator's process counts the calls it received.
CALL_SAMPLE_SECONDS = 0.05
WAITER_LOGGER = "airflow.providers.amazon.aws.utils.waiter_with_logging"
LAG_PROBE_SECONDS = 0.01
READY = "RELEASER-READY"
BLOCK_TARGET_SECONDS = 0.1
#: A lag or step counts as this process's own when the process was on the CPU this share of it.
RUNNING = 0.5


class OneClientPerTriggerBaseline(PersonalizeDataDeletionJobCompletedTrigger):
    """The deletion-job trigger as the Amazon provider runs its triggers: one aiobotocore client each."""

    run = AwsBaseWaiterTrigger.run


class UnpacedTrigger(PersonalizeDataDeletionJobCompletedTrigger):
    """Ours without jitter (the first poll at once, then exactly ``waiter_delay``); run with no limiter."""

    poll_jitter = 0.0


#: Per variant: the trigger class and the extra arguments of each trigger.
TRIGGERS: dict[str, tuple[type, dict[str, Any]]] = {
    "baseline": (OneClientPerTriggerBaseline, {}),
    "ours": (PersonalizeDataDeletionJobCompletedTrigger, {}),
    "ours-pool10": (
        PersonalizeDataDeletionJobCompletedTrigger,
        {"botocore_config": {"max_pool_connections": 10}},
    ),
    "ours-gc-frozen": (PersonalizeDataDeletionJobCompletedTrigger, {}),
    "herd-unpaced": (UnpacedTrigger, {}),
    "herd": (PersonalizeDataDeletionJobCompletedTrigger, {}),
}
#: Variants whose triggers all start at once (the others start spread over one poll interval).
TOGETHER = frozenset({"herd-unpaced", "herd"})
#: Variants of ours run with the call rate limiter at R (the others with none).
LIMITED = frozenset({"ours", "ours-pool10", "ours-gc-frozen", "herd"})
#: Variants run with ``[personalize_deletion] triggerer_gc_freeze`` on: the first opening of a shared
#: client freezes the objects alive then, so full collections skip them (as Airflow's DAG processor's).
GC_FROZEN = frozenset({"ours-gc-frozen"})


@dataclass
class LoopWatch:
    """
    What held the event loop: the lag probe's samples, Airflow's watchdog warnings, full collections,
    and the steps (callbacks: a task running until its next ``await``) that took longest.

    Each lag and step also records the share of its wall time this process spent on the CPU (all its
    threads): well under 1, the process was waiting for a core that other processes held (the
    machine is shared), not running anything of its own.

    :param lags: ``(woke_at, lag, cpu_share)`` per probe wake-up (monotonic seconds).
    :param warnings: the seconds each warning of the triggerer's watchdog says the loop was blocked.
    :param collections: ``(started_at, seconds)`` per generation-2 garbage collection.
    :param steps: ``(started_at, seconds, cpu_share, what)`` of each step of the loop over 20 ms.
    """

    lags: list[tuple[float, float, float]] = field(default_factory=list)
    warnings: list[float] = field(default_factory=list)
    collections: list[tuple[float, float]] = field(default_factory=list)
    steps: list[tuple[float, float, float, str]] = field(default_factory=list)
    _collection_started: float = 0.0

    async def probe(self) -> None:
        """Sleep 10 ms at a time and record by how much each sleep overran."""
        while True:
            asleep, cpu = time.monotonic(), time.process_time()
            await asyncio.sleep(LAG_PROBE_SECONDS)
            woke, used = time.monotonic(), time.process_time() - cpu
            self.lags.append((woke, woke - asleep - LAG_PROBE_SECONDS, used / (woke - asleep)))

    async def ainfo(self, message: str, time_elapsed: float, *args: Any) -> None:
        """Stands in for the triggerer's logger: its watchdog's only call is this warning."""
        self.warnings.append(time_elapsed)

    def on_collection(self, phase: str, info: dict[str, Any]) -> None:
        """``gc.callbacks`` entry: time the full collections."""
        if info["generation"] != 2:
            return
        if phase == "start":
            self._collection_started = time.monotonic()
        else:
            self.collections.append((self._collection_started, time.monotonic() - self._collection_started))

    def time_steps(self) -> None:
        """Time every step the loop runs (``Handle._run``, benchmark only) and keep those over 20 ms."""
        run = asyncio.events.Handle._run

        def timed_run(handle: asyncio.events.Handle) -> None:
            started, cpu = time.monotonic(), time.process_time()
            run(handle)
            if (seconds := time.monotonic() - started) > 0.02:
                share = (time.process_time() - cpu) / seconds
                self.steps.append((started, seconds, share, describe_step(handle)))

        asyncio.events.Handle._run = timed_run  # type: ignore[method-assign,assignment]

    def figures(self) -> dict[str, Any]:
        """
        The longest lag and step: overall, outside full collections, and outside them while this process
        ran at least half the time; the watchdog's warnings and the collections.
        """

        def during_collection(begin: float, end: float) -> bool:
            return any(start < end and start + seconds > begin for start, seconds in self.collections)

        lags = [lag for _, lag, _ in self.lags]
        outside = [
            (lag, share)
            for woke, lag, share in self.lags
            if not during_collection(woke - lag - LAG_PROBE_SECONDS, woke)
        ]
        steps = [(seconds, share, what) for started, seconds, share, what in self.steps
                 if not during_collection(started, started + seconds)]  # fmt: skip
        longest = max(steps, default=(0.0, 0.0, "none"))
        longest_running = max((step for step in steps if step[1] >= RUNNING), default=(0.0, 0.0, "none"))
        return {
            "step_max": max((step[1] for step in self.steps), default=0.0),
            "step_max_outside_collections": longest[0],
            "step_max_outside_collections_what": f"{longest[2]} ({longest[1]:.0%} on the CPU)",
            "step_max_running": longest_running[0],
            "step_max_running_what": longest_running[2],
            "lag_max": max(lags),
            "lag_p99": statistics.quantiles(lags, n=100)[-1],
            "lags_over_target": sum(lag > BLOCK_TARGET_SECONDS for lag in lags),
            "lag_max_outside_collections": max(lag for lag, _ in outside),
            "lag_max_running": max((lag for lag, share in outside if share >= RUNNING), default=0.0),
            "blocked_warnings": len(self.warnings),
            "blocked_warning_max": max(self.warnings, default=0.0),
            "full_collections": len(self.collections),
            "full_collection_max": max((seconds for _, seconds in self.collections), default=0.0),
        }


def describe_step(handle: asyncio.events.Handle) -> str:
    """
    Name a step: the callback, or for a task's step the coroutine and where its await chain now waits.

    :param handle: the loop's handle of the step, after it ran.
    """
    task = getattr(getattr(handle, "_callback", None), "__self__", None)
    if not isinstance(task, asyncio.Task):
        return repr(handle)[:160]
    awaiting: Any = task.get_coro()
    where = ""
    while awaiting is not None and getattr(awaiting, "cr_frame", None) is not None:
        frame = awaiting.cr_frame
        where = f"{frame.f_code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno} {frame.f_code.co_name}"
        awaiting = getattr(awaiting, "cr_await", None)
    name = getattr(task.get_coro(), "__qualname__", task.get_name())
    return f"task {name}, now waiting at {where or 'its end'}"


async def watch_loop(watch: LoopWatch) -> list[asyncio.Task]:
    """
    Start the lag probe and the triggerer's own watchdog, and time the full collections and the steps.

    :param watch: where to record.
    :return: the two tasks, to cancel at the end.
    """
    from airflow.jobs.triggerer_job_runner import TriggerRunner

    runner = TriggerRunner()
    runner.log = watch  # type: ignore[assignment]  # its watchdog warns through runner.log.ainfo
    gc.callbacks.append(watch.on_collection)
    watch.time_steps()
    return [asyncio.create_task(watch.probe()), asyncio.create_task(runner.block_watchdog())]


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


def releaser(args: dict[str, Any]) -> None:
    """
    The releasing process: say ``ready``, read the job names from stdin, release them, print the times.

    A process of its own, started before the measurement: a thread of the measured worker would
    compete with its event loop for the GIL. ``time.monotonic`` is the system-wide clock on Linux, so
    the worker can compare the times.

    :param args: ``endpoint_url``, the emulator.
    """
    print(READY, flush=True)
    job_names = json.loads(sys.stdin.readline())
    print(
        RESULT_MARKER + json.dumps(release_all(EmulatorClient(args["endpoint_url"]), job_names)), flush=True
    )


async def start_releaser(endpoint_url: str) -> asyncio.subprocess.Process:
    """
    Start :func:`releaser` in its own process and wait until it is ready.

    :param endpoint_url: the emulator.
    """
    arguments = ["--worker", "release", "--worker-args", json.dumps({"endpoint_url": endpoint_url})]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        *arguments,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=2**22,
    )
    await _line_starting(process, READY)
    return process


async def _line_starting(process: asyncio.subprocess.Process, prefix: str) -> str:
    """The rest of the first output line of the process that starts with ``prefix`` (logs come first)."""
    assert process.stdout is not None
    while line := (await process.stdout.readline()).decode():
        if line.startswith(prefix):
            return line[len(prefix) :]
    raise RuntimeError(f"the releasing process ended without printing {prefix!r}")


async def release_in(process: asyncio.subprocess.Process, job_names: list[str]) -> dict[str, float]:
    """
    Have the releasing process release the jobs; return when each was released.

    :param process: from :func:`start_releaser`.
    :param job_names: the jobs.
    """
    assert process.stdin is not None
    process.stdin.write(json.dumps(job_names).encode() + b"\n")
    await process.stdin.drain()
    released = json.loads(await _line_starting(process, RESULT_MARKER))
    await process.wait()
    return released


async def run_triggers(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """
    Run N triggers of one variant in this process's event loop and measure them.

    :param name: the variant, a key of :data:`TRIGGERS`.
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
    trigger_class, trigger_args = TRIGGERS[name]
    load_at_start = os.getloadavg()[0]

    async def run_one(arn: str, job_name: str, start_after: float) -> None:
        await asyncio.sleep(start_after)
        trigger = trigger_class(
            data_deletion_job_arn=arn, waiter_delay=poll, waiter_max_attempts=10_000, **trigger_args
        )
        async for event in trigger.run():
            if event.payload["status"] != "success":
                raise RuntimeError(f"trigger of {job_name} fired {event.payload}")
            fired[job_name] = time.monotonic()

    releasing = await start_releaser(args["endpoint_url"])
    watch = LoopWatch()
    watchers = await watch_loop(watch)
    await asyncio.sleep(0.5)  # the probes settle before the first trigger
    started = time.monotonic()
    tasks = [
        asyncio.create_task(run_one(arn, job, 0 if name in TOGETHER else poll * index / len(jobs)))
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
    released = await release_in(releasing, list(jobs))
    await asyncio.gather(*tasks)
    for watcher in watchers:
        watcher.cancel()
    delays = [fired[job] - released[job] for job in jobs]
    return {
        **watch.figures(),
        "load_at_start": load_at_start,
        "load_at_end": os.getloadavg()[0],
        "seconds_until_all_polling": all_polling,
        "rss_before_bytes": rss_before,
        "rss_steady_bytes": rss_steady,
        "describe_calls_per_minute": calls * 60 / window,
        "delay_median": statistics.median(delays),
        "delay_p95": statistics.quantiles(delays, n=20)[-1],
        "delay_max": max(delays),
        "late": sum(delay > poll + 1 for delay in delays),
    }


def worker(name: str, args: dict[str, Any]) -> None:
    """
    Measure one variant in this fresh process and emit its figures.

    :param name: the variant, a key of :data:`TRIGGERS`.
    :param args: see :func:`run_triggers`.
    """
    # Loaded by the triggers' first client; imported here so the RSS floor holds them, in every variant.
    import aiobotocore.session  # noqa: F401
    import aiohttp  # noqa: F401
    import airflow.jobs.triggerer_job_runner
    import airflow.providers.amazon.aws.utils.waiter_with_logging  # noqa: F401

    if name in GC_FROZEN:
        os.environ["AIRFLOW__PERSONALIZE_DELETION__TRIGGERER_GC_FREEZE"] = "True"

    sent = record_sends()
    result = asyncio.run(run_triggers(name, args))
    emit_result(result | {"peak_sent_per_second": most_in_one_second(sent)})


def record_sends() -> list[float]:
    """Record when each HTTP request of an aiobotocore client leaves (benchmark only); return the list."""
    from aiobotocore.endpoint import AioEndpoint

    sent: list[float] = []
    send = AioEndpoint._send

    async def timed_send(endpoint: AioEndpoint, request: Any) -> Any:
        sent.append(time.monotonic())
        return await send(endpoint, request)

    AioEndpoint._send = timed_send  # type: ignore[method-assign]
    return sent


def most_in_one_second(times: list[float]) -> int:
    """:param times: increasing times in seconds; return the most of them within one second."""
    most, start = 0, 0
    for end, time_ in enumerate(times):
        while time_ - times[start] > 1:
            start += 1
        most = max(most, end - start + 1)
    return most


def measure(
    aws: LocalAws, count: int, poll_seconds: int, variants: list[str], latency: float, calls_per_second: float
) -> dict[str, dict[str, Any]]:
    """
    Run the variants with ``count`` triggers, each in a fresh process, on fresh jobs.

    :param aws: the running emulator.
    :param count: the number of triggers.
    :param poll_seconds: the triggers' ``waiter_delay``.
    :param variants: keys of :data:`TRIGGERS`.
    :param latency: seconds the emulator adds to every Personalize response.
    :param calls_per_second: R of the variants in :data:`LIMITED`.
    """
    results = {}
    for variant in variants:
        aws.client.reset()
        create_held_jobs(
            aws, count, lambda index: aws.client.create_dataset_group(f"shop-{index}", user_ids=["u1"])
        )
        aws.client.set_latency(latency)
        args = {"endpoint_url": aws.endpoint_url, "poll_seconds": poll_seconds}
        env = {
            "AIRFLOW_CONN_AWS_DEFAULT": aws.airflow_conn_uri(),
            CALLS_PER_SECOND_ENV: str(calls_per_second if variant in LIMITED else 0),
        }
        with CallCounter(aws) as counter:
            results[variant] = run_worker(__file__, variant, args, env)
        results[variant]["peak_calls_per_second"] = counter.peak_per_second()
    aws.client.reset()
    return results


class CallCounter:
    """
    Counts, in the emulator's process, the DescribeDataDeletionJob calls it has received, every 50 ms.

    :param aws: the running emulator.
    """

    def __init__(self, aws: LocalAws) -> None:
        self._emulator = aws.emulator
        self._samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="call-counter", daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(CALL_SAMPLE_SECONDS):
            with self._emulator.state.lock:
                self._samples.append(
                    (time.monotonic(), self._emulator.faults.calls("DescribeDataDeletionJob"))
                )

    def __enter__(self) -> CallCounter:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak_per_second(self) -> int:
        """
        The most calls received between two samples at most one second apart.

        By the samples' own times, not their number: on a loaded machine a sample can come late.
        """
        peak, end = 0, 0
        for start, (started, count) in enumerate(self._samples):
            end = max(end, start)
            while end + 1 < len(self._samples) and self._samples[end + 1][0] - started <= 1:
                end += 1
            peak = max(peak, self._samples[end][1] - count)
        return peak


def report(
    rows: list[tuple[int, dict[str, dict[str, Any]]]], poll_seconds: int, calls_per_second: float
) -> str:
    """
    Format the figures of every variant, then the targets (ours against the baseline), as Markdown.

    :param rows: ``(count, {variant: result})`` per measurement.
    :param poll_seconds: the poll interval, for the delay target.
    :param calls_per_second: R, for the herd's target.
    """
    figures, targets, herd_targets = [], [], []
    for count, results in rows:
        per_trigger = {
            variant: (result["rss_steady_bytes"] - result["rss_before_bytes"]) / count
            for variant, result in results.items()
        }
        for variant, result in results.items():
            figures.append(
                (
                    count,
                    variant,
                    f"{result['load_at_start']:.1f} / {result['load_at_end']:.1f}",
                    f"{per_trigger[variant] / 1024:,.0f}",
                    f"{result['describe_calls_per_minute']:,.0f}",
                    f"{result['peak_sent_per_second']:,} / {result['peak_calls_per_second']:,}",
                    f"{result['delay_median']:.2f} / {result['delay_p95']:.2f} / {result['delay_max']:.2f}",
                    result["late"],
                    f"{result['seconds_until_all_polling']:.1f}",
                    f"{result['step_max'] * 1000:,.0f} / {result['step_max_outside_collections'] * 1000:,.0f}"
                    f" / {result['step_max_running'] * 1000:,.0f}",
                    f"{result['lag_max'] * 1000:,.0f} / {result['lag_p99'] * 1000:,.0f}",
                    f"{result['lag_max_outside_collections'] * 1000:,.0f} / "
                    f"{result['lag_max_running'] * 1000:,.0f}",
                    result["lags_over_target"],
                    f"{result['blocked_warnings']} ({result['blocked_warning_max']:.2f} s)",
                    f"{result['full_collections']} ({result['full_collection_max'] * 1000:,.0f} ms)",
                )
            )
        if "herd" in results:
            herd, unpaced = results["herd"], results.get("herd-unpaced")
            herd_targets.append(
                (
                    count,
                    met(herd["lag_max"] * 1000, BLOCK_TARGET_SECONDS * 1000, "ms")
                    + (f" (unpaced {unpaced['lag_max'] * 1000:,.0f} ms)" if unpaced else ""),
                    met(herd["lag_max_outside_collections"] * 1000, BLOCK_TARGET_SECONDS * 1000, "ms")
                    + (
                        f" (unpaced {unpaced['lag_max_outside_collections'] * 1000:,.0f} ms)"
                        if unpaced
                        else ""
                    ),
                    f"{herd['late']}: {'met' if herd['late'] == 0 else 'missed'}"
                    + (f" (unpaced {unpaced['late']})" if unpaced else ""),
                    met(herd["peak_sent_per_second"], calls_per_second, "calls")
                    + f" sent, {herd['peak_calls_per_second']:,} received"
                    + (f" (unpaced {unpaced['peak_sent_per_second']:,} sent)" if unpaced else ""),
                )
            )
        if "ours" in results:
            ours = results["ours"]
            base = per_trigger.get("baseline")
            targets.append(
                (
                    count,
                    ratio(per_trigger["ours"], base) if base else "n/a",
                    met(ours["delay_max"], poll_seconds + 1, "s"),
                    met(ours["step_max_running"] * 1000, BLOCK_TARGET_SECONDS * 1000, "ms"),
                    met(ours["lag_max_running"] * 1000, BLOCK_TARGET_SECONDS * 1000, "ms"),
                    met(ours["lag_max"] * 1000, BLOCK_TARGET_SECONDS * 1000, "ms"),
                    f"{ours['blocked_warnings']}",
                )
            )
    figure_headers = (
        "triggers",
        "variant",
        "load avg start / end",
        "KiB per trigger",
        "Describe calls/min",
        "peak calls in 1 s (sent / received)",
        "firing delay s (median / p95 / max)",
        f"late (> {poll_seconds + 1} s)",
        "s until all polled",
        "longest step ms (all / outside full GCs / and process running)",
        "loop lag ms (max / p99)",
        "max lag outside full GCs ms (all / process running)",
        "lags > 100 ms",
        "triggerer blocked warnings (longest)",
        "full GCs (longest)",
    )
    target_headers = (
        "triggers",
        "memory ratio ours / baseline",
        f"ours max firing delay <= {poll_seconds + 1} s",
        "ours longest step (outside full GCs, process running) <= 100 ms",
        "ours max lag (outside full GCs, process running) <= 100 ms",
        "ours max lag (all) <= 100 ms",
        "ours triggerer warnings",
    )
    herd_headers = (
        "triggers",
        "herd max lag <= 100 ms",
        "herd max lag outside full GCs <= 100 ms",
        f"herd late (> {poll_seconds + 1} s) = 0",
        f"herd peak calls in 1 s <= R = {calls_per_second:g}",
    )
    longest = [
        f"- {count} {variant}: {result['step_max_outside_collections_what']}; while running: "
        f"{result['step_max_running_what']}"
        for count, results in rows
        for variant, result in results.items()
    ]
    return (
        markdown_table(figure_headers, figures)
        + "\n\n"
        + (markdown_table(target_headers, targets) if targets else "")
        + ("\n\n" + markdown_table(herd_headers, herd_targets) if herd_targets else "")
        + "\n\nLongest step outside full collections:\n"
        + "\n".join(longest)
    )


def met(figure: float, target: float, unit: str) -> str:
    """
    ``"9.8 s: met"`` or ``"12.0 s: missed"``.

    :param figure: the measured figure.
    :param target: the most it may be.
    :param unit: its unit.
    """
    return f"{figure:,.{2 if unit == 's' else 0}f} {unit}: " + ("met" if figure <= target else "missed")


def main() -> None:
    parser = argument_parser(__doc__.strip().splitlines()[0])
    parser.add_argument("--counts", help="comma-separated numbers of triggers (default 100,500,1000)")
    parser.add_argument("--poll-seconds", type=int, help="the triggers' waiter_delay (default 10; quick 4)")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated, of " + ", ".join(VARIANTS)
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0, help="added to every emulator response (default 0)"
    )
    parser.add_argument(
        "--calls-per-second",
        type=float,
        default=CALLS_PER_SECOND,
        help=f"R, the call rate bound of the variants of ours (default {CALLS_PER_SECOND})",
    )
    options = parser.parse_args()
    if options.worker == "release":
        releaser(json.loads(options.worker_args))
        return
    if options.worker:
        worker(options.worker, json.loads(options.worker_args))
        return
    counts = [int(count) for count in options.counts.split(",")] if options.counts else None
    counts = counts or list(QUICK_COUNTS if options.quick else COUNTS)
    poll_seconds = options.poll_seconds or (QUICK_POLL_SECONDS if options.quick else POLL_SECONDS)
    variants = options.variants.split(",")
    print(machine_description(), flush=True)
    rows = []
    with LocalAws(timings=JobTimings(pending_seconds=0, in_progress_seconds=0)) as aws:
        for count in counts:
            rate = options.calls_per_second
            rows.append((count, measure(aws, count, poll_seconds, variants, options.latency_ms / 1000, rate)))
            print(report(rows[-1:], poll_seconds, rate), flush=True)
    print(
        f"\nPoll interval {poll_seconds} s; emulator latency added {options.latency_ms:g} ms; "
        f"R = {options.calls_per_second:g} calls/s for {', '.join(sorted(LIMITED))}.\n"
    )
    print(report(rows, poll_seconds, options.calls_per_second))


if __name__ == "__main__":
    main()
