"""A page per bug (``bug/<id>.html``, served at ``/bug/<id>``), from what the refresh has already.

Everything comes from the graph's one request (:mod:`bot.dashboard.graph`: the hourly series
per build result, the jobs, projects and queues, the newest failed builds, first and last hit),
the tracker lookup the list page makes anyway, the impact figures, and — when the bot runs with
its journal — the lines the query matched in the builds it judged (:func:`bug_evidence`). A
query with ``test_ids`` shows those tests' figures, from one request for all the pages
(:func:`bot.intel.test_history.bug_tests`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.dashboard.graph import DAY_MS, BugGraph, GraphData, Window, bug_data
from bot.dashboard.links import kibana_url
from bot.dashboard.render import PAGES, environment, last_day, utc_text
from bot.dashboard.svg import (
    Chart,
    column_step,
    columns,
    day_ticks,
    hour_ticks,
    legend,
    nice_ticks,
    period,
    series_order,
    stacked_peak,
    time_chart,
)
from bot.dashboard.testspage import bug_test_rows
from bot.intel.impact import ImpactReport, ci_time
from bot.intel.tests import TestStats
from bot.state.evidence import Sighting
from bot.watch.evidence import sighting_json

#: Pixels of the plot of a bug page's chart.
CHART_HEIGHT = 180
#: Where a page's links to the other pages start from (pages are one folder down).
ROOT = "../"


def bug_chart(bug: BugGraph, window: Window) -> Chart:
    """Every build result the query hit, stacked, in columns of a few hours (at most 60)."""
    step = column_step(window.days * DAY_MS)
    series = {s.label: s.data for s in bug.series}
    cols = columns(series, window.start_ms, window.hour_ms, step)
    ticks = (
        day_ticks(window.start_ms, window.hour_ms)
        if window.days > 2
        else hour_ticks(window.start_ms, window.hour_ms)
    )
    hours = step // 3_600_000
    return Chart(
        columns=cols,
        series=series_order(series),
        y_ticks=nice_ticks(stacked_peak(cols)),
        height=CHART_HEIGHT,
        x_ticks=ticks,
        label=f"builds the query hit per {hours} h, by result, {window.days} days",
    )


def day_table(bug: BugGraph, window: Window, series: Sequence[str]) -> list[dict[str, Any]]:
    """The chart's numbers per 24 hours (newest first), for people who read tables."""
    data = {s.label: s.data for s in bug.series}
    days = columns(data, window.start_ms, window.hour_ms, DAY_MS)
    return [
        {"period": period(day), "counts": [day.counts.get(name, 0) for name in series]}
        for day in reversed(days)
    ]


def jobs_table(bug: BugGraph, window: Window) -> list[dict[str, Any]]:
    """Each job's failed builds over the window and in the last day, busiest first."""
    return [
        {
            "name": name,
            "fails": fails,
            "fails24": last_day(bug.details.job_hours.get(name, ()), window),
        }
        for name, fails in bug.top["jobs"]
    ]


def impact_rows(report: ImpactReport | None, bug: BugGraph) -> list[dict[str, Any]]:
    """What the bug cost per window (1, 7, 10 days); none without the bot's journal or when
    the journal names it on no failed build."""
    found = report.get(bug.query.bug.key) if report else None
    if report is None or found is None:
        return []
    return [
        {
            **found.figures(days).to_json(),
            "days": days,
            "ci": ci_time(found.figures(days).ci_seconds),
        }
        for days in report.windows
    ]


def tracker_view(bug: BugGraph) -> dict[str, Any]:
    """The bug as its tracker describes it, or as the query file does when not asked."""
    q = bug.query
    described = bug.bug
    tracked = bug_data(q, described)
    return {
        "kind": q.bug.kind,
        "url": q.bug.url,
        "title": tracked["name"] or q.title or "",
        "status": described.status if described and described.tracked else None,
        "closed": bool(described and described.closed),
        "affects": tracked["affects"],
        "answered": described is not None,
    }


def render_bug_page(
    bug: BugGraph,
    data: GraphData,
    *,
    kibana: str | None = None,
    sightings: Sequence[Sighting] | None = None,
    rank: int = 0,
    generated_at: datetime | None = None,
    tests: Sequence[TestStats] | None = None,
) -> str:
    """The page of one bug. ``sightings``: what the journal says the query matched (None: the
    page is built without the bot's journal); ``rank``: its place by impact (0: not ranked);
    ``tests``: the figures of the tests its ``test_ids`` name (None: they could not be asked)."""
    window = data.window
    chart = bug_chart(bug, window)
    impact = impact_rows(data.impact, bug)
    return (
        environment()
        .get_template("bug.html")
        .render(
            pages=PAGES,
            page="",
            root=ROOT,
            title=f"Bug {bug.query.id}",
            q=bug.query,
            bug=bug,
            tracker=tracker_view(bug),
            window=window,
            window_start=utc_text(window.start_ms),
            window_end=utc_text(window.hour_ms),
            generated_at=utc_text(generated_at or window.now_ms),
            chart=time_chart(chart),
            legend=legend(chart, totals=bug.builds),
            series=chart.series,
            days=day_table(bug, window, chart.series),
            jobs=jobs_table(bug, window),
            kibana=kibana_url(kibana, bug.lucene, window.days),
            impact=impact,
            impact_known=data.impact is not None,
            impact_days=max(data.impact.windows) if data.impact else 0,
            rank=rank if impact else 0,  # a rank among bugs that cost nothing says little
            rank_days=data.impact.rank_days if data.impact else 0,
            sightings=[sighting_json(s) for s in sightings or ()],
            journal=sightings is not None,
            tests=bug_test_rows(bug.query.test_ids, tests),
            tests_known=tests is not None,
        )
    )
