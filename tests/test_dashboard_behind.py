"""The dashboard page and graph.json agree: one "behind" (ER's, up to the start of the current
hour), the same windows, each named on the page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.bugs import Bug
from bot.dashboard.graph import FAILURE, STEP_MS, BugGraph, GraphData, Series, Window, graph_json
from bot.dashboard.render import format_behind, render_bugs_page
from bot.queries import Query

#: Ten past noon: "from now" and "from the hour" differ by ten minutes.
NOW = datetime(2026, 11, 20, 12, 10, tzinfo=UTC)


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def data(last_indexed: datetime) -> GraphData:
    query = Query(id="1001", lucene='message:"x"', bug=Bug("launchpad", "1001", "", "nova"))
    top: dict[str, tuple[tuple[str, int], ...]] = {"jobs": (), "projects": (), "queues": ()}
    window = Window(ms(NOW))
    hourly = tuple((key, 1) for key in window.buckets())
    graph = BugGraph(
        query, query.lucene, None, 240, 23, {FAILURE: 240}, (Series(FAILURE, hourly),), top
    )
    return GraphData(window, None, ms(last_indexed), "green", (graph,))


def page(graph: GraphData) -> str:
    return render_bugs_page(graph, page="index.html", data_file="graph.json")


def shown_behind(html: str) -> str:
    found = re.search(r'id="behind">([^<]*)<', html)
    assert found, html
    return found.group(1)


def test_the_page_shows_graph_jsons_behind() -> None:
    graph = data(NOW - timedelta(minutes=81))  # 81 min before now, 71 before 12:00
    assert graph_json(graph)["behind"] == 71 * 60_000
    assert shown_behind(page(graph)) == "71 min"


@pytest.mark.parametrize(
    ("minutes_before_now", "shown"),
    [(5, "none"), (10, "none"), (11, "1 min"), (99, "89 min"), (100, "1.5 h"), (250, "4.0 h")],
)
def test_behind_is_counted_from_the_hour(minutes_before_now: int, shown: str) -> None:
    graph = data(NOW - timedelta(minutes=minutes_before_now))
    assert shown_behind(page(graph)) == shown
    assert format_behind(graph_json(graph)["behind"]) == shown


def test_late_is_judged_on_the_same_number() -> None:
    two_hours = NOW.replace(minute=0) - timedelta(hours=2)
    assert 'class="late" id="behind"' not in page(data(two_hours))
    assert 'class="late" id="behind"' in page(data(two_hours - timedelta(minutes=1)))


def test_the_page_names_its_windows() -> None:
    html = page(data(NOW - timedelta(minutes=30)))
    assert "from the newest indexed log line to 12:00 UTC" in html  # Behind's tooltip, legend
    assert "graph.json&#39;s behind" in html
    assert "Window: 10 days, Nov 10 12:00 UTC to Nov 20 12:00 UTC" in html
    assert "the newest ending at Nov 20 12:00 UTC" in html  # the columns
    assert 'title="failed builds in the 23 whole hours before Nov 20 12:00 UTC">23<' in html
    assert 'title="failed builds from Nov 10 12:00 UTC to now">240 in 10 d<' in html
    assert "Generated: 2026-11-20 12:10 UTC" in html  # when the numbers were taken


def test_the_last_column_ends_where_the_window_ends() -> None:
    graph = data(NOW)
    html = page(graph)
    labels = re.findall(r"<title>[^<]* – ([^:]+:\d\d) UTC: (\d+) failed", html)
    assert labels[-1] == ("Nov 20 12:00", "24")
    assert graph.window.hour_ms == ms(NOW) - 10 * 60_000
    assert graph.window.buckets()[-1] == graph.window.hour_ms - STEP_MS
