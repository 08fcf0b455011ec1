"""
Call-rate benchmark: Describe and List calls per minute per 1000 waiting tasks, measured on the emulator.

Two kinds of waiting, each in the triggerer: a data deletion job waiting to end
(``PersonalizeDataDeletionJobCompletedTrigger``, one DescribeDataDeletionJob per poll, every 60 s by
default) and a create task waiting for its dataset group to be quiet (``PersonalizeDatasetGroupQuietTrigger``,
one activity listing per poll, every 300 s by default: the erasure guard's List calls). A listing is
also made once before each job is created, once when the sensor checks the overlap of a COMPLETED
job, and once per group when the run is recorded.

Every dataset group is the same "representative" group: 3 datasets with an import job each, 2 solutions
(one with automatic training) with 2 ACTIVE solution versions each, a batch inference and a batch
segment job on the first version, and a recommender; a group waited on for quiet also has a training
in progress (a third version held CREATE IN_PROGRESS). One listing of it is ``1 + D + 1 + S' + S + B
+ 1`` = 1 + 3 + 1 + 2 + 2 + 8 + 1 = 18 calls (see ``hooks/activity.py``).

The worker (a fresh process, the emulator in this one) lists one group once with the synchronous hook
and counts the calls by operation; then it runs the two kinds of triggers at once, each poll interval
a tenth of its default (the calls per poll do not depend on it), starts spread over one interval,
waits one quiet interval, and counts each operation's calls over two quiet intervals. The report
scales the rates to the default intervals and to 1000 waiting tasks of each kind, and compares the
busiest operation with a rate limit given on the command line (Amazon Personalize publishes no
default request rate for these operations; see ``RESULTS.md``).

Run: ``.venv/bin/python benchmarks/call_rates.py [--quick] [--jobs 200] [--quiet-waits 50]
[--limit-per-second 10]``
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

from _common import (
    JOBS_PER_GROUP,
    ROLE_ARN,
    argument_parser,
    aws_client,
    create_held_jobs,
    emit_result,
    machine_description,
    markdown_table,
    run_worker,
)

from airflow_provider_personalize_deletion.emulator import EmulatorClient, JobTimings, LocalAws
from airflow_provider_personalize_deletion.hooks.activity import ACTIVITY_LISTING, ListCall
from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
from airflow_provider_personalize_deletion.triggers.personalize import (
    DEFAULT_QUIET_POLL_INTERVAL,
    DEFAULT_WAITER_DELAY,
    PersonalizeDataDeletionJobCompletedTrigger,
    PersonalizeDatasetGroupQuietTrigger,
)

JOBS, QUIET_WAITS = 200, 50
QUICK_JOBS, QUICK_QUIET_WAITS = 40, 10
#: The benchmark polls this many times faster than the defaults.
SPEED_UP = 10
PER_THOUSAND = 1000
SCHEMA_ARN = "arn:aws:personalize:us-east-1:123456789012:schema/interactions"
RECIPE_ARN = "arn:aws:personalize:::recipe/aws-user-personalization-v2"
BATCH_IO = {
    "jobInput": {"s3DataSource": {"path": "s3://batch/in.json"}},
    "jobOutput": {"s3DataDestination": {"path": "s3://batch/out/"}},
    "roleArn": ROLE_ARN,
}
DESCRIBE_JOB = "DescribeDataDeletionJob"


def guard_operations(calls: tuple[ListCall, ...] = ACTIVITY_LISTING) -> list[str]:
    """
    Every operation an activity listing may call, from the listing's own description.

    :param calls: the level of :data:`~.activity.ACTIVITY_LISTING` to walk.
    """
    names: list[str] = []
    for call in calls:
        names += [call.operation, *guard_operations(call.children)]
    return list(dict.fromkeys(names))


def build_group(aws: LocalAws, personalize: Any, name: str, training: bool) -> str:
    """
    Create a representative dataset group (see the module's docstring) through the API.

    :param aws: the emulator.
    :param personalize: a boto3 Personalize client of the emulator.
    :param name: the group's name.
    :param training: also hold a training in progress (the group is not quiet).
    :return: the group's ARN.
    """
    group = aws.client.create_dataset_group(name, user_ids=["u1"])
    for dataset_type in ("Interactions", "Users", "Items"):
        dataset = personalize.create_dataset(
            name=f"{name}-{dataset_type}",
            schemaArn=SCHEMA_ARN,
            datasetGroupArn=group,
            datasetType=dataset_type,
        )["datasetArn"]
        personalize.create_dataset_import_job(
            jobName=f"{name}-{dataset_type}-import",
            datasetArn=dataset,
            dataSource={"dataLocation": "s3://data/x.csv"},
            roleArn=ROLE_ARN,
        )
    solutions = [
        personalize.create_solution(
            name=f"{name}-solution-{index}", datasetGroupArn=group, performAutoTraining=index == 0
        )["solutionArn"]
        for index in range(2)
    ]
    versions = []
    for solution in solutions:
        for _ in range(2):
            version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
            personalize.describe_solution_version(solutionVersionArn=version)  # trained: ACTIVE
            versions.append(version)
    personalize.create_batch_inference_job(
        jobName=f"{name}-infer", solutionVersionArn=versions[0], **BATCH_IO
    )
    personalize.create_batch_segment_job(
        jobName=f"{name}-segment", solutionVersionArn=versions[0], **BATCH_IO
    )
    personalize.create_recommender(name=f"{name}-recommender", datasetGroupArn=group, recipeArn=RECIPE_ARN)
    if training:
        aws.client.hold(f"{name}-training", "CREATE IN_PROGRESS")
        personalize.create_solution_version(solutionArn=solutions[0], name=f"{name}-training")
    return group


def build_world(aws: LocalAws, jobs: int, quiet_waits: int) -> dict[str, Any]:
    """
    Create the groups, the held data deletion jobs, and the groups waited on for quiet.

    :param aws: the emulator, reset.
    :param jobs: data deletion jobs to hold IN_PROGRESS.
    :param quiet_waits: quiet waits (on ``quiet_waits / 5`` busy groups, 5 waits each).
    :return: the worker's arguments (besides the emulator's address and the intervals).
    """
    personalize = aws_client(aws, "personalize")
    job_arns = create_held_jobs(
        aws, jobs, lambda index: build_group(aws, personalize, f"shop-{index}", training=False)
    )
    busy = [
        build_group(aws, personalize, f"busy-{index}", training=True)
        for index in range(max(1, quiet_waits // JOBS_PER_GROUP))
    ]
    return {"job_arns": job_arns, "quiet_groups": [busy[index % len(busy)] for index in range(quiet_waits)]}


async def count_calls(emulator: EmulatorClient, operations: list[str]) -> Counter[str]:
    """:param operations: the operations to count; their calls so far, by operation."""
    return Counter({name: await asyncio.to_thread(emulator.calls, name) for name in operations})


async def measure(args: dict[str, Any]) -> dict[str, Any]:
    """
    List one group once, then run both kinds of triggers and count the calls of each operation.

    :param args: ``endpoint_url``, ``job_arns``, ``quiet_groups``, ``job_delay``, ``quiet_delay``.
    """
    emulator = EmulatorClient(args["endpoint_url"])
    operations = [DESCRIBE_JOB, *guard_operations()]
    before = await count_calls(emulator, operations)
    hook = PersonalizeHook()
    await asyncio.to_thread(hook.list_dataset_group_activity, args["quiet_groups"][0])
    one_listing = await count_calls(emulator, operations) - before

    job_delay, quiet_delay = args["job_delay"], args["quiet_delay"]

    async def wait(trigger: Any, start_after: float) -> None:
        await asyncio.sleep(start_after)
        async for event in trigger.run():
            raise RuntimeError(f"a trigger fired while every wait was held: {event.payload}")

    jobs, groups = args["job_arns"], args["quiet_groups"]
    tasks = [
        asyncio.create_task(wait(trigger, delay * index / count))
        for triggers, delay in (
            (
                [
                    PersonalizeDataDeletionJobCompletedTrigger(
                        data_deletion_job_arn=arn, waiter_delay=job_delay, waiter_max_attempts=10_000
                    )
                    for arn in jobs
                ],
                job_delay,
            ),
            (
                [
                    PersonalizeDatasetGroupQuietTrigger(
                        dataset_group_arn=group, waiter_delay=quiet_delay, waiter_max_attempts=10_000
                    )
                    for group in groups
                ],
                quiet_delay,
            ),
        )
        for count in [len(triggers)]
        for index, trigger in enumerate(triggers)
    ]
    await asyncio.sleep(2 * quiet_delay)  # every trigger has started and polled at least once
    before = await count_calls(emulator, operations)
    started = time.monotonic()
    await asyncio.sleep(2 * quiet_delay)
    counted = await count_calls(emulator, operations) - before
    minutes = (time.monotonic() - started) / 60
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "one_listing": dict(one_listing),
        "per_minute": {name: counted[name] / minutes for name in operations},
        "minutes": minutes,
    }


def worker(args: dict[str, Any]) -> None:
    """:param args: see :func:`measure`; emits its figures."""
    emit_result(asyncio.run(measure(args)))


def report(result: dict[str, Any], args: dict[str, Any], limit: float) -> str:
    """
    Scale the measured rates to the default poll intervals and 1000 waiting tasks of each kind.

    :param result: the worker's figures.
    :param args: the worker's arguments (the counts and the intervals it ran with).
    :param limit: the requests per second per operation to compare with.
    """
    jobs, quiet_waits = len(args["job_arns"]), len(args["quiet_groups"])
    job_scale = args["job_delay"] / DEFAULT_WAITER_DELAY * PER_THOUSAND / jobs
    quiet_scale = args["quiet_delay"] / DEFAULT_QUIET_POLL_INTERVAL * PER_THOUSAND / quiet_waits
    rows = []
    for name, measured in result["per_minute"].items():
        per_thousand = measured * (job_scale if name == DESCRIBE_JOB else quiet_scale)
        rows.append(
            (
                name,
                "job waiting to end" if name == DESCRIBE_JOB else "create waiting for quiet",
                result["one_listing"].get(name, 0),
                f"{measured:,.0f}",
                f"{per_thousand:,.0f}",
                f"{per_thousand / 60:,.1f}",
                f"{per_thousand / 60 / limit:.2f}",
            )
        )
    listing_calls = sum(result["one_listing"].values())
    waits = markdown_table(
        (
            "operation",
            "made by",
            "calls in one listing",
            f"calls/min measured ({jobs} jobs every {args['job_delay']} s, "
            f"{quiet_waits} quiet waits every {args['quiet_delay']} s)",
            "calls/min per 1000 waiting (default intervals)",
            "calls/s per 1000",
            f"share of {limit:g}/s",
        ),
        rows,
    )
    guard_total = sum(result["per_minute"][name] for name in result["one_listing"]) * quiet_scale
    describes = result["per_minute"][DESCRIBE_JOB] * job_scale
    return (
        f"{waits}\n\nOne listing: {listing_calls} calls. Per 1000 waiting jobs: {describes:,.0f} "
        f"DescribeDataDeletionJob calls/min; per 1000 quiet waits: {guard_total:,.0f} guard calls/min in "
        f"all. Besides, each job costs two one-off listings ({2 * listing_calls} calls: before its creation "
        "and at the sensor's overlap check) and each dataset group one more when the run is recorded."
    )


def main() -> None:
    parser = argument_parser(__doc__.strip().splitlines()[0])
    parser.add_argument("--jobs", type=int, help=f"data deletion jobs waiting (default {JOBS})")
    parser.add_argument(
        "--quiet-waits", type=int, help=f"create tasks waiting for quiet (default {QUIET_WAITS})"
    )
    parser.add_argument(
        "--limit-per-second", type=float, default=10, help="rate to compare with (default 10)"
    )
    options = parser.parse_args()
    if options.worker:
        worker(json.loads(options.worker_args))
        return
    jobs = options.jobs or (QUICK_JOBS if options.quick else JOBS)
    quiet_waits = options.quiet_waits or (QUICK_QUIET_WAITS if options.quick else QUIET_WAITS)
    print(machine_description(), flush=True)
    with LocalAws(timings=JobTimings(pending_seconds=0, in_progress_seconds=0)) as aws:
        args = {
            "endpoint_url": aws.endpoint_url,
            "job_delay": DEFAULT_WAITER_DELAY // SPEED_UP,
            "quiet_delay": DEFAULT_QUIET_POLL_INTERVAL // SPEED_UP,
            **build_world(aws, jobs, quiet_waits),
        }
        result = run_worker(__file__, "rates", args, {"AIRFLOW_CONN_AWS_DEFAULT": aws.airflow_conn_uri()})
    print(f"\nMeasured over {result['minutes']:.1f} min.\n")
    print(report(result, args, options.limit_per_second))


if __name__ == "__main__":
    main()
