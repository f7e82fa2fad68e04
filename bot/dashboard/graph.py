"""Graph JSON for the dashboard, in ER's format (INVENTORY §3.1), from ONE aggregation request.

ER ran one search per query and pulled up to 3000 hits each to count them in Python. Here a
``filters`` aggregation has one named bucket per query; inside it, ``terms`` on build_status
with a ``cardinality`` of build_uuid (distinct builds) overall and per hour (``date_histogram``),
plus the top jobs / projects / queues of each status, so the dashboard can filter by them.

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
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot.bugs import Bug
from bot.core.errors import describe
from bot.dashboard.details import (
    MAX_VALUES,
    Details,
    builds_agg,
    hourly_agg,
    latest_agg,
    latest_json,
    parse_details,
    seen_aggs,
)
from bot.dashboard.links import kibana_url
from bot.intel.impact import Figures, ImpactReport
from bot.queries import Query
from bot.search.base import Response, SearchBackend
from bot.search.stats import query_string

log = logging.getLogger(__name__)

STEP_MS = 3_600_000  # one hour: ER's bucket
DAY_MS = 24 * STEP_MS
FAILURE = "FAILURE"

#: Values per bug in the graph JSON's ``top`` (the page's filters see up to MAX_VALUES).
TOP = 10
#: Seconds a tracker lookup may take before the bug is shown without its data.
BUG_INFO_TIMEOUT = 30.0

BREAKDOWNS = {"jobs": "build_name", "projects": "project", "queues": "build_queue"}


#: Describes a query's bug (a tracker lookup); None when the tracker did not answer.
BugLookUp = Callable[[Query], Awaitable[Bug | None]]
#: ER's graph wording when the tracker did not answer (INVENTORY §3.1).
UNAVAILABLE = "Unable to get bug data"


async def query_bug(query: Query) -> Bug | None:
    """The bug as the query file tells it (no tracker asked): its title and project."""
    return replace(query.bug, title=query.title)


@dataclass(frozen=True)
class Window:
    """The graphed period: ``days * 24`` whole hours before the current hour (ER's 240 h)."""

    now_ms: int
    days: int = 10

    @property
    def hour_ms(self) -> int:
        return self.now_ms - self.now_ms % STEP_MS

    @property
    def start_ms(self) -> int:
        return self.hour_ms - self.days * DAY_MS

    def buckets(self) -> range:
        """Bucket keys (epoch ms), oldest first; the current hour is left out, as ER did."""
        return range(self.start_ms, self.hour_ms, STEP_MS)


@dataclass(frozen=True)
class Series:
    """One build status' hourly distinct-build counts: ``[[bucket_ms, count], ...]``."""

    label: str
    data: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class BugGraph:
    """One query's numbers over the window."""

    query: Query
    lucene: str  # what was searched: effective query, plus the queue when graphing one
    bug: Bug | None  # as its tracker describes it; None when the tracker did not answer
    fails: int
    fails24: int
    builds: Mapping[str, int]  # status -> distinct builds over the window
    series: tuple[Series, ...]
    top: Mapping[str, tuple[tuple[str, int], ...]]  # jobs/projects/queues -> (value, failed builds)
    details: Details = field(default_factory=Details)  # a bug page's additions

    @property
    def rank(self) -> int:
        return self.fails24 * 100000 + self.fails


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


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def graph_lucene(query: Query, queue: str | None) -> str:
    """The query as graphed: ER appended the queue to the query text (``-q gate``)."""
    if queue:
        return f'{query.effective} AND build_queue:"{queue}"'
    return query.effective


def graph_body(
    queries: Sequence[Query], window: Window, queue: str | None = None, top: int = MAX_VALUES
) -> dict[str, Any]:
    """One search: the newest document, and per query its hourly distinct builds per status."""
    window_filter = {
        "range": {
            "@timestamp": {"gte": window.start_ms, "lte": window.now_ms, "format": "epoch_millis"}
        }
    }
    aggs: dict[str, Any] = {"last_indexed": {"max": {"field": "@timestamp"}}}
    if queries:
        filters = {q.id: query_string(graph_lucene(q, queue)) for q in queries}
        aggs["bugs"] = {"filters": {"filters": filters}, "aggs": _bug_aggs(top, queue)}
    return {"size": 0, "query": {"bool": {"filter": [window_filter]}}, "aggs": aggs}


def _bug_aggs(top: int, queue: str | None) -> dict[str, Any]:
    # Per status the distinct builds and their hours; min_doc_count 1, so a query without hits
    # costs ~100 bytes of response and one with hits only its non-empty hours (zeros are filled
    # in when parsing). The jobs/projects/queues count failed builds only: asked once, under a
    # FAILURE filter, not under every status; each job with its failed hours, for the page's
    # job filter. The newest failed builds and the first/last hit are for the bug's page.
    breakdowns: dict[str, Any] = {
        name: {"terms": {"field": name_field, "size": top}, "aggs": builds_agg()}
        for name, name_field in BREAKDOWNS.items()
        if not (queue and name == "queues")  # one queue: nothing to break down
    }
    breakdowns["jobs"]["aggs"]["hourly"] = hourly_agg()
    return {
        "status": {
            "terms": {"field": "build_status", "size": 10},
            "aggs": {**builds_agg(), "hourly": hourly_agg()},
        },
        "failed": {
            "filter": {"term": {"build_status": FAILURE}},
            "aggs": {**breakdowns, "latest": latest_agg()},
        },
        **seen_aggs(),
    }


def parse_graph(
    response: Response,
    queries: Sequence[Query],
    window: Window,
    *,
    queue: str | None = None,
    status: str = "unknown",
    bugs: Mapping[str, Bug | None] | None = None,
) -> GraphData:
    """Read :func:`graph_body`'s response back; bugs sorted in ER's order, the queries marked
    ``suppress-graph`` apart (:attr:`GraphData.hidden`)."""
    aggs = response.get("aggregations", {})
    buckets = aggs.get("bugs", {}).get("buckets", {})
    described = bugs or {}
    graphs = [
        parse_bug(
            buckets.get(q.id, {}),
            q,
            window,
            lucene=graph_lucene(q, queue),
            bug=described.get(q.id, replace(q.bug, title=q.title)),
        )
        for q in queries
    ]
    graphs.sort(key=lambda bug: (-bug.rank, bug.query.id))
    last = aggs.get("last_indexed", {}).get("value")
    shown = tuple(g for g in graphs if not g.query.suppress_graph)
    hidden = tuple(g for g in graphs if g.query.suppress_graph)
    return GraphData(window, queue, int(last or 0), status, shown, hidden=hidden)


def parse_bug(
    bucket: Mapping[str, Any], query: Query, window: Window, *, lucene: str, bug: Bug | None
) -> BugGraph:
    """One query's bucket: series zero-filled over the window, ``fails`` and ``fails24``."""
    statuses = bucket.get("status", {}).get("buckets", [])
    keys = window.buckets()
    builds: dict[str, int] = {}
    series = []
    failed_aggs = bucket.get("failed", {})
    top = {name: _top(failed_aggs[name]) if name in failed_aggs else () for name in BREAKDOWNS}
    for entry in sorted(statuses, key=lambda e: str(e["key"])):
        label = str(entry["key"])
        builds[label] = _count(entry)
        hourly = {int(h["key"]): _count(h) for h in entry["hourly"]["buckets"]}
        series.append(Series(label, tuple((key, hourly.get(key, 0)) for key in keys)))
    failed = next((s for s in series if s.label == FAILURE), None)
    day_ago = window.hour_ms - DAY_MS
    fails24 = sum(n for key, n in failed.data if key > day_ago) if failed else 0
    return BugGraph(
        query=query,
        lucene=lucene,
        bug=bug,
        fails=builds.get(FAILURE, 0),
        fails24=fails24,
        builds=builds,
        series=tuple(series),
        top=top,
        details=parse_details(bucket),
    )


def _count(bucket: Mapping[str, Any]) -> int:
    return int(bucket["builds"]["value"])


def _top(agg: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    rows = [(str(b["key"]), _count(b)) for b in agg["buckets"]]
    return tuple(sorted(rows, key=lambda row: (-row[1], row[0])))


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
) -> GraphData:
    """The graph of every query not marked ``suppress-graph``: one search + cluster health.

    ``with_hidden``: the ``suppress-graph`` queries too, in the same search, for their pages
    (:attr:`GraphData.hidden`); the list and the graph JSON leave them out all the same.
    """
    graphed = [q for q in queries if with_hidden or not q.suppress_graph]
    window = Window(now if now is not None else now_ms(), days)
    response, status, bugs = await asyncio.gather(
        backend.search(graph_body(graphed, window, queue, top)),
        cluster_status(backend),
        look_up_bugs(graphed, look_up),
    )
    return parse_graph(response, graphed, window, queue=queue, status=status, bugs=bugs)


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
