"""A page per bug: what it shows (tracker, chart, builds, lines, impact, links), that nothing in
it runs (titles, log lines and URLs come from anyone's change), how the builder writes and prunes
the pages, and how the server serves them at ``/bug/<id>``."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from markupsafe import escape

from bot.bugs import Bug, Target
from bot.config import DashboardSettings
from bot.dashboard.bugpage import render_bug_page
from bot.dashboard.build import DashboardBuilder
from bot.dashboard.details import Details, LatestBuild
from bot.dashboard.graph import FAILURE, STEP_MS, BugGraph, GraphData, Series, Window
from bot.dashboard.links import bug_page_file, bug_page_href
from bot.dashboard.server import DashboardServer
from bot.events.model import FailedBuild, Job
from bot.intel.impact import impact_report
from bot.queries import Query
from bot.search.lines import LogLine
from bot.search.opensearch import OpenSearchBackend
from bot.state.evidence import Matched, Sighting
from tests.support.graph import QUERIES, REVIEW_HOST, index_graph_data
from tests.support.impact import FACTS
from tests.support.impact import NOW as IMPACT_NOW

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
WINDOW = Window(int(NOW.timestamp() * 1000))
HOSTILE_URL = "javascript:alert(document.domain)"
HOSTILE_TEXT = '<img src=x onerror="alert(1)">'


def hrefs(page: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', page)


def a_bug(*, described: Bug | None, title: str = "Disk quota", job: str = "grenade") -> BugGraph:
    ref = Bug("launchpad", "1001", "https://bugs.launchpad.net/bugs/1001", "nova")
    query = Query(id="1001", lucene='message:"disk quota"', bug=ref, title=title, owner="qa")
    hours = WINDOW.buckets()
    failed = tuple((key, 1 if n % 24 == 0 else 0) for n, key in enumerate(hours))
    passed = tuple((key, 2 if n % 48 == 0 else 0) for n, key in enumerate(hours))
    latest = LatestBuild(
        "abc", job, "openstack/nova", "gate", "4711", "2", HOSTILE_URL, HOSTILE_URL, WINDOW.now_ms
    )
    details = Details(
        first_seen_ms=WINDOW.start_ms + STEP_MS,
        last_seen_ms=WINDOW.hour_ms - STEP_MS,
        latest=(latest,),
        job_hours={job: tuple((key, n) for key, n in failed if n)},
    )
    return BugGraph(
        query=query,
        lucene=query.effective,
        bug=described,
        fails=10,
        fails24=1,
        builds={FAILURE: 10, "SUCCESS": 10},
        series=(Series(FAILURE, failed), Series("SUCCESS", passed)),
        top={"jobs": ((job, 10),), "projects": (("openstack/nova", 10),), "queues": (("gate", 7),)},
        details=details,
    )


def sighting(message: str, url: str, change_url: str | None) -> Sighting:
    build = FailedBuild(
        "opendev",
        "openstack/nova",
        "4711",
        "2",
        "gate",
        (Job("grenade", "FAILURE", url),),
        change_url=change_url,
    )
    line = LogLine(message, "job-output.txt", url, "2026-11-20T11:00:00Z")
    return Sighting("k", build, "grenade", NOW.timestamp(), Matched("1001", "1001", (line,)))


def page_of(bug: BugGraph, sightings: Sequence[Sighting] | None = None, **kw: object) -> str:
    data = GraphData(WINDOW, None, WINDOW.now_ms, "green", (bug,))
    return render_bug_page(bug, data, sightings=sightings, **kw)  # type: ignore[arg-type]


def test_the_page_shows_the_tracker_chart_builds_lines_and_query() -> None:
    told = Bug("launchpad", "1001", "https://bugs.launchpad.net/bugs/1001", "nova").described(
        title="Disk quota exceeded on the nodes",
        status="Fix Released",
        closed=True,
        targets=(Target("nova", "Fix Released"),),
    )
    good = sighting(
        "ERROR: disk quota exceeded",
        "https://logs.example.org/1/job-output.txt",
        "https://review.example.org/c/openstack/nova/+/4711",
    )
    page = page_of(a_bug(described=told), [good], kibana="https://kibana.example")
    assert "Disk quota exceeded on the nodes" in page  # the tracker's title, not the file's
    assert 'id="bug-status">Fix Released<' in page
    assert "affects (nova - Fix Released)" in page
    assert re.search(r'<text [^>]*class="tick-label">Nov \d\d</text>', page)  # dated x axis
    assert 'data-series="FAILURE"' in page
    assert 'data-series="SUCCESS"' in page
    assert 'id="first-seen">2026-11-10 13:00 UTC<' in page
    assert "ERROR: disk quota exceeded" in page
    assert "https://review.example.org/c/openstack/nova/+/4711" in hrefs(page)
    assert any(h.startswith("https://kibana.example/app/discover#/") for h in hrefs(page))
    assert "../static/dashboard.css" in hrefs(page)  # the page lives one folder down
    assert "../index.html#q=1001" in hrefs(page)
    assert "What it cost" not in page  # no impact figures without the journal's


def test_nothing_in_the_page_runs() -> None:
    hostile = sighting(f"ERROR {HOSTILE_TEXT}", HOSTILE_URL, HOSTILE_URL)
    page = page_of(a_bug(described=None, title=HOSTILE_TEXT, job=HOSTILE_TEXT), [hostile])
    assert "<img" not in page
    assert str(escape(HOSTILE_TEXT)) in page  # shown, as text
    assert all(not h.startswith(("javascript:", "data:")) for h in hrefs(page)), hrefs(page)
    assert "alert" not in " ".join(hrefs(page))
    assert "the tracker did not answer" in page


def test_without_a_journal_the_page_says_where_the_lines_come_from() -> None:
    assert "built without one" in page_of(a_bug(described=None), None)
    assert "has judged no failed build" in page_of(a_bug(described=None), [])


def test_page_files_are_ids_that_can_be_paths() -> None:
    assert bug_page_file("1541364") == "bug/1541364.html"
    assert bug_page_file("OSPRH-77") == "bug/OSPRH-77.html"
    assert bug_page_file("gh-org-repo-12") == "bug/gh-org-repo-12.html"
    for bad in ("../x", ".hidden", "a/b", "a b", "", "x.html", "é"):
        assert bug_page_file(bad) is None, bad
        assert bug_page_href(bad) == ""
    assert bug_page_href("OSPRH-77", "../") == "../bug/OSPRH-77"


class Journal:
    """The bot's journal as the builder reads it: the lines of 1001, or a broken file."""

    def __init__(self, broken: bool = False) -> None:
        self.broken = broken
        self.asked: list[str] = []

    async def __call__(self, query_id: str) -> Sequence[Sighting]:
        self.asked.append(query_id)
        if self.broken:
            raise sqlite3.DatabaseError("file is not a database")
        if query_id != "1001":
            return []
        return [sighting("ERROR: disk quota exceeded", "https://logs.example.org/a", None)]


async def test_builder_writes_a_page_per_query_and_removes_old_ones(
    search: OpenSearchBackend, tmp_path: Path
) -> None:
    await index_graph_data(search)
    site = tmp_path / "site"
    (site / "bug").mkdir(parents=True)
    (site / "bug" / "999.html").write_text("a query gone from the repository")
    journal = Journal()
    builder = DashboardBuilder(site, search, lambda: QUERIES, evidence=journal)
    await builder.build_part("gate")
    assert sorted(p.name for p in (site / "bug").iterdir()) == ["999.html"]  # gate: no pages
    await builder.build_part("all")
    names = sorted(p.name for p in (site / "bug").iterdir())
    assert names == ["1001.html", "1002.html", "1003.html", "1004.html", "1005.html"]
    assert sorted(journal.asked) == ["1001", "1002", "1003", "1004", "1005"]  # one read each
    page = (site / "bug" / "1001.html").read_text()
    assert "ERROR: disk quota exceeded" in page
    assert f"{REVIEW_HOST}/c/openstack/nova/+/" in page  # the latest builds' changes
    assert "not on the list (suppress-graph)" in (site / "bug" / "1003.html").read_text()
    assert 'href="bug/1001"' in (site / "index.html").read_text()

    await DashboardBuilder(site, search, lambda: QUERIES, evidence=Journal(broken=True)).build_part(
        "all"
    )
    assert "built without one" in (site / "bug" / "1001.html").read_text()


async def test_the_server_serves_pages_at_bug_id(search: OpenSearchBackend, tmp_path: Path) -> None:
    await index_graph_data(search)
    site = tmp_path / "site"
    server = DashboardServer(DashboardSettings(port=0), site)
    await server.start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            async with session.get(server.url + "/bug/1001") as response:
                assert response.status == 503  # nothing built yet
            await DashboardBuilder(site, search, lambda: QUERIES).build_part("all")
            for path in ("/bug/1001", "/bug/1001.html"):
                async with session.get(server.url + path) as response:
                    assert response.status == 200, path
                    assert "Builds the query hit" in await response.text()
                    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
            async with session.get(server.url + "/bug/1001/", allow_redirects=False) as response:
                assert response.status == 301
                assert response.headers["Location"] == "../1001"
            for path in ("/bug/999", "/bug/.1001", "/bug/a%20b", "/bug/1001.html.tmp"):
                async with session.get(server.url + path) as response:
                    assert response.status == 404, path
            async with session.get(server.url + "/bug/999") as response:
                assert "no such query" in await response.text()
    finally:
        await server.close()


def test_impact_figures_per_window_and_nothing_yet() -> None:
    report = impact_report(FACTS, IMPACT_NOW)  # bug A is launchpad:1001, hand-counted
    bug = a_bug(described=None)
    data = GraphData(WINDOW, None, WINDOW.now_ms, "green", (bug,), impact=report)
    page = render_bug_page(bug, data, rank=2)
    table = page.split('id="impact-table"')[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>([^<]+)</td>(.*?)</tr>", table, re.DOTALL)
    cells = {name: re.findall(r'<td class="n">([^<]*)</td>', row) for name, row in rows}
    assert re.findall(r'<th class="n">(\d+) d</th>', table) == ["1", "7", "10"]
    # 7 days: 4 failed builds, 3 changes, 2 rechecks, 3000 s of CI, 1 gate failure.
    assert cells == {
        "failed builds": ["2", "4", "4"],
        "changes hit": ["1", "3", "3"],
        "rechecks": ["2", "2", "2"],
        "CI time": ["45 min", "50 min", "50 min"],
        "gate failures": ["0", "1", "1"],
        "score (CI hours)": ["2.75", "5.83", "5.83"],
    }
    assert "Rank by impact: <b>2</b>" in page

    other = replace(bug, query=replace(bug.query, bug=Bug("jira", "X-1", "https://j/browse/X-1")))
    page = render_bug_page(other, replace(data, bugs=(other,)), rank=3)
    assert "Nothing yet: no failed build the bot judged in 10 days named this bug." in page
    assert "Rank by impact" not in page
