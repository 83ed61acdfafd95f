"""The Dagster UI as a person uses it: headless Chromium adds a round, materializes it, reads the metrics.

Starts ``dagster dev`` on the demo's code location (with the small test config), drives
Debian's Chromium through Playwright (no browser download), and stops the server with
SIGINT to its process group, as DESIGN.md prescribes.
"""

import re
import time

import pytest
import yaml

from flywheel.store.database import Store
from tests.conftest import small_config_dict
from tests.dagster_project.dagster_server import chromium_page
from tests.dagster_project.dagster_server import dagster_dev as serve

pytestmark = pytest.mark.slow


@pytest.fixture
def dagster_dev(tmp_path):
    home, workdir = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    (home / "dagster.yaml").write_text("concurrency:\n  pools:\n    default_limit: 1\n"
                                       "telemetry:\n  enabled: false\n")
    config = tmp_path / "round.yaml"
    config.write_text(yaml.safe_dump(small_config_dict(workdir)))
    with serve(dict(DAGSTER_HOME=str(home), FLYWHEEL_CONFIG=str(config))) as url:
        yield url, workdir


def test_materialize_a_round_from_the_ui_and_see_the_chart_and_decision(dagster_dev):
    from playwright.sync_api import expect

    url, workdir = dagster_dev
    with chromium_page() as page:
        page.goto(f"{url}/asset-groups/round")
        expect(page.get_by_role("button", name="Materialize all…")).to_be_visible(timeout=60_000)
        page.wait_for_timeout(3000)  # the community pop-up appears a moment after the page
        if page.get_by_role("button", name="Skip").count():
            page.get_by_role("button", name="Skip").click()

        # Add round 1 and materialize every asset of it with the UI's own buttons.
        page.get_by_role("button", name="Materialize all…").click()
        page.get_by_text("Add a partition").click()
        page.get_by_placeholder("name", exact=True).fill("1")
        page.get_by_role("button", name="Save").click()
        page.get_by_role("button", name="All", exact=True).click()
        page.get_by_role("button", name=re.compile(r"^Launch 1 run")).click()
        expect(page.get_by_text(re.compile(r"Launched run"))).to_be_visible(timeout=30_000)
        # Wait on the run through the webserver's GraphQL API: a page reload every few seconds would take a core
        # from the run it watches. Then the run list, once, as a user sees it.
        from flywheel.launch import DagsterAPI

        api, status = DagsterAPI(url), None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            runs = api.query("{ runsOrError { ... on Runs { results { status } } } }")["runsOrError"]["results"]
            status = runs[0]["status"] if runs else None
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                break
            time.sleep(1)
        page.goto(f"{url}/runs")
        expect(page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$")).first).to_be_visible(timeout=60_000)
        body = page.inner_text("body")
        assert status == "SUCCESS" and re.search(r"\bSuccess\b", body), f"the round's run ended {status}:\n{body[-2000:]}"
        assert "Failure" not in body and "Canceled" not in body, body[-2000:]

        # The metrics asset shows the stop decision and, behind its markdown button, the chart.
        page.goto(f"{url}/assets/round_metrics?view=events&partition=1")
        expect(page.get_by_text(re.compile(r"^(CONTINUE|STOP)"))).to_be_visible(timeout=60_000)
        page.get_by_text("[Show Markdown]").first.click()
        chart = page.locator("img[src^='data:image/png;base64']")
        expect(chart).to_have_count(1, timeout=30_000)
        assert chart.evaluate("img => img.naturalWidth") > 500

    _, rows = Store(workdir / "flywheel.duckdb").query("SELECT round, stop, stop_reason FROM round_metrics")
    assert len(rows) == 1 and rows[0][0] == 1 and rows[0][2]
