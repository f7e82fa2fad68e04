"""The served dashboard in headless Chromium (Selenium): charts drawn, rows sorted and filtered.

Selenium is synchronous, so the browser is driven from a thread while the dashboard server runs
on the test's event loop.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bot.config import DashboardSettings, SearchSettings
from bot.dashboard.server import DashboardServer
from bot.search.opensearch import OpenSearchBackend
from tests.support.browser import browser
from tests.support.graph import QUERIES, build_dashboard, index_graph_data
from tests.support.paths import require_program


def pick_job(buglist: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """A job that some bugs failed in and others did not, and those bugs (in page order)."""
    jobs = sorted({name for b in buglist for name, _ in b["top"]["jobs"]})
    for job in jobs:
        having = [b["number"] for b in buglist if job in {n for n, _ in b["top"]["jobs"]}]
        if 0 < len(having) < len(buglist):
            return job, having
    raise AssertionError("the dataset has no job that splits the bugs")


def drive(chromium: str, chromedriver: str, url: str, tmp: Path) -> dict[str, Any]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    buglist = json.loads((tmp / "site" / "data" / "all.json").read_text())["buglist"]
    job, with_job = pick_job(buglist)
    driver = browser(chromium, chromedriver, tmp / "profile")
    seen: dict[str, Any] = {
        "job": job,
        "with_job": with_job,
        "order": [b["number"] for b in buglist],
    }
    try:
        driver.get(url + "/")
        WebDriverWait(driver, 10).until(
            lambda d: d.find_element(By.ID, "bugs").get_attribute("data-ready") == "true"
        )

        def visible() -> list[str]:
            rows = driver.find_elements(By.CSS_SELECTOR, "li.bug")
            return [r.get_attribute("data-id") for r in rows if r.is_displayed()]

        seen["initial"] = visible()
        first = driver.find_element(By.CSS_SELECTOR, "li.bug")
        bars = first.find_elements(By.CSS_SELECTOR, ".tchart svg.plot rect.bar")
        seen["fail_bars"] = len([bar for bar in bars if float(bar.get_attribute("height")) > 0])
        seen["chart_size"] = first.find_element(By.CSS_SELECTOR, ".tchart svg.plot").size
        driver.save_screenshot(str(tmp / "dashboard.png"))

        Select(driver.find_element(By.ID, "f-job")).select_by_visible_text(job)
        seen["filtered"] = visible()
        seen["count"] = driver.find_element(By.ID, "count").text
        seen["hash"] = driver.execute_script("return location.hash")
        seen["marked"] = [
            chip.text
            for chip in driver.find_elements(By.CSS_SELECTOR, "ul.jobs li.match")
            if chip.is_displayed()
        ]
        driver.save_screenshot(str(tmp / "dashboard-filtered.png"))

        Select(driver.find_element(By.ID, "f-sort")).select_by_value("id")
        seen["by_id"] = visible()
        driver.get(url + "/uncategorized.html")
        seen["uncat_rate"] = driver.find_element(By.ID, "overall-rate").text
        driver.save_screenshot(str(tmp / "uncategorized.png"))
    finally:
        driver.quit()
    return seen


async def test_dashboard_in_chromium(search_settings: SearchSettings, tmp_path: Path) -> None:
    chromium = require_program("chromium")
    chromedriver = require_program("chromedriver")
    pytest.importorskip("selenium")
    backend = OpenSearchBackend(search_settings)
    try:
        await index_graph_data(backend)
        await build_dashboard(tmp_path / "site", backend, QUERIES)
    finally:
        await backend.close()
    server = DashboardServer(DashboardSettings(port=0), tmp_path / "site")
    await server.start()
    try:
        seen = await asyncio.to_thread(drive, chromium, chromedriver, server.url, tmp_path)
    finally:
        await server.close()

    assert seen["initial"] == seen["order"]  # ER's order: fails24, then fails
    assert len(seen["initial"]) == 4
    assert seen["fail_bars"] > 0
    assert seen["chart_size"]["width"] > 100
    assert seen["filtered"] == seen["with_job"]
    assert seen["count"] == f"{len(seen['with_job'])} of 4 bugs"
    assert seen["hash"] == f"#job={seen['job']}"
    assert set(seen["marked"]) <= {seen["job"] + " " + str(n) for n in range(1000)}
    assert len(seen["marked"]) == len(seen["with_job"])
    assert seen["by_id"] == sorted(seen["with_job"])
    assert seen["uncat_rate"].endswith("%")
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    print(f"screenshots: {tmp_path / 'dashboard.png'} {tmp_path / 'dashboard-filtered.png'}")
