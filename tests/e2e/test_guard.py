"""
The erasure guard on a real Airflow: a solution version trained during the deletion job is followed up
by a second job on the same file, and only then are the requests marked erased.
"""

from __future__ import annotations

import boto3
import pytest

from tests.e2e.conftest import Stage
from tests.e2e.harness import wait_until

pytestmark = pytest.mark.e2e


def test_a_training_during_the_deletion_job_is_followed_up_and_the_users_are_erased(stage: Stage) -> None:
    user_ids = stage.user_ids(3)
    stage.request_erasure(user_ids)
    (group,) = stage.group_arns[:1]
    stage.emulator.set_activity_timings(pending_seconds=0, in_progress_seconds=1)
    personalize = boto3.client(
        "personalize", endpoint_url=stage.aws.endpoint_url, region_name=stage.aws.region
    )
    solution = personalize.create_solution(name=f"sol-{stage.token}", datasetGroupArn=group)["solutionArn"]

    run_id = stage.airflow.trigger(stage.conf(group_arns=[group]))
    (name,) = stage.hold_jobs_as_created(1)  # the deletion job, held IN_PROGRESS
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]

    def trained() -> bool:
        described = personalize.describe_solution_version(solutionVersionArn=version)
        return described["solutionVersion"]["status"] == "ACTIVE"

    wait_until(trained, 60, what="the training started during the deletion job")
    stage.wait_until_deferred(run_id)
    stage.emulator.release(name)

    assert stage.airflow.wait_for_run(run_id, 600) == "success"
    first, follow_up = stage.jobs_of(group)
    assert (first["jobName"], first["status"], follow_up["status"]) == (name, "COMPLETED", "COMPLETED")
    assert follow_up["dataSource"] == first["dataSource"]  # the same file, read again
    assert stage.statuses(user_ids) == dict.fromkeys(user_ids, "erased")
    assert not set(user_ids) & stage.emulator.users(group)
    assert not set(user_ids) & stage.emulator.model_users(version)  # gone from the model too
    outcome, record = stage.audit(run_id)
    assert outcome == "erased"
    assert record["follow_up_jobs"] == 1
    (audited,) = record["dataset_groups"]
    assert [job["erasureRound"] for job in audited["jobs"]] == [0, 1]
    assert [item["arn"] for item in audited["jobs"][0]["overlappingActivity"]] == [version]
    assert audited["jobs"][1]["overlappingActivity"] == []
    states = stage.airflow.task_states(run_id)
    assert states["create_follow_up_job_1"] == ["success"]
    assert states.get("create_follow_up_job_2", ["skipped"]) == ["skipped"]  # nothing more to follow up
    assert stage.s3_keys() == []
    stage.assert_nothing_leaked(user_ids)
