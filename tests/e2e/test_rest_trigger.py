"""A run triggered through the REST API, as a user's script would, on a real Airflow."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Stage

pytestmark = pytest.mark.e2e


def test_rest_triggered_run_erases_the_requests_once_per_group_and_cleans_up(stage: Stage) -> None:
    from_portal = stage.user_ids(3, "portal")
    ad_hoc = stage.user_ids(2, "adhoc")
    stage.request_erasure(from_portal)

    state = stage.run(stage.conf(ad_hoc))

    assert state == "success", stage.airflow.task_states(stage.last_run_id)
    erased = from_portal + ad_hoc
    assert stage.statuses(erased) == dict.fromkeys(erased, "erased")
    outcome, record = stage.audit(stage.last_run_id)
    assert outcome == "erased"
    assert record["requests"]["erased"] == len(erased)
    for arn in stage.group_arns:
        jobs = stage.jobs_of(arn)
        assert [job["status"] for job in jobs] == ["COMPLETED"]
        assert jobs[0]["numDeleted"] == len(erased)
        assert not set(erased) & stage.emulator.users(arn)
    assert stage.s3_keys() == []
    stage.assert_nothing_leaked(erased)
