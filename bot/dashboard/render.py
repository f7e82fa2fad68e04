"""HTML for the dashboard: jinja2 templates (autoescaped) and server-rendered SVG bar charts.

Charts are drawn here, as inline SVG, rather than by a JavaScript chart library: the pages work
without scripts, need nothing from a CDN, and their numbers are testable in Python. A small
script (``static/dashboard.js``) only sorts and filters the rows.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import jinja2

from bot.dashboard.graph import DAY_MS, FAILURE, BugGraph, GraphData, bug_data
from bot.dashboard.links import kibana_url
from bot.intel.impact import figures_text
from bot.intel.uncategorized import UncatReport
from bot.transports.safety import http_url

#: Pages and their titles, in the navigation's order.
PAGES = {
    "index.html": "All queues",
    "gate.html": "Gate queue",
    "uncategorized.html": "Uncategorized failures",
}

BAR_WIDTH = 14
BAR_GAP = 3
CHART_HEIGHT = 44
#: Hours behind after which the header flags the index as late (ER flagged any delay).
LATE_HOURS = 2


@functools.cache
def environment() -> jinja2.Environment:
    """The templates' environment. Every outside URL a template links goes through its
    ``http_url`` filter: "" (no link) unless it is http(s), so no ``javascript:`` href."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bot.dashboard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["http_url"] = lambda url: http_url(url) or ""
    return env


@functools.cache
def static_files() -> Mapping[str, bytes]:
    """The page assets (``static/<name>``), as shipped in the package (read once)."""
    folder = resources.files("bot.dashboard") / "static"
    return {
        f"static/{item.name}": item.read_bytes()
        for item in folder.iterdir()
        if item.is_file() and not item.name.startswith(".")
    }


@dataclass(frozen=True)
class Bar:
    """One day's column of a bug's chart: failed builds below, other results on top."""

    x: int
    label: str
    failures: int
    others: int
    fail_height: float
    other_height: float


def daily_bars(bug: BugGraph, data: GraphData) -> tuple[Bar, ...]:
    """24-hour columns ending at the start of the current hour, where the window ends (the
    last one holds ``fails24``'s 23 hours and the one before them).

    Each column sums the hourly distinct-build counts, as ER's graphs summed its points.
    """
    window = data.window
    days = [[0, 0] for _ in range(window.days)]
    for series in bug.series:
        slot = 0 if series.label == FAILURE else 1
        for key, count in series.data:
            days[(key - window.start_ms) // DAY_MS][slot] += count
    peak = max((f + o for f, o in days), default=0) or 1
    scale = CHART_HEIGHT / peak
    bars = []
    for n, (fails, others) in enumerate(days):
        end = datetime.fromtimestamp((window.start_ms + (n + 1) * DAY_MS) / 1000, UTC)
        bars.append(
            Bar(
                x=n * (BAR_WIDTH + BAR_GAP),
                label=f"24 h to {end:%b %d %H:%M} UTC",
                failures=fails,
                others=others,
                fail_height=round(fails * scale, 1),
                other_height=round(others * scale, 1),
            )
        )
    return tuple(bars)


def bug_row(bug: BugGraph, data: GraphData, kibana: str | None) -> dict[str, Any]:
    """What the template shows for one bug."""
    q = bug.query
    bars = daily_bars(bug, data)
    tracked = bug_data(q, bug.bug)
    return {
        "id": q.id,
        "title": tracked["name"] or q.title or "",
        "url": q.bug.url,
        "tracker": q.bug.kind,
        "affects": tracked["affects"],
        "reviews": tracked["reviews"],
        "owner": q.owner or "",
        "voting": not q.allow_nonvoting,
        "fails": bug.fails,
        "fails24": bug.fails24,
        "others": sum(n for status, n in bug.builds.items() if status != FAILURE),
        "lucene": bug.lucene,
        "kibana": kibana_url(kibana, bug.lucene, data.window.days),
        "bars": bars,
        "peak": max((b.failures + b.others for b in bars), default=0),
        "jobs": bug.top["jobs"],
        "projects": bug.top["projects"],
        "queues": bug.top["queues"],
        "search": " ".join([q.id, tracked["name"], q.title or "", q.owner or ""]).lower(),
    }


def impact_cells(bug: BugGraph, data: GraphData, position: int) -> dict[str, Any]:
    """The row's rank (its position: :func:`bot.dashboard.graph.by_impact` ordered the bugs)
    and what it cost over the ranking window; nothing without impact figures."""
    if data.impact is None:
        return {"rank": 0, "impact": ""}
    found = data.impact.get(bug.query.bug.key)
    days = data.impact.rank_days
    cost = figures_text(found.figures(days)) if found else ""
    return {"rank": position, "impact": f"{days} d: {cost}" if cost else ""}


#: What "Behind" means, on the page as in graph.json (``behind``, ER's definition).
BEHIND_MEANS = (
    "Behind: from the newest indexed log line to {end}, the end of the graphed window "
    "(graph.json's behind, ER's definition; none when this hour's logs are in already)."
)


def header(data: GraphData, generated_at: datetime | None = None) -> dict[str, Any]:
    """The status line and the windows every figure of the page is counted over.

    "Behind" is graph.json's ``behind`` (:attr:`GraphData.behind_ms`): the same number, up to
    the start of the current hour where the graphed window ends, not up to now.
    """
    window = data.window
    end = _utc(window.hour_ms)
    head = {
        "status": data.status,
        "generated_at": f"{generated_at or _utc(window.now_ms):%Y-%m-%d %H:%M} UTC",
        "window_start": f"{_utc(window.start_ms):%b %d %H:%M} UTC",
        "window_end": f"{end:%b %d %H:%M} UTC",
        "behind_means": BEHIND_MEANS.format(end=f"{end:%H:%M} UTC"),
    }
    if not data.last_indexed_ms:
        return {**head, "last_indexed": "nothing in the window", "behind": "-", "late": True}
    return {
        **head,
        "last_indexed": f"{_utc(data.last_indexed_ms):%Y-%m-%d %H:%M} UTC",
        "behind": format_behind(data.behind_ms),
        "late": data.behind_ms > LATE_HOURS * 3_600_000,
    }


def format_behind(behind_ms: int) -> str:
    """graph.json's ``behind`` for people: minutes, hours past 90 minutes, "none" when the
    index already holds logs of the current hour (ER's number is negative then)."""
    minutes = behind_ms / 60_000
    if minutes <= 0:
        return "none"
    return f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"


def _utc(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC)


def _choices(rows: Sequence[dict[str, Any]], key: str) -> list[str]:
    return sorted({value for row in rows for value, _ in row[key]})


def render_bugs_page(
    data: GraphData,
    *,
    page: str,
    data_file: str,
    kibana: str | None = None,
    generated_at: datetime | None = None,
) -> str:
    """``index.html`` / ``gate.html``: the known bugs with charts, sortable and filterable.

    With impact figures, ``data.bugs`` comes costliest first and the page sorts by impact."""
    rows = [
        bug_row(bug, data, kibana) | impact_cells(bug, data, n)
        for n, bug in enumerate(data.bugs, 1)
    ]
    return (
        environment()
        .get_template("bugs.html")
        .render(
            pages=PAGES,
            page=page,
            title=PAGES[page],
            data_file=data_file,
            head=header(data, generated_at),
            ranked=data.impact is not None,
            days=data.window.days,
            queue=data.queue,
            bugs=rows,
            jobs=_choices(rows, "jobs"),
            projects=_choices(rows, "projects"),
            queues=_choices(rows, "queues"),
            chart_width=data.window.days * (BAR_WIDTH + BAR_GAP) - BAR_GAP,
            chart_height=CHART_HEIGHT,
            bar_width=BAR_WIDTH,
        )
    )


def render_uncategorized(report: UncatReport, clusters: Sequence[Mapping[str, Any]] = ()) -> str:
    """``uncategorized.html``: failures no query explains, per job, with log links.

    ``clusters`` are :func:`bot.intel.clusters_json` rows, shown in their own section.
    """
    return (
        environment()
        .get_template("uncategorized.html")
        .render(
            pages=PAGES,
            page="uncategorized.html",
            title=PAGES["uncategorized.html"],
            report=report,
            clusters=clusters,
            generated_at=f"{report.generated_at:%Y-%m-%d %H:%M} UTC",
        )
    )
