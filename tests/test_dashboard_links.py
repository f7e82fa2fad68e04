"""Every link the dashboard pages write is http(s): a ``javascript:`` URL from a query file or
from the index is shown as text, never as an ``href`` (a page written to a file has no CSP
header to stop it running)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from markupsafe import escape

from bot.bugs import Bug
from bot.dashboard.graph import FAILURE, BugGraph, GraphData, Series, Window
from bot.dashboard.render import render_bugs_page, render_uncategorized
from bot.intel.uncategorized import JobFailures, UncatBuild, UncatReport
from bot.queries import Query

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
HOSTILE = ("javascript:alert(document.domain)", "JAVASCRIPT:alert(1)", "data:text/html,<b>x</b>")
SAFE = re.compile(r"(https?://|static/|#|[a-z]+\.(html|json)$|bug/[\w.+-]+$)")


def hrefs(page: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', page)


def uncat_report(log_url: str) -> UncatReport:
    build = UncatBuild("u1", "tempest-full", "openstack/nova", log_url, NOW, "4711", "2")
    job = JobFailures("tempest-full", 1, (build,))
    return UncatReport(NOW, 10, None, 1, 0, (job,), ())


def bugs_data(url: str) -> GraphData:
    query = Query(id="1001", lucene='message:"x"', bug=Bug("launchpad", "1001", url, "nova"))
    top: dict[str, tuple[tuple[str, int], ...]] = {"jobs": (), "projects": (), "queues": ()}
    graph = BugGraph(query, query.lucene, None, 1, 1, {FAILURE: 1}, (Series(FAILURE, ()),), top)
    return GraphData(Window(NOW_MS), None, NOW_MS, "green", (graph,))


@pytest.mark.parametrize("url", HOSTILE)
def test_the_uncategorized_page_links_only_http_log_urls(url: str) -> None:
    page = render_uncategorized(uncat_report(url))
    assert all(SAFE.match(href) for href in hrefs(page)), hrefs(page)
    assert "alert" not in " ".join(hrefs(page))
    assert str(escape(url)) in page  # still shown, as text


def test_the_uncategorized_page_keeps_http_log_links() -> None:
    url = "https://logs.example.org/11/4711/2/gate/tempest-full/abc1234/"
    assert url in hrefs(render_uncategorized(uncat_report(url)))


@pytest.mark.parametrize("url", HOSTILE)
def test_the_bugs_page_links_only_http_tracker_and_kibana_urls(url: str) -> None:
    page = render_bugs_page(bugs_data(url), page="index.html", data_file="graph.json", kibana=url)
    assert all(SAFE.match(href) for href in hrefs(page)), hrefs(page)
    assert "launchpad 1001" in page  # the bug is still named, just not linked
    assert "not filed" not in page


def test_the_bugs_page_keeps_http_links() -> None:
    url = "https://bugs.launchpad.net/bugs/1001"
    page = render_bugs_page(
        bugs_data(url), page="index.html", data_file="graph.json", kibana="https://k.example"
    )
    assert hrefs(page).count(url) == 1  # the card's title links the bug's page
    assert hrefs(page).count("bug/1001") == 2
    assert any(href.startswith("https://k.example/app/discover") for href in hrefs(page))


def test_pages_carry_their_own_content_security_policy() -> None:
    page = render_uncategorized(uncat_report("https://logs.example.org/x/"))
    assert '<meta http-equiv="Content-Security-Policy"' in page
    assert "script-src 'self'" in page
