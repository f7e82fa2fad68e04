"""The uncategorized page as the dashboard builds it: changes linked to their reviews, times in
UTC, the known bugs linked to their pages, and each build's error lines, collapsed; built on
osmem from the graph data set and checked against its documents."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from markupsafe import escape

from bot.dashboard.build import DashboardBuilder
from bot.dashboard.render import KnownBug, render_uncategorized
from bot.intel.uncategorized import JobFailures, UncatBuild, UncatReport
from bot.search.lines import LogLine
from tests.support.graph import QUERIES, REVIEW_HOST

NOW = datetime(2026, 12, 3, 14, 5, 59, tzinfo=UTC)


def visible_text(page: str) -> str:
    """The page without its tags and attributes (what a reader sees)."""
    return re.sub(r"<[^>]*>", " ", page)


async def test_built_page_links_changes_bugs_and_shows_lines(
    graph_search: Any, tmp_path: Path
) -> None:
    backend, docs = graph_search
    site = tmp_path / "site"
    await DashboardBuilder(site, backend, lambda: QUERIES).build_part("uncategorized")
    page = (site / "uncategorized.html").read_text()
    shown = re.findall(r'<li data-uuid="([^"]+)">(.*?)</li>\n', page, re.DOTALL)
    assert shown
    by_uuid: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_uuid.setdefault(doc["build_uuid"], []).append(doc)
    with_errors = 0
    for uuid, item in shown:
        build_docs = by_uuid[uuid]
        first = build_docs[0]
        if "change_url" in first:  # logsender's layout names the review
            want = f'href="{REVIEW_HOST}/c/{first["project"]}/+/{first["build_change"]}"'
            assert want in item, uuid
            assert f">{first['build_change']},{first['build_patchset']}</a>" in item
        assert re.search(r"<time [^>]*>\d{4}-\d\d-\d\d \d\d:\d\d UTC</time>", item), item
        errors = [d["message"] for d in build_docs if d["message"].startswith("ERROR")]
        if errors:
            with_errors += 1
            summary = re.search(r"<summary><code>(.*?)</code></summary>", item)
            assert summary, item
            assert summary.group(1) in errors
    assert with_errors > 0
    assert not re.search(r"\d\dT\d\d:\d\d", visible_text(page))  # no ISO "T" for people
    hits = re.findall(r'<li><a href="(bug/\d+)">(\d+)</a>', page)
    assert hits
    assert all(href == f"bug/{qid}" for href, qid in hits)
    assert "Disk quota &lt;exceeded&gt; on nodes" in page  # 1001's title beside its link


def test_hostile_review_and_log_urls_stay_text() -> None:
    build = UncatBuild(
        "u1",
        "tempest-full",
        "openstack/nova",
        "javascript:alert(1)",
        NOW,
        "4711",
        "2",
        "javascript:alert(2)",
    )
    report = UncatReport(NOW, 10, "gate", 1, 0, (JobFailures("tempest-full", 1, (build,)),), ())
    line = LogLine("<b>boom</b>", "logs/<i>x</i>.txt", "javascript:alert(3)", "")
    page = render_uncategorized(
        report, evidence={"u1": (line,)}, known={"1001": KnownBug("bug/1001", "t")}
    )
    assert "alert" not in " ".join(re.findall(r'href="([^"]*)"', page))
    assert "<b>boom" not in page
    assert str(escape("<b>boom</b>")) in page
    assert '<span class="change">4711,2</span>' in page
    assert "2026-12-03 14:05 UTC" in page
    assert "Generated: 2026-12-03 14:05 UTC" in page


def test_a_page_written_alone_names_known_bugs_without_links() -> None:
    report = UncatReport(NOW, 10, "gate", 3, 3, (), (("1001", 3),))
    page = render_uncategorized(report)
    assert "<li>1001: <b>3</b> failed builds</li>" in page
    linked = render_uncategorized(report, known={"1001": KnownBug("bug/1001", "Disk quota")})
    assert '<li><a href="bug/1001">1001</a> <span class="title">Disk quota</span>' in linked
