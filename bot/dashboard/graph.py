"""Graph JSON for the dashboard, in ER's format (INVENTORY §3.1), from a few aggregation requests.

ER ran one search per query and pulled up to 3000 hits each to count them in Python. Here one
request asks a ``filters`` aggregation with a named bucket per query (a chunk of queries at a
time when every hour is asked), and each query's builds come back as a tree of keys
(:mod:`bot.dashboard.tally`): every number is counted from it (:mod:`bot.dashboard.figures`).
Settled hours are kept between refreshes, so a refresh asks only for the hours since
(:mod:`bot.dashboard.incremental`), and the JSON is the same as when every hour is asked.

Semantics kept from ER: hourly buckets over ``days * 24`` hours ending before the current hour,
zero-filled; a bucket counts distinct builds; ``fails`` counts distinct failed builds over the whole
window (current hour included); ``fails24`` sums the FAILURE buckets newer than 24 h before the
current hour; bugs sorted by ``fails24 * 100000 + fails`` descending.

Our additions leave those fields alone: per bug ``title``, ``tracker``, ``owner``, ``tags``,
``builds`` (per status), ``top`` (the ten jobs, projects, queues with most failed builds),
``first_seen`` and ``last_seen`` (epoch ms in the window, or null) and ``latest`` (the newest
failed builds: job, project, queue, change, log directory, time); and, when the bot's journal is at
hand (the served dashboard, ``recheckbot graph --state``), per bug ``impact``: ``{"1d": ...,
"7d": ..., "10d": ..., "rank": n}``, each window with ``failed_builds``, ``changes``,
``rechecks``, ``ci_seconds``, ``gate_failures`` and ``score`` (:mod:`bot.intel.impact`,
docs/impact.md), plus a top-level ``impact`` naming the windows and the score's weights.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot.bugs import Bug
from bot.core.errors import describe
from bot.dashboard.details import MAX_VALUES, latest_json
from bot.dashboard.figures import BugGraph, Series, bug_graph
from bot.dashboard.incremental import GraphCache
from bot.dashboard.links import kibana_url
from bot.dashboard.tally import Tally
from bot.dashboard.window import DAY_MS, FAILURE, STEP_MS, Window, now_ms
from bot.intel.impact import Figures, ImpactReport
from bot.queries import Query
from bot.search.base import SearchBackend

__all__ = [
    "DAY_MS",
    "FAILURE",
    "STEP_MS",
    "BugGraph",
    "GraphData",
    "Series",
    "Window",
    "graph",
    "graph_json",
    "now_ms",
]

log = logging.getLogger(__name__)

#: Values per bug in the graph JSON's ``top`` (the page's filters see up to MAX_VALUES).
TOP = 10
#: Seconds a tracker lookup may take before the bug is shown without its data.
BUG_INFO_TIMEOUT = 30.0


#: Describes a query's bug (a tracker lookup); None when the tracker did not answer.
BugLookUp = Callable[[Query], Awaitable[Bug | None]]
#: ER's graph wording when the tracker did not answer (INVENTORY §3.1).
UNAVAILABLE = "Unable to get bug data"


async def query_bug(query: Query) -> Bug | None:
    """The bug as the query file tells it (no tracker asked): its title and project."""
    return replace(query.bug, title=query.title)


@dataclass(frozen=True)
class GraphData:
    """Everything the graph JSON and the dashboard page show."""

    window: Window
    queue: str | None
    last_indexed_ms: int
    status: str
    bugs: tuple[BugGraph, ...]  # ER's order
    impact: ImpactReport | None = None  # what the bugs cost, when the bot's journal is at hand
    hidden: tuple[BugGraph, ...] = ()  # suppress-graph queries: a page each, not in the list

    @property
    def behind_ms(self) -> int:
        return self.window.hour_ms - self.last_indexed_ms


def graph_lucene(query: Query, queue: str | None) -> str:
    """The query as graphed: ER appended the queue to the query text (``-q gate``)."""
    if queue:
        return f'{query.effective} AND build_queue:"{queue}"'
    return query.effective


async def graph(
    backend: SearchBackend,
    queries: Sequence[Query],
    *,
    days: int = 10,
    queue: str | None = None,
    now: int | None = None,
    look_up: BugLookUp = query_bug,
    top: int = MAX_VALUES,
    with_hidden: bool = False,
    cache: GraphCache | None = None,
    full: bool = False,
) -> GraphData:
    """The graph of every query not marked ``suppress-graph``: its searches, cluster health
    and the bugs' lookups, concurrently.

    ``with_hidden``: the ``suppress-graph`` queries too, in the same searches, for their pages
    (:attr:`GraphData.hidden`); the list and the graph JSON leave them out all the same.
    ``cache``: the settled hours kept from the last refresh (only the hours since are asked);
    without one, or with ``full``, every hour is asked.
    """
    graphed = [q for q in queries if with_hidden or not q.suppress_graph]
    window = Window(now if now is not None else now_ms(), days)
    lucene_by_id = {q.id: graph_lucene(q, queue) for q in graphed}
    keeper = cache or GraphCache()
    name = queue or "all"
    (tallies, newest), status, bugs = await asyncio.gather(
        keeper.tallies(backend, lucene_by_id, window, graph=name, full=full),
        cluster_status(backend),
        look_up_bugs(graphed, look_up),
    )
    return assemble(
        graphed, tallies, window, newest, queue=queue, status=status, bugs=bugs, top=top
    )


def assemble(
    queries: Sequence[Query],
    tallies: Mapping[str, Tally],
    window: Window,
    newest_ms: int | None,
    *,
    queue: str | None = None,
    status: str = "unknown",
    bugs: Mapping[str, Bug | None] | None = None,
    top: int = MAX_VALUES,
) -> GraphData:
    """The graph of each query's tally over the window: bugs in ER's order, the queries marked
    ``suppress-graph`` apart (:attr:`GraphData.hidden`)."""
    described = bugs or {}
    graphs = [
        bug_graph(
            q,
            tallies.get(q.id, Tally()),
            window,
            lucene=graph_lucene(q, queue),
            bug=described.get(q.id, replace(q.bug, title=q.title)),
            queue=queue,
            top=top,
        )
        for q in queries
    ]
    graphs.sort(key=lambda bug: (-bug.rank, bug.query.id))
    shown = tuple(g for g in graphs if not g.query.suppress_graph)
    hidden = tuple(g for g in graphs if g.query.suppress_graph)
    return GraphData(window, queue, newest_ms or 0, status, shown, hidden=hidden)


async def cluster_status(backend: SearchBackend) -> str:
    """``green`` / ``yellow`` / ``red``; ``unknown`` when the health call fails (not fatal)."""
    try:
        health = await backend.health()
    except Exception as exc:
        log.warning("cluster health unavailable: %s", exc)
        return "unknown"
    return str(health.get("status", "unknown"))


async def look_up_bugs(queries: Sequence[Query], look_up: BugLookUp) -> dict[str, Bug | None]:
    """Every query's bug as its tracker describes it, concurrently; a failed lookup never fails
    the graph."""
    results = await asyncio.gather(*(_look_up(q, look_up) for q in queries))
    return {q.id: bug for q, bug in zip(queries, results, strict=True)}


async def _look_up(query: Query, look_up: BugLookUp) -> Bug | None:
    try:
        return await asyncio.wait_for(look_up(query), BUG_INFO_TIMEOUT)
    except Exception as exc:
        log.warning("bug %s: tracker lookup failed: %s", query.id, describe(exc))
        return None


def bug_data(query: Query, bug: Bug | None) -> dict[str, Any]:
    """ER's ``bug_data`` of ``query``: its tracker's title and affected targets, as ``bug``
    (None: the tracker did not answer) says; reviews are not ours to fill."""
    title = query.title
    if bug is None:
        return {"name": title or UNAVAILABLE, "affects": "Unknown", "reviews": []}
    name = bug.title if bug.private else bug.title or title or ""
    return {"name": name or "", "affects": bug.affects, "reviews": []}


def graph_json(data: GraphData, *, kibana: str | None = None) -> dict[str, Any]:
    """ER's graph JSON (field for field, ``buglist`` in ER's order), plus extras: tracker,
    title, top jobs/projects/queues, and with a journal each bug's ``impact`` (its figures per
    window and its rank, :mod:`bot.intel.impact`) and what they mean (top-level ``impact``)."""
    buglist = [bug_json(bug, data.window.days, kibana) for bug in data.bugs]
    document = {
        "now": data.window.now_ms,
        "last_indexed": data.last_indexed_ms,
        "behind": data.behind_ms,
        "buglist": buglist,
        "status": data.status,
        "days": data.window.days,
        "queue": data.queue,
    }
    if data.impact is not None:
        document["impact"] = data.impact.describe()
        ranks = impact_ranks(data)
        for bug, row, rank in zip(data.bugs, buglist, ranks, strict=True):
            row["impact"] = impact_json(data.impact, bug.query.bug.key, rank)
    return document


def impact_ranks(data: GraphData) -> list[int]:
    """Each graphed bug's rank by impact (1 = costliest), in ``data.bugs``' order; empty
    without impact figures."""
    if data.impact is None:
        return []
    return data.impact.ranks([bug.query.bug.key for bug in data.bugs])


def impact_json(report: ImpactReport, bug_key: str, rank: int) -> dict[str, Any]:
    """``{"1d": {figures}, "7d": {...}, "10d": {...}, "rank": n}`` for one bug."""
    found = report.get(bug_key)
    windows = {
        f"{days}d": (found.figures(days) if found else Figures()).to_json()
        for days in report.windows
    }
    return {**windows, "rank": rank}


def by_impact(data: GraphData) -> GraphData:
    """``data`` with its bugs costliest first (unchanged without impact figures)."""
    ranks = impact_ranks(data)
    if not ranks:
        return data
    ordered = sorted(zip(ranks, data.bugs, strict=True), key=lambda pair: pair[0])
    return replace(data, bugs=tuple(bug for _, bug in ordered))


def bug_json(bug: BugGraph, days: int, kibana: str | None) -> dict[str, Any]:
    q = bug.query
    return {
        "number": q.id,
        "query": bug.lucene,
        "logstash_url": kibana_url(kibana, bug.lucene, days),
        "bug_data": bug_data(q, bug.bug),
        "fails": bug.fails,
        "fails24": bug.fails24,
        "data": [{"label": s.label, "data": [list(point) for point in s.data]} for s in bug.series],
        "voting": not q.allow_nonvoting,
        "title": q.title,
        "tracker": (
            {"kind": q.bug.kind, "id": q.bug.id, "url": q.bug.url, "project": q.bug.project}
            if q.bug.url
            else None  # no bug filed yet
        ),
        "owner": q.owner,
        "tags": list(q.tags),
        "builds": dict(bug.builds),
        "top": {name: [list(row) for row in rows[:TOP]] for name, rows in bug.top.items()},
        "first_seen": bug.details.first_seen_ms,
        "last_seen": bug.details.last_seen_ms,
        "latest": [latest_json(build) for build in bug.details.latest],
    }
