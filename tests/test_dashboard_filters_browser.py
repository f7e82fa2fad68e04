"""The list page's filters in headless Chromium: the state comes from the URL hash alone, a job
filter redraws each card's numbers and chart for that job (on one scale for the cards shown),
and the text box searches the query text too.

The numbers expected are counted here from the documents of the graph data set, with the
window the build used (graph.json's ``now``).
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.config import DashboardSettings, SearchSettings
from bot.dashboard.graph import DAY_MS, FAILURE, STEP_MS, Window
from bot.dashboard.server import DashboardServer
from bot.dashboard.svg import nice_top
from bot.search.opensearch import OpenSearchBackend
from tests.support.browser import browser
from tests.support.graph import QUERIES, build_dashboard, index_graph_data, matches
from tests.support.paths import require_program

CARDS = """
return Array.from(document.querySelectorAll("li.bug")).filter((li) => !li.hidden).map((li) => ({
  id: li.dataset.id,
  fails24: li.querySelector(".numbers .fails24").textContent,
  fails: li.querySelector(".numbers .fails").textContent,
  values: Array.from(li.querySelectorAll("svg.plot text.val"), (t) => Number(t.textContent)),
  top: li.querySelector("text.y-top").textContent,
}));
"""


def ts_ms(doc: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(doc["@timestamp"]).timestamp() * 1000)


def job_cards(docs: list[dict[str, Any]], job: str, window: Window) -> dict[str, dict[str, Any]]:
    """Per bug failing in ``job``: its failed builds there per day and in the last 23 hours."""
    cards = {}
    for query in QUERIES:
        hours: dict[int, set[str]] = defaultdict(set)
        for d in docs:
            when = ts_ms(d)
            failed = d["build_status"] == FAILURE and d["build_name"] == job
            if failed and matches(query, d) and window.start_ms <= when < window.hour_ms:
                hours[when - when % STEP_MS].add(d["build_uuid"])
        if not hours or query.suppress_graph:
            continue
        days = [0] * window.days
        for hour, uuids in hours.items():
            days[(hour - window.start_ms) // DAY_MS] += len(uuids)
        day_ago = window.hour_ms - DAY_MS
        cards[query.id] = {
            "days": days,
            "fails24": sum(len(u) for hour, u in hours.items() if hour > day_ago),
        }
    return cards


def pick_job(buglist: list[dict[str, Any]]) -> str:
    """A job some bugs failed in and others did not."""
    for job in sorted({name for b in buglist for name, _ in b["top"]["jobs"]}):
        having = [b for b in buglist if job in dict(b["top"]["jobs"])]
        if 0 < len(having) < len(buglist):
            return job
    raise AssertionError("the dataset has no job that splits the bugs")


def drive(chromium: str, chromedriver: str, url: str, tmp: Path, job: str) -> dict[str, Any]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser(chromium, chromedriver, tmp / "profile")
    seen: dict[str, Any] = {}
    try:
        driver.get(f"{url}/#job={job}")
        WebDriverWait(driver, 10).until(
            lambda d: d.find_element(By.ID, "bugs").get_attribute("data-ready") == "true"
        )
        seen["job"] = driver.execute_script(CARDS)
        seen["legend"] = driver.find_element(By.ID, "legend-job").is_displayed()

        def at(hash_: str) -> dict[str, Any]:
            driver.execute_script("location.hash = arguments[0]", hash_)
            WebDriverWait(driver, 10).until(  # the hashchange handler has drawn it
                lambda d: d.find_element(By.ID, "bugs").get_attribute("data-hash") == hash_
            )
            return {
                "cards": [card["id"] for card in driver.execute_script(CARDS)],
                "job": driver.find_element(By.ID, "f-job").get_attribute("value"),
                "text": driver.find_element(By.ID, "f-text").get_attribute("value"),
                "count": driver.find_element(By.ID, "count").text,
            }

        seen["q"] = at("#q=1001")
        seen["words"] = at("#q=" + "mirror%20unreachable")
        seen["none"] = at("#sort=id")
        seen["all"] = driver.execute_script(CARDS)
    finally:
        driver.quit()
    return seen


async def test_filters_follow_the_hash_and_redraw_for_a_job(
    search_settings: SearchSettings, tmp_path: Path
) -> None:
    chromium = require_program("chromium")
    chromedriver = require_program("chromedriver")
    pytest.importorskip("selenium")
    backend = OpenSearchBackend(search_settings)
    try:
        docs = await index_graph_data(backend)
        await build_dashboard(tmp_path / "site", backend, QUERIES)
    finally:
        await backend.close()
    graph = json.loads((tmp_path / "site" / "data" / "all.json").read_text())
    job = pick_job(graph["buglist"])
    server = DashboardServer(DashboardSettings(port=0), tmp_path / "site")
    await server.start()
    try:
        seen = await asyncio.to_thread(drive, chromium, chromedriver, server.url, tmp_path, job)
    finally:
        await server.close()

    want = job_cards(docs, job, Window(graph["now"], graph["days"]))
    fails = {b["number"]: dict(b["top"]["jobs"]).get(job) for b in graph["buglist"]}
    assert sorted(card["id"] for card in seen["job"]) == sorted(want)
    top = nice_top(max(max(card["days"]) for card in want.values()))
    for card in seen["job"]:
        expected = want[card["id"]]
        assert card["fails24"] == str(expected["fails24"]), card
        assert card["fails"] == f"{fails[card['id']]} in 10 d", card
        assert card["values"] == expected["days"], card  # the chart is the job's
        assert card["top"] == str(top)  # one scale for the cards shown
    assert seen["legend"]

    # Moving to a hash that names no job clears the job filter.
    assert seen["q"] == {"cards": ["1001"], "job": "", "text": "1001", "count": "1 of 4 bugs"}
    assert seen["words"]["cards"] == ["1002"]  # found by its query text: it has no title
    assert seen["none"]["text"] == ""
    assert seen["none"]["count"] == "4 bugs"
    by_bug = {b["number"]: b for b in graph["buglist"]}
    for card in seen["all"]:  # the bugs' own numbers again
        assert card["fails24"] == str(by_bug[card["id"]]["fails24"])
