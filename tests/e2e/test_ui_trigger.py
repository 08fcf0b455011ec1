"""The trigger form of Airflow's UI, in headless Chromium (Debian's), filled as a privacy officer would."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import DAG_ID, ROLE_ARN, Stage, open_logged_in
from tests.e2e.harness import AirflowDeployment

pytestmark = pytest.mark.e2e


def open_trigger_form(page, airflow: AirflowDeployment) -> None:
    """Log in if asked, open the DAG's page and its trigger form."""
    open_logged_in(page, airflow, f"/dags/{DAG_ID}", page.get_by_test_id("trigger-dag-button"))
    page.get_by_test_id("trigger-dag-button").click()
    page.locator("#element_dataset_group_arns").wait_for()


def fill_groups_and_users(page, stage: Stage, user_ids: list[str]) -> None:
    page.locator("#element_dataset_group_arns").fill("\n".join(stage.group_arns))
    page.locator("#element_user_ids").fill("\n".join(user_ids))


def test_ui_trigger_form_runs_the_erasure_with_the_params_filled_in(stage: Stage, page) -> None:
    user_ids = stage.user_ids(2)
    open_trigger_form(page, stage.airflow)
    fill_groups_and_users(page, stage, user_ids)
    page.locator("#element_role_arn").fill(ROLE_ARN)
    page.get_by_test_id("trigger-dag-submit").click()

    page.wait_for_url(re.compile(rf".*/dags/{DAG_ID}/runs/.+"))
    run_id = page.url.rsplit("/runs/", 1)[1].split("?")[0]
    names = stage.hold_jobs_as_created(2)
    stage.wait_until_deferred(run_id)
    for name in names:
        stage.emulator.release(name)

    assert stage.airflow.wait_for_run(run_id) == "success"
    conf = stage.airflow.dag_run(run_id)["conf"]
    assert conf["user_ids"] == user_ids
    assert conf["dataset_group_arns"] == stage.group_arns
    assert stage.statuses(user_ids) == dict.fromkeys(user_ids, "erased")
    outcome, record = stage.audit(run_id)
    assert outcome == "erased" and record["requests"]["added_ad_hoc"] == len(user_ids)
    for arn in stage.group_arns:
        assert [job["status"] for job in stage.jobs_of(arn)] == ["COMPLETED"]
    assert stage.s3_keys() == []
    stage.assert_nothing_leaked(user_ids)


def test_ui_trigger_form_can_be_submitted_with_the_role_arn_left_to_the_variable(stage: Stage, page) -> None:
    open_trigger_form(page, stage.airflow)
    fill_groups_and_users(page, stage, stage.user_ids(1))

    page.wait_for_timeout(500)
    assert page.get_by_test_id("trigger-dag-submit").is_enabled()
