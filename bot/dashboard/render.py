"""HTML for the dashboard: jinja2 templates (autoescaped) with server-rendered SVG charts.

Charts are drawn as inline SVG (:mod:`bot.dashboard.svg`) rather than by a JavaScript chart
library: the pages work without scripts, need nothing from a CDN, and their numbers are testable
in Python. A small script (``static/dashboard.js``) sorts and filters the list's rows and, with a
job filter, redraws each card's numbers and chart from the per-job figures the page carries.
A bug's own page is :mod:`bot.dashboard.bugpage`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import jinja2

from bot.dashboard.graph import DAY_MS, FAILURE, BugGraph, GraphData, Window, bug_data
from bot.dashboard.links import bug_page_href, kibana_url
from bot.dashboard.svg import columns, nice_top, small_chart
from bot.intel.impact import figures_text
from bot.intel.uncategorized import UncatReport
from bot.queries import Query
from bot.search.lines import LogLine
from bot.transports.safety import http_url

#: Pages and their titles, in the navigation's order.
PAGES = {
    "index.html": "All queues",
    "gate.html": "Gate queue",
    "uncategorized.html": "Uncategorized failures",
    "tests.html": "Tests",
}

#: Pixels of the plot of a card's chart (the page's shared scale spans them).
CARD_CHART_HEIGHT = 48
#: Jobs named on a card (the filter and the bug's page know them all).
CARD_JOBS = 8
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
    env.filters["utc"] = utc_text
    return env


def utc_text(when: datetime | str | float | None) -> str:
    """``2026-12-03 14:05 UTC`` from a datetime, an ISO string or epoch milliseconds; "" for
    nothing, the text itself when it is no time."""
    if when is None or when == "":
        return ""
    if isinstance(when, str):
        try:
            moment = datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError:
            return when
    else:
        moment = when if isinstance(when, datetime) else _utc(int(when))
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return f"{aware.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


@functools.cache
def static_files() -> Mapping[str, bytes]:
    """The page assets (``static/<name>``), as shipped in the package (read once)."""
    folder = resources.files("bot.dashboard") / "static"
    return {
        f"static/{item.name}": item.read_bytes()
        for item in folder.iterdir()
        if item.is_file() and not item.name.startswith(".")
    }


def daily_failures(hours: Iterable[tuple[int, int]], window: Window) -> tuple[int, ...]:
    """Failed builds per 24-hour column, the newest ending at the start of the current hour
    where the window ends (it holds ``fails24``'s 23 hours and the one before them).

    Each column sums the hourly distinct-build counts, as ER's graphs summed its points.
    """
    cols = columns({FAILURE: hours}, window.start_ms, window.hour_ms, DAY_MS)
    return tuple(column.counts[FAILURE] for column in cols)


def last_day(hours: Iterable[tuple[int, int]], window: Window) -> int:
    """ER's ``fails24`` of hourly counts: the 23 whole hours before the current one."""
    day_ago = window.hour_ms - DAY_MS
    return sum(n for key, n in hours if day_ago < key < window.hour_ms)


def job_figures(bug: BugGraph, window: Window) -> dict[str, list[Any]]:
    """Per job: ``[fails, fails24, [failed builds per day]]``, what the list page's job filter
    shows on the card instead of the bug's own numbers."""
    figures = {}
    for job, fails in bug.top["jobs"]:
        hours = bug.details.job_hours.get(job, ())
        figures[job] = [fails, last_day(hours, window), list(daily_failures(hours, window))]
    return figures


def failure_hours(bug: BugGraph) -> tuple[tuple[int, int], ...]:
    failed = next((s for s in bug.series if s.label == FAILURE), None)
    return failed.data if failed else ()


def bug_row(bug: BugGraph, data: GraphData, kibana: str | None) -> dict[str, Any]:
    """What the template shows for one bug (its chart is drawn once the page's scale is known)."""
    q = bug.query
    tracked = bug_data(q, bug.bug)
    title = tracked["name"] or q.title or ""
    jobs = bug.top["jobs"]
    return {
        "id": q.id,
        "page": bug_page_href(q.id),
        "title": title,
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
        "days_failed": daily_failures(failure_hours(bug), data.window),
        "jobs": jobs[:CARD_JOBS],
        "more_jobs": len(jobs) - CARD_JOBS if len(jobs) > CARD_JOBS else 0,
        "job_names": [name for name, _ in jobs],
        "job_figures": job_figures(bug, data.window),
        "projects": bug.top["projects"],
        "queues": bug.top["queues"],
        "search": " ".join(
            [q.id, tracked["name"], q.title or "", q.owner or "", bug.lucene]
        ).lower(),
    }


def with_charts(rows: list[dict[str, Any]], window: Window) -> list[dict[str, Any]]:
    """The rows with their charts, all on one scale: the busiest day of any bug on the page."""
    peak = max((n for row in rows for n in row["days_failed"]), default=0)
    top = nice_top(peak)
    return [
        row
        | {
            "chart": small_chart(
                row["days_failed"],
                start_ms=window.start_ms,
                step_ms=DAY_MS,
                y_top=top,
                height=CARD_CHART_HEIGHT,
                label=f"failed builds per day, {window.days} days",
            )
        }
        for row in rows
    ]


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
        "generated_at": utc_text(generated_at or window.now_ms),
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


def _job_choices(rows: Sequence[dict[str, Any]]) -> list[str]:
    return sorted({name for row in rows for name in row["job_names"]})


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
    rows = with_charts(
        [
            bug_row(bug, data, kibana) | impact_cells(bug, data, n)
            for n, bug in enumerate(data.bugs, 1)
        ],
        data.window,
    )
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
            jobs=_job_choices(rows),
            projects=_choices(rows, "projects"),
            queues=_choices(rows, "queues"),
            card_chart_height=CARD_CHART_HEIGHT,
            root="",
        )
    )


def render_uncategorized(
    report: UncatReport,
    clusters: Sequence[Mapping[str, Any]] = (),
    *,
    evidence: Mapping[str, Sequence[LogLine]] | None = None,
    known: Mapping[str, KnownBug] | None = None,
) -> str:
    """``uncategorized.html``: failures no query explains, per job, with log links.

    ``clusters`` are :func:`bot.intel.clusters_json` rows, shown in their own section;
    ``evidence``: each build's error lines by uuid (``uncategorized_evidence`` of
    :mod:`bot.watch.evidence`);
    ``known``: the queries by id, so that the known bugs seen in these failures link their pages
    (a page written alone, ``recheckbot uncat``, names them only).
    """
    return (
        environment()
        .get_template("uncategorized.html")
        .render(
            pages=PAGES,
            page="uncategorized.html",
            root="",
            title=PAGES["uncategorized.html"],
            report=report,
            clusters=clusters,
            evidence=evidence or {},
            known=known or {},
            generated_at=utc_text(report.generated_at),
        )
    )


@dataclass(frozen=True)
class KnownBug:
    """A known bug as the uncategorized page names it: its page and its title."""

    page: str  # href, "" for none
    title: str


def known_bugs(queries: Iterable[Query]) -> dict[str, KnownBug]:
    """The queries' pages (``bug/<id>``) and titles, by query id."""
    return {q.id: KnownBug(bug_page_href(q.id), q.title or "") for q in queries}
