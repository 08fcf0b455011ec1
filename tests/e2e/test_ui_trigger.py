"""The trigger form of Airflow's UI, in headless Chromium (Debian's), filled as a privacy officer would."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import DAG_ID, ROLE_ARN, Stage
from tests.e2e.harness import ADMIN_USER, AirflowDeployment

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-system-deps.sh", pytrace=False)
    with playwright_api.sync_playwright() as playwright:
        # A persistent context gives Chromium a fresh user-data-dir of the test's own.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser, airflow: AirflowDeployment, tmp_path: Path, request) -> Iterator:
    page = browser.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is None or report.failed:
            with contextlib.suppress(Exception):
                page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
                print(f"Screenshot of the failure: {tmp_path / 'failure.png'}")
        page.close()


def open_trigger_form(page, airflow: AirflowDeployment) -> None:
    """Log in if asked, open the DAG's page and its trigger form."""
    page.goto(f"{airflow.base_url}/dags/{DAG_ID}")
    login = page.get_by_label("Username")
    login.or_(page.get_by_test_id("trigger-dag-button")).first.wait_for()  # the app redirects, or not
    if login.is_visible():
        page.get_by_label("Username").fill(ADMIN_USER)
        page.get_by_label("Password").fill(airflow.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"**/dags/{DAG_ID}")
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
