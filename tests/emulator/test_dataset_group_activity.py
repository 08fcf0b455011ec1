"""What uses a dataset group's data, in the emulator: datasets, import jobs, solutions and versions, batch
jobs, recommenders, tags; their statuses on the clock, holds, pagination, and the users models keep."""

from __future__ import annotations

import time

import boto3
import pytest

from airflow_provider_personalize_deletion.emulator import EmulatorControlError
from tests.core.conftest import BATCH_IO, RECIPE_ARN, SCHEMA_ARN, put_batch_input
from tests.emulator.conftest import ROLE_ARN


@pytest.fixture
def group(emulator):
    return emulator.create_dataset_group("shop", user_ids=["alice", "bob", "carol"])


@pytest.fixture
def dataset(personalize, group):
    return personalize.create_dataset(
        name="shop-interactions", schemaArn=SCHEMA_ARN, datasetGroupArn=group, datasetType="Interactions"
    )["datasetArn"]


@pytest.fixture
def solution(personalize, group):
    return personalize.create_solution(name="shop-recs", datasetGroupArn=group, recipeArn=RECIPE_ARN)[
        "solutionArn"
    ]


def import_job(personalize, dataset: str, name: str) -> str:
    """Import a CSV of one interaction (an import job reads its input when it runs)."""
    meta = personalize.meta
    s3 = boto3.client("s3", endpoint_url=meta.endpoint_url, region_name=meta.region_name)
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="x.csv", Body=b"USER_ID,ITEM_ID,TIMESTAMP\nalice,i1,1700000000\n")
    return personalize.create_dataset_import_job(
        jobName=name, datasetArn=dataset, dataSource={"dataLocation": "s3://data/x.csv"}, roleArn=ROLE_ARN
    )["datasetImportJobArn"]


def version(personalize, solution: str, name: str | None = None) -> str:
    return personalize.create_solution_version(solutionArn=solution, **({"name": name} if name else {}))[
        "solutionVersionArn"
    ]


def statuses_seen(describe, arn: str, final: str = "ACTIVE") -> list[str]:
    seen = [describe(arn)]
    while seen[-1] != final:
        time.sleep(0.05)
        if (status := describe(arn)) != seen[-1]:
            seen.append(status)
    return seen


def test_a_dataset_is_active_and_named_after_its_group_and_type(personalize, dataset, group):
    described = personalize.describe_dataset(datasetArn=dataset)["dataset"]

    assert dataset == "arn:aws:personalize:us-east-1:123456789012:dataset/shop/INTERACTIONS"
    assert (described["status"], described["datasetGroupArn"], described["schemaArn"]) == (
        "ACTIVE",
        group,
        SCHEMA_ARN,
    )


def test_a_second_dataset_of_one_type_is_resource_already_exists(personalize, dataset, group):
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        personalize.create_dataset(
            name="again", schemaArn=SCHEMA_ARN, datasetGroupArn=group, datasetType="INTERACTIONS"
        )


def test_an_unknown_dataset_type_is_invalid_input_naming_the_member(personalize, group):
    with pytest.raises(personalize.exceptions.InvalidInputException, match="datasetType"):
        personalize.create_dataset(
            name="x", schemaArn=SCHEMA_ARN, datasetGroupArn=group, datasetType="Clicks"
        )


def test_requests_are_checked_against_the_service_model(personalize, dataset):
    with pytest.raises(personalize.exceptions.InvalidInputException, match="jobName"):
        import_job(personalize, dataset, "-starts-with-a-dash")


def test_an_import_job_of_an_unknown_dataset_is_resource_not_found(personalize, group):
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        import_job(personalize, group.replace("dataset-group/", "dataset/") + "/USERS", "import-1")


@pytest.mark.parametrize("kind", ["import", "solution_version", "recommender"])
def test_import_jobs_trainings_and_recommenders_go_create_pending_in_progress_active(
    kind, emulator, personalize, dataset, solution, group
):
    emulator.set_activity_timings(pending_seconds=0.2, in_progress_seconds=0.2)
    arn, describe = {
        "import": lambda: (
            import_job(personalize, dataset, "import-1"),
            lambda arn: personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"],
        ),
        "solution_version": lambda: (
            version(personalize, solution),
            lambda arn: personalize.describe_solution_version(solutionVersionArn=arn)["solutionVersion"],
        ),
        "recommender": lambda: (
            personalize.create_recommender(name="rec", datasetGroupArn=group, recipeArn=RECIPE_ARN)[
                "recommenderArn"
            ],
            lambda arn: personalize.describe_recommender(recommenderArn=arn)["recommender"],
        ),
    }[kind]()

    assert statuses_seen(lambda arn: describe(arn)["status"], arn) == [
        "CREATE PENDING",
        "CREATE IN_PROGRESS",
        "ACTIVE",
    ]


@pytest.mark.parametrize("operation", ["create_batch_inference_job", "create_batch_segment_job"])
def test_batch_jobs_go_pending_in_progress_active(operation, emulator, personalize, solution):
    trained = version(personalize, solution)
    personalize.describe_solution_version(solutionVersionArn=trained)
    put_batch_input(personalize)
    emulator.set_activity_timings(pending_seconds=0.2, in_progress_seconds=0.2)
    arn = next(
        iter(
            getattr(personalize, operation)(
                jobName="batch-1", solutionVersionArn=trained, **BATCH_IO
            ).values()
        )
    )
    describe = {
        "create_batch_inference_job": lambda: personalize.describe_batch_inference_job(
            batchInferenceJobArn=arn
        )["batchInferenceJob"],
        "create_batch_segment_job": lambda: personalize.describe_batch_segment_job(batchSegmentJobArn=arn)[
            "batchSegmentJob"
        ],
    }[operation]

    assert statuses_seen(lambda _: describe()["status"], arn) == ["PENDING", "IN PROGRESS", "ACTIVE"]
    assert describe()["solutionVersionArn"] == trained


def test_a_batch_job_needs_an_active_solution_version(emulator, personalize, solution):
    emulator.set_activity_timings(pending_seconds=600, in_progress_seconds=0)
    pending = version(personalize, solution)

    with pytest.raises(personalize.exceptions.ResourceInUseException, match="not ACTIVE"):
        personalize.create_batch_inference_job(jobName="batch-1", solutionVersionArn=pending, **BATCH_IO)


def test_a_training_held_in_progress_stays_there_until_released(emulator, personalize, solution):
    training = version(personalize, solution)
    emulator.hold(training, "CREATE IN_PROGRESS")

    def status() -> str:
        return personalize.describe_solution_version(solutionVersionArn=training)["solutionVersion"]["status"]

    held = [status(), status()]
    emulator.release(training)

    assert (held, status()) == (["CREATE IN_PROGRESS"] * 2, "ACTIVE")


def test_a_training_can_be_held_by_name_before_it_is_created(emulator, personalize, solution):
    emulator.hold("weekly", "CREATE PENDING")

    training = version(personalize, solution, name="weekly")

    assert personalize.describe_solution_version(solutionVersionArn=training)["solutionVersion"][
        "status"
    ] == ("CREATE PENDING")


def test_solutions_use_automatic_training_unless_told_not_to(personalize, group):
    auto = personalize.create_solution(name="auto", datasetGroupArn=group, recipeArn=RECIPE_ARN)
    manual = personalize.create_solution(
        name="manual", datasetGroupArn=group, recipeArn=RECIPE_ARN, performAutoTraining=False
    )

    flags = [
        personalize.describe_solution(solutionArn=arn)["solution"]["performAutoTraining"]
        for arn in (auto["solutionArn"], manual["solutionArn"])
    ]

    assert flags == [True, False]


def test_auto_train_starts_an_automatic_training_of_an_auto_training_solution(
    emulator, personalize, solution
):
    trained = emulator.auto_train(solution)

    described = personalize.describe_solution_version(solutionVersionArn=trained)["solutionVersion"]
    assert (described["solutionArn"], described["trainingType"], described["status"]) == (
        solution,
        "AUTOMATIC",
        "ACTIVE",
    )


def test_auto_train_refuses_a_solution_without_automatic_training(emulator, personalize, group):
    manual = personalize.create_solution(
        name="manual", datasetGroupArn=group, recipeArn=RECIPE_ARN, performAutoTraining=False
    )["solutionArn"]

    with pytest.raises(EmulatorControlError, match="automatic training"):
        emulator.auto_train(manual)


LISTS = [
    # (paginator, its filter member, result key, create one in the stage)
    ("list_datasets", "datasetGroupArn", "datasets"),
    ("list_dataset_import_jobs", "datasetArn", "datasetImportJobs"),
    ("list_solutions", "datasetGroupArn", "solutions"),
    ("list_solution_versions", "solutionArn", "solutionVersions"),
    ("list_batch_inference_jobs", "solutionVersionArn", "batchInferenceJobs"),
    ("list_batch_segment_jobs", "solutionVersionArn", "batchSegmentJobs"),
    ("list_recommenders", "datasetGroupArn", "recommenders"),
]


@pytest.fixture
def stage(emulator, personalize, group):
    """Three of each kind in ``group`` (and one of each in another group), returned by filter member."""
    other = emulator.create_dataset_group("news")
    for dataset_group in (other, group):
        types = ("Interactions", "Items", "Users") if dataset_group == group else ("Users",)
        datasets = [
            personalize.create_dataset(
                name=f"{dataset_group[-4:]}-{t}",
                schemaArn=SCHEMA_ARN,
                datasetGroupArn=dataset_group,
                datasetType=t,
            )["datasetArn"]
            for t in types
        ]
        solutions = [
            personalize.create_solution(name=f"{dataset_group[-4:]}-{n}", datasetGroupArn=dataset_group)[
                "solutionArn"
            ]
            for n in range(len(types))
        ]
        for n in range(len(types)):
            personalize.create_recommender(
                name=f"{dataset_group[-4:]}-rec-{n}", datasetGroupArn=dataset_group, recipeArn=RECIPE_ARN
            )
    imports = [import_job(personalize, datasets[0], f"import-{n}") for n in range(3)]
    versions = [version(personalize, solutions[0]) for _ in range(3)]
    personalize.describe_solution_version(solutionVersionArn=versions[0])  # ACTIVE now
    put_batch_input(personalize)
    for n in range(3):
        personalize.create_batch_inference_job(
            jobName=f"infer-{n}", solutionVersionArn=versions[0], **BATCH_IO
        )
        personalize.create_batch_segment_job(
            jobName=f"segment-{n}", solutionVersionArn=versions[0], **BATCH_IO
        )
    return {
        "datasetGroupArn": group,
        "datasetArn": datasets[0],
        "solutionArn": solutions[0],
        "solutionVersionArn": versions[0],
        "imports": imports,
    }


@pytest.mark.parametrize(("paginator", "member", "result_key"), LISTS)
def test_every_list_pages_with_botocore_paginators_and_filters_by_parent(
    paginator, member, result_key, emulator, personalize, stage
):
    emulator.set_max_page_size(2)
    operation = "".join(part.title() for part in paginator.split("_"))
    before = emulator.calls(operation)

    pages = list(personalize.get_paginator(paginator).paginate(**{member: stage[member]}))

    items = [item for page in pages for item in page[result_key]]
    assert (len(pages), len(items), emulator.calls(operation) - before) == (2, 3, 2)
    assert all(item["status"] for item in items)
    assert all(item["creationDateTime"] <= item["lastUpdatedDateTime"] for item in items)


def test_list_summaries_are_newest_first_and_carry_the_summary_members(personalize, stage):
    jobs = personalize.list_dataset_import_jobs(datasetArn=stage["datasetArn"])["datasetImportJobs"]

    assert [job["datasetImportJobArn"] for job in jobs] == stage["imports"][::-1]
    assert set(jobs[0]) == {
        "datasetImportJobArn", "jobName", "status", "creationDateTime", "lastUpdatedDateTime", "importMode",
    }  # fmt: skip


def test_the_page_size_cap_is_dropped_by_reset(emulator, personalize, stage):
    emulator.set_max_page_size(1)
    emulator.reset()
    for name in ("a", "b"):
        emulator.create_dataset_group(name)

    assert len(personalize.list_dataset_groups(maxResults=2)["datasetGroups"]) == 2


def test_tags_given_at_creation_and_with_tag_resource_are_listed(emulator, personalize, group, solution):
    tagged_group = emulator.create_dataset_group("news", tags={"erasure": "enabled"})
    recommender = personalize.create_recommender(
        name="rec", datasetGroupArn=group, recipeArn=RECIPE_ARN, tags=[{"tagKey": "team", "tagValue": "recs"}]
    )["recommenderArn"]
    personalize.tag_resource(resourceArn=solution, tags=[{"tagKey": "erasure", "tagValue": "disabled"}])

    def tags(arn: str) -> dict[str, str]:
        return {
            tag["tagKey"]: tag["tagValue"]
            for tag in personalize.list_tags_for_resource(resourceArn=arn)["tags"]
        }

    assert [tags(tagged_group), tags(recommender), tags(solution), tags(group)] == [
        {"erasure": "enabled"},
        {"team": "recs"},
        {"erasure": "disabled"},
        {},
    ]


def test_tagging_an_unknown_resource_is_resource_not_found(personalize, group):
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.tag_resource(resourceArn=group + "-gone", tags=[{"tagKey": "a", "tagValue": "b"}])


# The users models keep: the documented risk of training while a data deletion job runs.


@pytest.fixture
def erase_alice_and_bob(put_csv, create_job, describe_job, group):
    location = put_csv("erase/today.csv", ["alice", "bob"])

    def erase(job_name: str) -> dict:
        return describe_job(create_job(job_name, group, location))

    return erase


def test_a_model_is_trained_on_the_group_users_when_its_training_starts(
    emulator, personalize, solution, group
):
    emulator.hold("weekly", "CREATE PENDING")
    training = version(personalize, solution, name="weekly")
    untrained = emulator.model_users(training)
    emulator.seed_users(group, ["dave"])

    emulator.release("weekly")

    assert (untrained, emulator.model_users(training)) == (set(), {"alice", "bob", "carol", "dave"})


def test_a_model_trained_before_the_job_loses_the_deleted_users(
    emulator, personalize, solution, erase_alice_and_bob
):
    trained = version(personalize, solution)
    personalize.describe_solution_version(solutionVersionArn=trained)

    job = erase_alice_and_bob("erase-1")

    assert (job["status"], emulator.model_users(trained)) == ("COMPLETED", {"carol"})


def test_a_training_in_progress_during_the_job_keeps_the_deleted_users(
    emulator, personalize, solution, group, erase_alice_and_bob
):
    training = version(personalize, solution)
    emulator.hold(training, "CREATE IN_PROGRESS")

    job = erase_alice_and_bob("erase-1")

    assert job["status"] == "COMPLETED"
    assert (emulator.users(group), emulator.model_users(training)) == ({"carol"}, {"alice", "bob", "carol"})


def test_a_training_started_during_the_job_keeps_the_deleted_users(
    emulator, personalize, solution, erase_alice_and_bob, describe_job
):
    emulator.hold("erase-1", "IN_PROGRESS")
    job = erase_alice_and_bob("erase-1")
    training = version(personalize, solution)
    personalize.describe_solution_version(solutionVersionArn=training)  # trained while the job runs

    emulator.release("erase-1")

    assert describe_job(job["dataDeletionJobArn"])["status"] == "COMPLETED"
    assert emulator.model_users(training) == {"alice", "bob", "carol"}


def test_a_later_job_that_overlaps_no_training_removes_the_users_from_every_model(
    emulator, personalize, solution, group, erase_alice_and_bob
):
    emulator.hold("rec", "CREATE IN_PROGRESS")
    recommender = personalize.create_recommender(name="rec", datasetGroupArn=group, recipeArn=RECIPE_ARN)[
        "recommenderArn"
    ]
    training = version(personalize, solution)
    emulator.hold(training, "CREATE IN_PROGRESS")
    erase_alice_and_bob("erase-1")
    kept = (emulator.model_users(training), emulator.model_users(recommender))
    emulator.release(training)
    emulator.release("rec")

    follow_up = erase_alice_and_bob("erase-2")

    assert kept == ({"alice", "bob", "carol"},) * 2
    assert (follow_up["status"], follow_up["numDeleted"]) == (
        "COMPLETED",
        0,
    )  # gone from the datasets already
    assert (emulator.model_users(training), emulator.model_users(recommender)) == ({"carol"}, {"carol"})


def test_a_later_job_during_another_training_leaves_the_users_in_that_model(
    emulator, personalize, solution, erase_alice_and_bob
):
    first = version(personalize, solution)
    emulator.hold(first, "CREATE IN_PROGRESS")
    erase_alice_and_bob("erase-1")

    erase_alice_and_bob("erase-2")  # the first training still runs

    assert emulator.model_users(first) == {"alice", "bob", "carol"}


def test_a_model_trained_after_the_job_never_had_the_users(
    emulator, personalize, solution, erase_alice_and_bob
):
    erase_alice_and_bob("erase-1")

    trained = version(personalize, solution)
    personalize.describe_solution_version(solutionVersionArn=trained)

    assert emulator.model_users(trained) == {"carol"}


def test_model_users_of_a_resource_that_is_no_model_is_refused(emulator, dataset):
    with pytest.raises(EmulatorControlError, match="Could not find"):
        emulator.model_users(dataset)
