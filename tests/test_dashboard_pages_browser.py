"""Acceptance: the list, a bug's page, the uncategorized page and the Tests page in headless
Chromium, at a desktop width (1400 px) and a phone's (420 px).

The dashboard is built by the real builder from the graph data set on osmem, with the bot's
journal (a real state file: a judged build with the lines it matched, and the hand-counted
impact history), Kibana links and test results (tempest's long test ids, a query naming two of
them), then served by the dashboard server. On every page and width:
no horizontal overflow, every link resolves (local ones answer 200, outside ones are well-formed
https), and a screenshot is kept: under ``$RECHECKBOT_ARTEFACTS``, else ``artefacts/`` at the
repository root with ``CI=true``, else the test's own folder (the path is printed).
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

from bot.config import DashboardSettings, SearchSettings
from bot.dashboard.build import DashboardBuilder
from bot.dashboard.server import DashboardServer
from bot.impact_store import ImpactJournal
from bot.intel.impact import gather_impact
from bot.queries import Query
from bot.search.indexing import bulk_index
from bot.search.lines import LogLine
from bot.search.opensearch import OpenSearchBackend
from bot.state import StateStore
from bot.state.evidence import Matched
from bot.watch.evidence import bug_evidence
from tests.support.browser import browser
from tests.support.builds import failed_build
from tests.support.graph import QUERIES, bug, index_graph_data
from tests.support.impact import FACTS, NOW, journal_facts, shifted
from tests.support.paths import ROOT, require_program
from tests.support.subunit import Run, all_docs

WIDTHS = (1400, 420)
PAGES = {
    "list": "/",
    "bug": "/bug/1001",
    "uncategorized": "/uncategorized.html",
    "tests": "/tests.html",
    "bug-tests": "/bug/1006",
}
MATCHED_LINE = "ERROR: disk quota exceeded on node <controller>"
FIP = "tempest.api.network.test_floating_ips.FloatingIPTestJSON"
LONG = f"{FIP}.test_create_list_show_update_delete_floating_ip"
SCENARIO = "tempest.scenario.test_network_basic_ops.TestNetworkBasicOps.test_network_basic_ops"
SERVER = "tempest.api.compute.servers.test_servers.ServersTestJSON.test_create_server"
FAIL, OK = ("fail", 20.0), ("success", 12.0)
DAY = timedelta(days=1)
#: Test results over a few days: LONG fails often, the scenario goes green on a recheck.
RUNS = [
    Run(1, "tempest-full", 300, 1, 4 * DAY, {LONG: FAIL, SCENARIO: FAIL, SERVER: OK}),
    Run(2, "tempest-full", 300, 1, 3 * DAY, {LONG: FAIL, SCENARIO: OK, SERVER: OK}),
    Run(3, "grenade", 301, 2, 2 * DAY, {LONG: FAIL, SCENARIO: OK, SERVER: FAIL}),
    Run(4, "tempest-full", 302, 1, DAY, {LONG: OK, SCENARIO: FAIL}, project="openstack/neutron"),
    Run(5, "grenade", 303, 1, DAY / 2, {LONG: FAIL, SCENARIO: OK, SERVER: OK}),
]
#: A query naming tests (its page lists them): one that failed, one that never ran.
NAMING = bug("1006", 'message:"floating ip"', test_ids=(LONG, f"{FIP}.test_floating_ip_update"))


def artefacts(tmp_path: Path) -> Path:
    """Where the screenshots go (see the module docstring)."""
    if folder := os.environ.get("RECHECKBOT_ARTEFACTS"):
        path = Path(folder)
    elif os.environ.get("CI") == "true":
        path = ROOT / "artefacts"
    else:
        path = tmp_path / "artefacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def journal(folder: Path) -> tuple[StateStore, ImpactJournal]:
    """A state file with one judged build whose grenade job matched query 1001 on a line, and
    the impact history of tests/support/impact.py moved up to now."""
    path = folder / "state.sqlite"
    state = await StateStore.open(path)
    build = failed_build(
        "grenade",
        change="900123",
        patchset="4",
        change_url="https://review.example.org/c/openstack/nova/+/900123",
        created=time.time() - 600,
    )
    await state.add_build(build)
    line = LogLine(MATCHED_LINE, "job-output.txt", "https://logs.example.org/x/job-output.txt")
    verdict = {"jobs": [{"name": "grenade", "bugs": [], "url": None}], "not_ready": []}
    await state.save_verdict(build.key, verdict, {"grenade": [Matched("1001", "1001", (line,))]})
    impact = await ImpactJournal.open(path)
    await journal_facts(impact, shifted(FACTS, time.time() - NOW))
    return state, impact


def page_facts(driver: Any) -> dict[str, Any]:
    """What the page shows: its width against the window's, its links, its chart's labels."""
    return driver.execute_script(
        """
        const doc = document.documentElement;
        const texts = (sel) => Array.from(document.querySelectorAll(sel), (e) => e.textContent);
        return {
          scroll: doc.scrollWidth, inner: window.innerWidth,
          links: Array.from(document.querySelectorAll("a[href]"), (a) => a.getAttribute("href")),
          xLabels: texts(".tchart svg.plot text.tick-label"),
          yLabels: texts(".tchart svg.y-axis text.tick-label"),
          legend: texts("ul.chart-legend li"),
          fills: Array.from(new Set(Array.from(
            document.querySelectorAll("#chart svg.plot rect.bar"), (r) => r.getAttribute("fill")))),
          wide: Array.from(document.querySelectorAll("body *"))
            .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(0, 5).map((e) => e.tagName + "." + e.className),
        };
        """
    )


def drive(chromium: str, chromedriver: str, url: str, tmp: Path, shots: Path) -> dict[str, Any]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser(chromium, chromedriver, tmp / "profile")
    seen: dict[str, Any] = {}
    try:
        for width in WIDTHS:
            driver.set_window_size(width, 1000)
            for name, path in PAGES.items():
                driver.get(url + path)
                WebDriverWait(driver, 10).until(
                    lambda d: d.execute_script("return document.readyState") == "complete"
                )
                if name in ("list", "tests"):
                    element = "bugs" if name == "list" else "tests"
                    WebDriverWait(driver, 10).until(
                        lambda d, e=element: d.find_element(By.ID, e).get_attribute("data-ready")
                    )
                facts = page_facts(driver)
                facts["url"] = driver.current_url
                shot = shots / f"dashboard-{name}-{width}.png"
                full = driver.execute_script("return document.documentElement.scrollHeight")
                driver.set_window_size(width, min(max(1000, full + 140), 6000))
                driver.save_screenshot(str(shot))
                driver.set_window_size(width, 1000)
                facts["shot"] = shot
                seen[f"{name}@{width}"] = facts
        seen["tests filtered"] = filtered_tests(driver, url)
    finally:
        driver.quit()
    return seen


def filtered_tests(driver: Any, url: str) -> dict[str, Any]:
    """What the Tests page shows with a job filter, then with the flaky ones only (its hash)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    shown = {}
    for view in ("job=grenade", "flaky=1", "job=grenade&flaky=1", "job=nosuch"):
        driver.get(f"{url}/tests.html#{view}")
        driver.refresh()  # a new hash alone does not reload the page
        WebDriverWait(driver, 10).until(
            lambda d: d.find_element(By.ID, "tests").get_attribute("data-ready")
        )
        shown[view] = driver.execute_script(
            """
            const rows = Array.from(document.querySelectorAll("li.test"));
            return {names: rows.filter((r) => !r.hidden).map((r) => r.dataset.name),
                    count: document.getElementById("count").textContent,
                    job: document.getElementById("f-job").value,
                    flaky: document.getElementById("f-flaky").checked};
            """
        )
    return shown


def status_of(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:
        return int(response.status)


async def test_pages_in_chromium_at_two_widths(
    search_settings: SearchSettings, tmp_path: Path
) -> None:
    chromium = require_program("chromium")
    chromedriver = require_program("chromedriver")
    pytest.importorskip("selenium")
    state, impact = await journal(tmp_path)
    backend = OpenSearchBackend(search_settings)
    try:
        await index_graph_data(backend)
        await bulk_index(backend.client, all_docs(RUNS))
        queries: tuple[Query, ...] = (*QUERIES, NAMING)
        builder = DashboardBuilder(
            tmp_path / "site",
            backend,
            lambda: queries,
            kibana="https://kibana.example",
            impact=functools.partial(gather_impact, impact),
            evidence=functools.partial(bug_evidence, state),
        )
        for part in builder.parts:
            await builder.build_part(part)
    finally:
        await backend.close()
        await state.close()
        await impact.close()
    server = DashboardServer(DashboardSettings(port=0), tmp_path / "site")
    await server.start()
    shots = artefacts(tmp_path)
    try:
        seen = await asyncio.to_thread(drive, chromium, chromedriver, server.url, tmp_path, shots)
        filtered = seen.pop("tests filtered")
        local = sorted(
            {
                urljoin(facts["url"], href).split("#")[0]
                for facts in seen.values()
                for href in facts["links"]
                if not href.startswith("https://")
            }
        )
        statuses = {link: await asyncio.to_thread(status_of, link) for link in local}
    finally:
        await server.close()

    print("screenshots:", *sorted(str(f["shot"]) for f in seen.values()))
    for key, facts in seen.items():
        assert facts["scroll"] <= facts["inner"], (key, facts["scroll"], facts["wide"])
        assert facts["links"], key
        for href in facts["links"]:
            if href.startswith("https://"):
                parts = urlsplit(href)
                assert parts.netloc, (key, href)
                assert " " not in href, (key, href)
            else:
                assert not urlsplit(href).scheme, (key, href)  # no http:, javascript:, data:
        assert facts["shot"].stat().st_size > 10_000, key
    assert statuses
    assert set(statuses.values()) == {200}, statuses
    assert any(link.endswith("/bug/1001") for link in statuses)

    for width in WIDTHS:
        bug = seen[f"bug@{width}"]
        # Dated x labels ("Nov 12"), a y scale from 0, and two results or more in the legend.
        assert any(label[:3].isalpha() and label[-2:].isdigit() for label in bug["xLabels"])
        assert bug["yLabels"][0] == "0"
        assert int(bug["yLabels"][-1]) > 0
        assert {"FAILURE", "SUCCESS"} <= {item.split()[0] for item in bug["legend"]}
        assert len(bug["fills"]) >= 2  # two series drawn
        cards = seen[f"list@{width}"]
        assert any(label[:3].isalpha() for label in cards["xLabels"])
    assert "bug/1001" in seen["list@1400"]["links"]  # the cards link their pages
    for width in WIDTHS:
        tests = seen[f"tests@{width}"]
        # A dated chart per failing test (LONG, the scenario, the server test), on one scale.
        assert sum(label == "0" for label in tests["yLabels"]) == 3
        assert any(label[:3].isalpha() and label[-2:].isdigit() for label in tests["xLabels"])
        assert "bug/1006" in tests["links"]  # LONG names its known bug
    # Every page's navigation links the Tests page.
    assert all(any(h.endswith("tests.html") for h in f["links"]) for f in seen.values())
    # The filters: the tests that failed in grenade (LONG in 3 and 5, the server test in 3),
    # the flaky ones (the scenario: 1 failed, 2 passed), both, and a job that is no option.
    assert filtered["job=grenade"]["names"] == [LONG, SERVER]
    assert filtered["job=grenade"]["count"] == "2 of 3 tests"
    assert filtered["flaky=1"]["names"] == [SCENARIO]
    assert filtered["flaky=1"]["flaky"] is True
    assert filtered["job=grenade&flaky=1"]["names"] == []
    assert (filtered["job=nosuch"]["job"], filtered["job=nosuch"]["count"]) == ("", "3 tests")
