"""The guard's pure part: activity kinds and in-progress statuses, overlap maths, and the listing plan."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_personalize_deletion.hooks.activity import (
    BATCH_JOBS_PER_VERSION_UP_TO,
    IN_PROGRESS_STATUSES,
    KINDS,
    Activity,
    activity_plan,
    in_progress,
    overlapping,
)

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
GROUP = "arn:aws:personalize:us-east-1:123456789012:dataset-group/shop"


def minutes(count: float) -> datetime:
    return T0 + timedelta(minutes=count)


def activity(
    start: float, end: float, status: str = "ACTIVE", kind: str = "solution_version", arn: str = "arn:x"
) -> Activity:
    return Activity(kind, arn, status, minutes(start), minutes(end))


# Kinds and statuses.


def test_every_kind_has_its_in_progress_statuses_and_so_do_deletion_jobs_which_imports_wait_for():
    assert set(IN_PROGRESS_STATUSES) == {*KINDS, "data_deletion_job"}


@pytest.mark.parametrize(
    ("kind", "busy", "done"),
    [
        ("dataset_import_job", ["CREATE PENDING", "CREATE IN_PROGRESS"], ["ACTIVE", "CREATE FAILED"]),
        ("solution_version", ["CREATE PENDING", "CREATE IN_PROGRESS"], ["ACTIVE", "CREATE STOPPED"]),
        ("recommender", ["CREATE PENDING", "CREATE IN_PROGRESS"], ["ACTIVE", "CREATE FAILED"]),
        ("batch_inference_job", ["PENDING", "IN PROGRESS"], ["ACTIVE", "CREATE FAILED"]),
        ("data_deletion_job", ["PENDING", "IN_PROGRESS"], ["COMPLETED", "FAILED"]),
        ("batch_segment_job", ["PENDING", "IN PROGRESS"], ["ACTIVE", "CREATE FAILED"]),
        ("auto_training_solution", [], ["ACTIVE", "CREATE IN_PROGRESS"]),
    ],
)
def test_in_progress_is_the_documented_statuses_of_each_kind(kind, busy, done):
    statuses = [*busy, *done]
    activities = [activity(0, 1, status, kind) for status in statuses]

    assert [item.status for item in in_progress(activities)] == busy


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind"):
        activity(0, 1, kind="campaign")


def test_naive_times_are_refused_and_aware_ones_kept_in_utc():
    paris = timezone(timedelta(hours=1))
    with pytest.raises(ValueError, match="created"):
        Activity("solution_version", "arn:x", "ACTIVE", datetime(2026, 1, 1), T0)

    item = Activity("solution_version", "arn:x", "ACTIVE", T0.astimezone(paris), T0.astimezone(paris))

    assert (item.created, item.created.utcoffset()) == (T0, timedelta(0))


def test_a_record_is_json_ready_and_round_trips():
    item = activity(0, 5, "CREATE IN_PROGRESS", arn="arn:aws:personalize:us-east-1:1:solution/s/1")

    record = item.as_record()

    assert record == {
        "kind": "solution_version",
        "arn": "arn:aws:personalize:us-east-1:1:solution/s/1",
        "status": "CREATE IN_PROGRESS",
        "created": "2026-11-30T12:00:00+00:00",
        "last_updated": "2026-11-30T12:05:00+00:00",
    }
    assert Activity.from_record(record) == item


# Overlap: the job's window is [10, 20].


@pytest.mark.parametrize(
    ("start", "end", "status", "overlaps"),
    [
        (0, 5, "ACTIVE", False),  # ended before the job
        (25, 30, "ACTIVE", False),  # started after the job
        (0, 10, "ACTIVE", True),  # ended as the job started: touching counts
        (20, 30, "ACTIVE", True),  # started as the job ended: touching counts
        (0, 9.99, "ACTIVE", False),
        (20.01, 30, "ACTIVE", False),
        (12, 15, "ACTIVE", True),  # inside
        (0, 30, "ACTIVE", True),  # around
        (5, 12, "CREATE FAILED", True),  # a failed one counts too
        (0, 5, "CREATE IN_PROGRESS", True),  # still running: its life has no end yet
        (25, 25, "CREATE IN_PROGRESS", False),  # running, but started after the job ended
        (20, 20, "CREATE PENDING", True),
    ],
)
def test_overlap_of_an_activity_with_the_job_window(start, end, status, overlaps):
    item = activity(start, end, status)

    assert overlapping([item], minutes(10), minutes(20), now=minutes(40)) == ([item] if overlaps else [])


def test_an_activity_in_progress_overlaps_a_window_ending_now():
    running = activity(0, 0, "IN PROGRESS", kind="batch_inference_job")

    assert overlapping([running], minutes(1), minutes(2), now=minutes(2)) == [running]


def test_a_solution_with_automatic_training_never_overlaps_by_itself():
    auto = activity(0, 30, kind="auto_training_solution")

    assert overlapping([auto], minutes(10), minutes(20), now=minutes(40)) == []


def test_overlapping_keeps_the_order_given_and_uses_the_clock_by_default():
    now = datetime.now(timezone.utc)
    running = Activity("recommender", "arn:r", "CREATE IN_PROGRESS", now - timedelta(hours=2), now)
    done = Activity(
        "dataset_import_job", "arn:i", "ACTIVE", now - timedelta(hours=3), now - timedelta(hours=1)
    )

    found = overlapping([running, done], now - timedelta(minutes=90), now - timedelta(minutes=80))

    assert found == [running, done]


def test_overlapping_refuses_a_naive_window():
    with pytest.raises(ValueError, match="aware"):
        overlapping([], datetime(2026, 1, 1), T0)


# The listing plan, driven with canned answers (no I/O).


def summary(arn: str, status: str = "ACTIVE", **members) -> dict:
    return {"status": status, "creationDateTime": T0, "lastUpdatedDateTime": T0, **members, "_arn": arn}


def run_plan(answers) -> tuple[list[Activity], list[list[tuple[str, dict]]]]:
    """Drive the plan; ``answers(operation, params)`` returns the items of a call."""
    plan = activity_plan(GROUP)
    levels: list[list[tuple[str, dict]]] = []
    try:
        requests = next(plan)
        while True:
            levels.append([(request.call.operation, request.params) for request in requests])
            results = []
            for request in requests:
                items = answers(request.call.operation, request.params)
                results.append([{request.call.arn_member: item.pop("_arn"), **item} for item in items])
            requests = plan.send(results)
    except StopIteration as done:
        return done.value, levels


def test_the_plan_walks_the_group_level_by_level():
    versions = {"sol-1": [summary("v-1"), summary("v-2", "CREATE IN_PROGRESS")]}

    def answers(operation, params):
        return {
            "ListDatasets": [summary("ds-1")],
            "ListSolutions": [summary("sol-1"), summary("sol-2", "CREATE FAILED")],
            "DescribeSolution": [summary("sol-1", performAutoTraining=True)],
            "ListSolutionVersions": versions.get(params.get("solutionArn"), []),
        }.get(operation, [])

    activities, levels = run_plan(answers)

    assert levels == [
        [
            ("ListDatasets", {"datasetGroupArn": GROUP}),
            ("ListSolutions", {"datasetGroupArn": GROUP}),
            ("ListRecommenders", {"datasetGroupArn": GROUP}),
        ],
        [
            ("ListDatasetImportJobs", {"datasetArn": "ds-1"}),
            ("DescribeSolution", {"solutionArn": "sol-1"}),  # not the failed solution: it cannot train
            ("ListSolutionVersions", {"solutionArn": "sol-1"}),
            ("ListSolutionVersions", {"solutionArn": "sol-2"}),
        ],
        [  # batch jobs only of the ACTIVE version
            ("ListBatchInferenceJobs", {"solutionVersionArn": "v-1"}),
            ("ListBatchSegmentJobs", {"solutionVersionArn": "v-1"}),
        ],
    ]
    assert sorted((item.kind, item.arn) for item in activities) == [
        ("auto_training_solution", "sol-1"),
        ("solution_version", "v-1"),
        ("solution_version", "v-2"),
    ]


def test_a_solution_without_automatic_training_is_no_activity():
    def answers(operation, params):
        return {
            "ListSolutions": [summary("sol-1")],
            "DescribeSolution": [summary("sol-1", performAutoTraining=False)],
        }.get(operation, [])

    activities, _ = run_plan(answers)

    assert activities == []


@pytest.mark.parametrize(
    ("active_versions", "account_wide"),
    [(BATCH_JOBS_PER_VERSION_UP_TO, False), (BATCH_JOBS_PER_VERSION_UP_TO + 1, True)],
)
def test_batch_jobs_are_listed_account_wide_above_the_bound_and_filtered(active_versions, account_wide):
    version_arns = [f"v-{number}" for number in range(active_versions)]
    account_jobs = [
        summary("job-mine", solutionVersionArn=version_arns[0]),
        summary("job-of-another-group", solutionVersionArn="v-elsewhere"),
    ]

    def answers(operation, params):
        if operation == "ListSolutions":
            return [summary("sol-1")]
        if operation == "ListSolutionVersions":
            return [summary(arn) for arn in version_arns]
        if operation == "ListBatchInferenceJobs":
            wanted = params.get("solutionVersionArn")
            return [dict(job) for job in account_jobs if wanted in (None, job["solutionVersionArn"])]
        return []

    activities, levels = run_plan(answers)

    batch_calls = [params for operation, params in levels[-1] if operation == "ListBatchInferenceJobs"]
    assert batch_calls == ([{}] if account_wide else [{"solutionVersionArn": arn} for arn in version_arns])
    assert [item.arn for item in activities if item.kind == "batch_inference_job"] == ["job-mine"]


def test_the_activity_is_returned_oldest_first():
    def answers(operation, params):
        if operation == "ListRecommenders":
            return [
                {**summary("rec-new"), "creationDateTime": minutes(5)},
                {**summary("rec-old"), "creationDateTime": minutes(1)},
            ]
        return []

    activities, _ = run_plan(answers)

    assert [item.arn for item in activities] == ["rec-old", "rec-new"]
