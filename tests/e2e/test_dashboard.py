"""
The erasure dashboard in Airflow's UI, in headless Chromium: its navigation entry, the figures its
charts show for a seeded warehouse, an evidence lookup, its printable report and its JSON and CSV
exports, a lookup's near misses, and the search of who looked a person up.

Set ``UPDATE_SCREENSHOTS=1`` to write the README's screenshot (``docs/erasure-dashboard.png``, a
1366 x 768 laptop screen) from a busier warehouse.
"""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from tests.dashboard.seed import WarehouseSeeder, busy_quarter, small_world
from tests.e2e.conftest import Stage, open_logged_in
from tests.e2e.harness import REPO

pytestmark = pytest.mark.e2e

SCREENSHOT = REPO / "docs" / "erasure-dashboard.png"
LAPTOP = {"width": 1366, "height": 768}


def open_dashboard(page, stage: Stage):
    """Open Airflow's home page, then the Erasure entry of its navigation; return the view's frame."""
    page.set_viewport_size(LAPTOP)
    open_logged_in(page, stage.airflow, "/", page.get_by_role("link", name="Erasure"))
    page.get_by_role("link", name="Erasure").click()
    page.wait_for_url("**/plugin/erasure**")
    frame = page.frame_locator("iframe[title=Erasure]")
    frame.locator("body[data-loaded=true]").wait_for()
    return frame


def test_an_anonymous_request_to_the_dashboard_gets_nothing(stage: Stage):
    for path in ("/personalize-erasure/", "/personalize-erasure/api/summary"):
        response = httpx.get(f"{stage.airflow.base_url}{path}", timeout=30)
        assert response.status_code == 401 and "pending" not in response.text


def test_the_erasure_view_shows_the_warehouses_figures_and_exports_a_users_evidence(
    stage: Stage, page, tmp_path: Path
):
    alice = f"alice-{stage.token}"
    seeder = WarehouseSeeder(stage.warehouse.store())
    world = small_world(seeder, datetime.now(timezone.utc), suffix=f"-{stage.token}")
    frame = open_dashboard(page, stage)

    assert frame.get_by_test_id("pending-count").inner_text() == "3"
    assert frame.get_by_test_id("overdue-count").inner_text() == "1"
    assert frame.get_by_test_id("oldest-pending").inner_text() == "40.0 days"
    assert frame.get_by_test_id("median-days").inner_text() == "2.0 d"
    assert frame.get_by_test_id("p95-days").inner_text() == "25.0 d"
    assert frame.get_by_test_id("deadline-label").text_content() == "deadline 30 d"
    for status, count in (("pending", 3), ("erased", 3), ("rejected", 1)):
        assert frame.get_by_test_id(f"legend-{status}").text_content() == f"{status} {count}"
        bars = frame.locator(f"#status-chart rect[data-status={status}]")
        counts = bars.evaluate_all("bars => bars.map(bar => Number(bar.dataset.count))")
        assert sum(counts) == count
    rows = frame.get_by_test_id("run-row")
    assert rows.evaluate_all("rows => rows.map(r => [r.dataset.runId, r.dataset.outcome])") == [
        [world.failed_run.run_id, "failed"],
        [world.erased_run.run_id, "erased"],
    ]
    overlapped = frame.locator("#runs-chart rect[data-job=erase-news-a]")
    assert overlapped.get_attribute("stroke") == "var(--overlap)"

    frame.get_by_role("tab", name="Evidence lookup").click()
    frame.locator("#lookup-user-id").fill(alice)
    frame.get_by_role("button", name="Look up").click()
    found = frame.get_by_test_id("evidence-row")
    found.first.wait_for()
    assert found.evaluate_all("rows => rows.map(r => r.dataset.requestId)") == world.requests["alice"]
    assert frame.locator("#lookup-user-id").input_value() == ""  # cleared at once
    assert all(alice not in url for url in [page.url, *(item.url for item in page.frames)])

    with page.expect_download() as download:
        frame.get_by_role("button", name="Export JSON").click()
    record = json.loads(Path(download.value.path()).read_text())
    assert download.value.suggested_filename.startswith(f"erasure-evidence-{world.requests['alice'][0]}+")
    assert [request["request_id"] for request in record["requests"]] == world.requests["alice"]
    assert record["subject"] == {"user_id": alice, "as_typed": True}  # the officer's export names whose it is
    assert record["requests"][0]["run"]["run_id"] == world.erased_run.run_id
    with page.expect_download() as download:
        frame.get_by_role("button", name="Export CSV").click()
    exported = Path(download.value.path()).read_text()
    assert download.value.suggested_filename.endswith(".csv")
    assert [row["job_name"] for row in csv.DictReader(io.StringIO(exported))] == [
        "erase-shop-a",
        "erase-news-a",
        "erase-news-a-1",
        "erase-shop-b",
        "erase-news-b",
    ]
    assert {row["subject_user_id"] for row in csv.DictReader(io.StringIO(exported))} == {alice}

    # The printable report: the subject and the evidence, none of the page's navigation or forms.
    page.emulate_media(media="print")
    assert frame.get_by_test_id("report-subject").inner_text() == alice
    assert frame.locator("header").is_hidden() and frame.locator("#lookup-form").is_hidden()
    assert frame.get_by_test_id("evidence-row").first.is_visible()
    page.emulate_media(media="screen")
    assert frame.get_by_test_id("report-subject").is_hidden()

    # A typo's trailing space: nothing matches exactly, and the page says why, naming no other request.
    frame.locator("#lookup-user-id").fill(alice + " ")
    frame.get_by_role("button", name="Look up").click()
    frame.get_by_test_id("near-misses").wait_for()
    assert "whitespace" in frame.get_by_test_id("near-misses").inner_text()
    assert found.count() == 0

    # Who looked alice up: the admin, twice counted by the keyed hash of the id typed again.
    frame.locator("#lookups-user-id").fill(alice)
    frame.get_by_role("button", name="Find lookups").click()
    frame.get_by_test_id("lookup-row").first.wait_for()
    assert frame.get_by_test_id("lookup-row").evaluate_all("rows => rows.map(r => r.dataset.user)") == [
        "admin"
    ]

    # A later lookup that fails leaves no earlier evidence to see or export (the fault is injected).
    lookups = "**/personalize-erasure/api/evidence"
    page.route(lookups, lambda route: route.fulfill(status=503, content_type="application/json", body="{}"))
    frame.locator("#lookup-user-id").fill(f"bob-{stage.token}")
    frame.get_by_role("button", name="Look up").click()
    frame.locator("#error").wait_for()
    assert found.count() == 0 and frame.locator("#lookup-result").is_hidden()
    assert frame.locator("#export-json").is_disabled() and frame.locator("#export-csv").is_disabled()
    page.unroute(lookups)
    stage.assert_nothing_leaked([alice])

    busy_quarter(seeder, datetime.now(timezone.utc))
    frame = open_dashboard(page, stage)
    page.screenshot(path=str(tmp_path / "erasure-dashboard.png"))
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        page.screenshot(path=str(SCREENSHOT))
