"""PersonalizeHook's dataset group activity and dataset group selection, against the emulator over HTTP,
with boto3 and aiobotocore clients."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import boto3
import pytest

from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from airflow_provider_personalize_deletion.hooks.activity import (
    KINDS,
    Activity,
    in_progress,
    overlapping,
)
from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
from tests.core.conftest import ROLE_ARN, Stage

LIST_OPERATIONS = (
    "ListDatasets", "ListDatasetImportJobs", "ListSolutions", "ListSolutionVersions",
    "ListBatchInferenceJobs", "ListBatchSegmentJobs", "ListRecommenders",
)  # fmt: skip


@pytest.fixture(autouse=True)
def _hook_on_the_emulator(aws_conn):
    """Every hook of these tests talks to the emulator."""


async def async_activity(group: str) -> list[Activity]:
    hook = PersonalizeHook()
    async with await hook.get_async_conn() as client:
        return await hook.async_list_dataset_group_activity(client, group)


@pytest.fixture(params=["boto3", "aiobotocore"])
def list_activity(request):
    """The hook's listing, synchronous or asynchronous (the same plan, two clients)."""
    if request.param == "boto3":
        return lambda group: PersonalizeHook().list_dataset_group_activity(group)

    import asyncio

    return lambda group: asyncio.run(async_activity(group))


def kinds(activities: list[Activity]) -> Counter[str]:
    return Counter(activity.kind for activity in activities)


def test_an_unused_dataset_group_has_no_activity(list_activity, dataset_group):
    assert list_activity(dataset_group) == []


def test_every_kind_is_listed_with_its_arn_status_and_times(list_activity, stage):
    dataset = stage.dataset()
    imported = stage.import_job(dataset)
    auto = stage.solution(auto_training=True)
    stage.solution(auto_training=False)
    trained = stage.version(auto)
    stage.batch_jobs(trained)
    recommender = stage.recommender()
    stage.personalize.describe_recommender(recommenderArn=recommender)

    activities = list_activity(stage.group)

    assert set(kinds(activities)) == set(KINDS)
    assert sum(kinds(activities).values()) == len(KINDS)  # the manual solution is no activity
    by_kind = {activity.kind: activity for activity in activities}
    assert (by_kind["dataset_import_job"].arn, by_kind["solution_version"].arn) == (imported, trained)
    assert (by_kind["auto_training_solution"].arn, by_kind["recommender"].arn) == (auto, recommender)
    assert all(activity.status == "ACTIVE" and not activity.in_progress for activity in activities)
    assert all(activity.created.utcoffset() == timedelta(0) for activity in activities)
    assert activities == sorted(activities, key=lambda activity: activity.created)


def test_another_dataset_group_activity_is_not_listed(list_activity, stage, emulator, personalize):
    other = Stage(personalize, emulator.create_dataset_group("news"))
    other.import_job(other.dataset())
    solution = other.solution(auto_training=True)
    other.batch_jobs(other.version(solution))
    other.recommender()

    assert list_activity(stage.group) == []


def test_every_kind_is_read_across_pages(list_activity, stage, emulator):
    dataset = stage.dataset()
    for _ in range(3):
        stage.import_job(dataset)
    solutions = [stage.solution(auto_training=True) for _ in range(3)]
    versions = [stage.version(solutions[0]) for _ in range(3)]
    stage.batch_jobs(versions[0], count=3)
    for _ in range(3):
        stage.recommender()
    emulator.set_max_page_size(2)
    before = {operation: emulator.calls(operation) for operation in LIST_OPERATIONS}

    activities = list_activity(stage.group)

    assert kinds(activities) == {kind: 3 for kind in KINDS}
    pages = {operation: emulator.calls(operation) - before[operation] for operation in LIST_OPERATIONS}
    # Two pages each for the lists holding three items; one for the lists holding one or none.
    assert pages == {
        "ListDatasets": 1,
        "ListDatasetImportJobs": 2,
        "ListSolutions": 2,
        "ListSolutionVersions": 2 + 1 + 1,  # three versions of the first solution, none of the others
        "ListBatchInferenceJobs": 2 + 1 + 1,  # three jobs of the first version, none of the others
        "ListBatchSegmentJobs": 2 + 1 + 1,
        "ListRecommenders": 2,
    }


def test_each_kind_in_progress_is_detected(list_activity, stage, emulator):
    dataset = stage.dataset()
    solution = stage.solution()
    ready = stage.version(solution)
    emulator.hold("import-held", "CREATE IN_PROGRESS")
    emulator.hold("training-held", "CREATE PENDING")
    emulator.hold("rec-held", "CREATE IN_PROGRESS")
    emulator.hold(f"{stage.group.rsplit('/', 1)[1]}-infer-1", "PENDING")
    emulator.hold(f"{stage.group.rsplit('/', 1)[1]}-segment-1", "IN PROGRESS")
    stage.import_job(dataset, name="import-held")
    stage.import_job(dataset)  # not held: ACTIVE at the next read
    stage.version(solution, name="training-held", trained=False)
    stage.recommender(name="rec-held")
    stage.batch_jobs(ready)

    busy = in_progress(list_activity(stage.group))

    assert sorted((activity.kind, activity.status) for activity in busy) == [
        ("batch_inference_job", "PENDING"),
        ("batch_segment_job", "IN PROGRESS"),
        ("dataset_import_job", "CREATE IN_PROGRESS"),
        ("recommender", "CREATE IN_PROGRESS"),
        ("solution_version", "CREATE PENDING"),
    ]


def calls_made(emulator, operations=(*LIST_OPERATIONS, "DescribeSolution")) -> dict[str, int]:
    return {operation: emulator.calls(operation) for operation in operations}


def test_one_listing_costs_the_documented_calls(stage, emulator):
    stage.dataset("Interactions")
    stage.dataset("Users")
    auto, manual = stage.solution(auto_training=True), stage.solution()
    for solution in (auto, manual):
        stage.batch_jobs(stage.version(solution))
    emulator.hold("untrained", "CREATE IN_PROGRESS")
    stage.version(auto, name="untrained", trained=False)  # not ACTIVE: no batch job listing
    emulator.set_max_page_size(100)
    before = calls_made(emulator)

    PersonalizeHook().list_dataset_group_activity(stage.group)

    after = calls_made(emulator)
    made = {operation: after[operation] - before[operation] for operation in after}
    # 1 + D + 1 + S' + S + 2 x ACTIVE versions + 1, with D = 2, S = S' = 2, 2 ACTIVE versions.
    assert made == {
        "ListDatasets": 1,
        "ListDatasetImportJobs": 2,
        "ListSolutions": 1,
        "DescribeSolution": 2,
        "ListSolutionVersions": 2,
        "ListBatchInferenceJobs": 2,
        "ListBatchSegmentJobs": 2,
        "ListRecommenders": 1,
    }


def test_batch_jobs_of_many_active_versions_are_listed_account_wide_and_filtered(
    list_activity, stage, emulator, personalize
):
    solution = stage.solution()
    versions = [stage.version(solution) for _ in range(6)]
    stage.batch_jobs(versions[-1], count=2)
    other = Stage(personalize, emulator.create_dataset_group("news"))
    other.batch_jobs(other.version(other.solution()), count=2)
    before = calls_made(emulator, ("ListBatchInferenceJobs", "ListBatchSegmentJobs"))

    activities = list_activity(stage.group)

    after = calls_made(emulator, ("ListBatchInferenceJobs", "ListBatchSegmentJobs"))
    assert {operation: after[operation] - before[operation] for operation in after} == {
        "ListBatchInferenceJobs": 1,
        "ListBatchSegmentJobs": 1,
    }
    assert (kinds(activities)["batch_inference_job"], kinds(activities)["batch_segment_job"]) == (2, 2)


def test_an_invalid_dataset_group_arn_is_refused_before_any_call(emulator, aws_conn):
    before = emulator.calls()

    with pytest.raises(PersonalizeValidationError, match="datasetGroupArn"):
        PersonalizeHook().list_dataset_group_activity("not an arn")

    assert emulator.calls() == before


def test_a_training_during_the_job_overlaps_it_and_the_follow_up_job_overlaps_nothing(
    stage, emulator, deletion_file, dataset_group
):
    """The guard's proof, end to end on the emulator: the overlap is seen, and the follow-up job erases."""
    hook = PersonalizeHook()
    solution = stage.solution()
    emulator.hold("erase-1", "IN_PROGRESS")
    first = hook.create_data_deletion_job("erase-1", dataset_group, deletion_file, ROLE_ARN)
    training = stage.version(solution)  # trained while the job runs
    emulator.release("erase-1")
    first_job = hook.describe_finished_data_deletion_job(first)

    overlap = overlapping(
        hook.list_dataset_group_activity(dataset_group),
        first_job["creationDateTime"],
        first_job["lastUpdatedDateTime"],
    )
    kept = emulator.model_users(training)
    follow_up = hook.describe_finished_data_deletion_job(
        hook.create_data_deletion_job("erase-2", dataset_group, deletion_file, ROLE_ARN)
    )
    second_overlap = overlapping(
        hook.list_dataset_group_activity(dataset_group),
        follow_up["creationDateTime"],
        follow_up["lastUpdatedDateTime"],
    )

    assert [(activity.kind, activity.arn) for activity in overlap] == [("solution_version", training)]
    assert kept == {"u1", "u2", "u3"}
    assert second_overlap == []
    assert emulator.model_users(training) == {"u3"}


# Dataset group selection.


@pytest.fixture
def groups(emulator, aws_conn) -> dict[str, str]:
    return {
        "shop": emulator.create_dataset_group("shop", tags={"erasure": "enabled", "team": "web"}),
        "news": emulator.create_dataset_group("news", tags={"erasure": "enabled"}),
        "lab": emulator.create_dataset_group("lab", tags={"erasure": "disabled"}),
        "old": emulator.create_dataset_group("old"),
    }


def test_all_selects_every_active_dataset_group_across_pages(groups, emulator):
    emulator.set_max_page_size(3)
    before = emulator.calls("ListDatasetGroups")

    selected = PersonalizeHook().list_dataset_groups_by("all")

    assert selected == sorted(groups.values())
    assert emulator.calls("ListDatasetGroups") - before == 2


def test_a_tag_filter_selects_the_groups_holding_every_tag(groups):
    hook = PersonalizeHook()

    assert hook.list_dataset_groups_by({"erasure": "enabled"}) == sorted([groups["shop"], groups["news"]])
    assert hook.list_dataset_groups_by({"erasure": "enabled", "team": "web"}) == [groups["shop"]]
    assert hook.list_dataset_groups_by({"erasure": "nowhere"}) == []


def test_tags_set_after_creation_count(groups, personalize):
    personalize.tag_resource(resourceArn=groups["old"], tags=[{"tagKey": "erasure", "tagValue": "enabled"}])

    assert groups["old"] in PersonalizeHook().list_dataset_groups_by({"erasure": "enabled"})


@pytest.mark.parametrize(
    ("selector", "rule"),
    [
        ("every", "must be"),
        ({}, "non-empty mapping"),
        (["erasure"], "must be"),
        ({"": "enabled"}, "at least 1"),
        ({"erasure": "x" * 257}, "at most 256"),
    ],
)
def test_an_invalid_selector_is_refused_naming_the_field_before_any_call(selector, rule, emulator, aws_conn):
    before = emulator.calls()

    with pytest.raises(PersonalizeValidationError, match="dataset_group_arns") as raised:
        PersonalizeHook().list_dataset_groups_by(selector, field="dataset_group_arns")

    assert rule in str(raised.value)
    assert emulator.calls() == before


# A parent deleted between two calls: the emulator deletes nothing, so botocore's Stubber plays the service.


def stubbed_hook(responses):
    from botocore.stub import Stubber

    hook = PersonalizeHook()
    client = boto3.client("personalize", region_name="us-east-1")
    stubber = Stubber(client)
    for operation, answer in responses:
        if isinstance(answer, str):
            stubber.add_client_error(operation, service_error_code=answer)
        else:
            stubber.add_response(operation, answer)
    stubber.activate()
    hook.__dict__["conn"] = client  # the cached boto3 client of AwsBaseHook
    return hook, stubber


def test_a_dataset_deleted_since_it_was_listed_has_no_activity(dataset_group):
    dataset = {"datasetArn": "arn:aws:personalize:us-east-1:123456789012:dataset/shop/USERS"}
    hook, stubber = stubbed_hook(
        [
            ("list_datasets", {"datasets": [dataset]}),
            ("list_solutions", {"solutions": []}),
            ("list_recommenders", {"recommenders": []}),
            ("list_dataset_import_jobs", "ResourceNotFoundException"),
        ]
    )

    assert hook.list_dataset_group_activity(dataset_group) == []
    stubber.assert_no_pending_responses()


def test_a_missing_dataset_group_is_an_error(dataset_group):
    hook, _ = stubbed_hook([("list_datasets", "ResourceNotFoundException")])

    with pytest.raises(hook.client.exceptions.ResourceNotFoundException):
        hook.list_dataset_group_activity(dataset_group)
