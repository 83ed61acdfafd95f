"""After `flywheel demo`, the Dagster UI on that workdir shows the demo's rounds (one instance for CLI and UI).

Takes a copy of the test run's shared ``flywheel demo --rounds 1`` (the small test config; tests/conftest.py),
then starts ``flywheel ui --workdir`` from another folder, as a user would (the workdir's own
Dagster instance, DAGSTER_HOME=<workdir>/.dagster, and its config.yaml), and, in headless Chromium, without materializing anything: sees partitions 0 and 1 of the
round assets materialized, round 1's stop decision and chart on ``round_metrics``, the loss
curve on ``checkpoint``, the run list (one run per round), no partition of a round asset missing
(round 0's included), and screenshots the run list and the asset graph (to docs/ when FLYWHEEL_UPDATE_DOCS=1).
"""

import os
import re
import shutil

import pytest

from tests.conftest import copy_workdir
from tests.dagster_project.dagster_server import ROOT, chromium_page, flywheel_ui

pytestmark = pytest.mark.slow


@pytest.fixture
def ui_after_demo(tmp_path, finished_small_demo):
    workdir = copy_workdir(finished_small_demo, tmp_path / "work")  # the UI writes to the workdir's instance
    with flywheel_ui(workdir, cwd=tmp_path) as url:  # from a user's own folder, not the repository
        yield url, workdir


def test_the_ui_shows_the_rounds_the_demo_ran(ui_after_demo, tmp_path):
    from playwright.sync_api import expect

    url, workdir = ui_after_demo
    with chromium_page() as page:

        # Both partitions exist and the demo's materializations are there, with nothing launched from here.
        page.goto(f"{url}/assets/evaluation?view=partitions")
        page.wait_for_timeout(3000)
        # the workdir's instance turns Dagster's new-user pop-up off: nothing covers the first page
        assert page.get_by_role("button", name="Skip").count() == 0
        expect(page.get_by_text(re.compile(r"2\s+Partitions?", re.IGNORECASE)).first).to_be_visible(timeout=60_000)
        body = page.inner_text("body")
        assert "0 Partitions" not in body
        # The graph reads as done: no partition shows as missing, neither of a stage round 0 runs (evaluation) nor
        # of one it does not run and vouches for (samples).
        assert "Missing (0)" in body and "Materialized (2)" in body, body
        page.goto(f"{url}/assets/samples?view=partitions")
        expect(page.get_by_text("Materialized (2)").first).to_be_visible(timeout=60_000)
        assert "Missing (0)" in page.inner_text("body")

        # Round 1's metrics: the stop decision and the chart, from the demo's own run.
        page.goto(f"{url}/assets/round_metrics?view=events&partition=1")
        expect(page.get_by_text(re.compile(r"^(CONTINUE|STOP)"))).to_be_visible(timeout=60_000)
        page.get_by_text("[Show Markdown]").first.click()
        chart = page.locator("img[src^='data:image/png;base64']")
        expect(chart.first).to_be_visible(timeout=30_000)
        assert chart.first.evaluate("img => img.naturalWidth") > 500

        # The SFT loss curve on the checkpoint asset.
        page.goto(f"{url}/assets/checkpoint?view=events&partition=1")
        expect(page.get_by_text("loss_curve").first).to_be_visible(timeout=60_000)

        # The runs the demo made are listed, one per round, by the round jobs' names.
        page.goto(f"{url}/runs")
        expect(page.get_by_text(re.compile(r"\bSuccess\b")).first).to_be_visible(timeout=60_000)
        expect(page.get_by_role("link", name="round_zero", exact=True).first).to_be_visible(timeout=30_000)
        runs = page.inner_text("body")
        assert "__ephemeral_asset_job__" not in runs and re.search(r"\bround\b", runs)
        page.wait_for_timeout(2000)
        runs_shot = tmp_path / "ui_runs_after_demo.png"
        page.screenshot(path=str(runs_shot))

        page.goto(f"{url}/asset-groups/round")
        expect(page.get_by_text("round_metrics").first).to_be_visible(timeout=60_000)
        page.wait_for_timeout(3000)
        shot = tmp_path / "ui_after_demo.png"
        page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000 and runs_shot.stat().st_size > 20_000
    if os.environ.get("FLYWHEEL_UPDATE_DOCS") == "1":  # the README shows the asset graph, every asset done
        shutil.copy(shot, ROOT / "docs" / "ui_after_demo.png")
