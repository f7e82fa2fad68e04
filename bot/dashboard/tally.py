"""What the graph asks of the server, and what it keeps of the answer: a :class:`Tally` per query.

A tally holds a query's builds one by one (status, job, project, queue, build uuid, and the hours
it has matching lines in), each hour's first and last matching line, and the newest failed
builds. Every number of the graph (distinct builds per hour, over the window, per job...) is
counted from it (:mod:`bot.dashboard.figures`), and two tallies of adjacent periods merge into
the tally of both (:func:`merge`) with nothing counted twice: a build whose lines straddle the
two is one build. That is what lets the dashboard keep the settled hours and ask only for the
hours since (:mod:`bot.dashboard.incremental`).

One request per chunk of queries asks for documents in ``[from, now]``: per query a ``filters``
bucket holding the tree status → job → project → queue → build uuid → hours (keys only), the hours
with their first and last line, and the newest failed builds before and after the settle point
(:class:`Span`), so that the answer splits into what is settled and what may still change. The
response is trimmed with ``filter_path`` (:data:`FILTER_PATH`): keys and values, no counts.

Pure: bodies and parsing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.dashboard.details import LATEST, LatestBuild, latest_agg, parse_latest
from bot.dashboard.window import FAILURE
from bot.search.stats import query_string

#: A build as the tree names it: status, job, project, queue, build uuid.
Leaf = tuple[str, str, str, str, str]
#: The tree's levels below a query: (aggregation name, field, most values asked).
LEVELS = (
    ("s", "build_status", 10),
    ("j", "build_name", 1000),
    ("p", "project", 1000),
    ("q", "build_queue", 100),
    ("b", "build_uuid", 10000),
)
#: A line without a job, project or queue still counts, under this value (never shown as a
#: value); one without a status or a build uuid is no build's (the distinct counts skip it).
MISSING = ""
_MISSING_ALLOWED = frozenset({"j", "p", "q"})

_TREE = ".".join(f"{name}.buckets" for name, _, _ in LEVELS)
_BUG = "aggregations.bugs.buckets.*"
#: What the graph reads of a response; everything else (counts, shards, hits) stays home.
FILTER_PATH = (
    "timed_out",
    "_shards.failed",
    "aggregations.newest.value",
    "aggregations.settled_newest.newest.value",
    *(f"{_BUG}.{'.'.join(f'{n}.buckets' for n, _, _ in LEVELS[:i])}.key" for i in range(1, 6)),
    f"{_BUG}.{_TREE}.h.buckets.key",
    f"{_BUG}.t.buckets.key",
    f"{_BUG}.t.buckets.first.value",
    f"{_BUG}.t.buckets.last.value",
    *(f"{_BUG}.{part}.l.buckets.key" for part in ("older", "newer")),
    *(f"{_BUG}.{part}.l.buckets.newest.value" for part in ("older", "newer")),
    *(f"{_BUG}.{part}.l.buckets.doc.hits.hits._source" for part in ("older", "newer")),
)


@dataclass(frozen=True)
class Span:
    """Documents asked for: ``[from_ms, now_ms]``; the hours before ``settle_ms`` are kept
    once answered, the later ones asked again next time."""

    from_ms: int
    settle_ms: int
    now_ms: int


@dataclass(frozen=True)
class Tally:
    """One query's matching documents over a period, as the graph counts them."""

    builds: Mapping[Leaf, frozenset[int]] = field(default_factory=dict)  # -> hours (epoch ms)
    seen: Mapping[int, tuple[int, int]] = field(default_factory=dict)  # hour -> first, last ms
    latest: tuple[LatestBuild, ...] = ()  # the newest failed builds, newest first

    def since(self, start_ms: int) -> Tally:
        """What is left of it from ``start_ms`` (an hour's start) on."""
        builds = {}
        for leaf, hours in self.builds.items():
            if kept := frozenset(h for h in hours if h >= start_ms):
                builds[leaf] = kept
        seen = {hour: lines for hour, lines in self.seen.items() if hour >= start_ms}
        latest = tuple(build for build in self.latest if build.when_ms >= start_ms)
        return Tally(builds, seen, latest)

    def split(self, settle_ms: int) -> tuple[Tally, Tally]:
        """The hours before ``settle_ms`` and those from it on (the newest builds apart:
        the request asks for each side's own)."""
        before: dict[Leaf, frozenset[int]] = {}
        after: dict[Leaf, frozenset[int]] = {}
        for leaf, hours in self.builds.items():
            if old := frozenset(h for h in hours if h < settle_ms):
                before[leaf] = old
            if new := hours - old:
                after[leaf] = new
        seen_before = {h: lines for h, lines in self.seen.items() if h < settle_ms}
        seen_after = {h: lines for h, lines in self.seen.items() if h >= settle_ms}
        return Tally(before, seen_before), Tally(after, seen_after)


def merge(first: Tally, second: Tally) -> Tally:
    """One tally of both periods: each build's hours joined, each hour's first and last line,
    the newest failed builds of both (a build in both listed once, at its newest line)."""
    builds = dict(first.builds)
    for leaf, hours in second.builds.items():
        builds[leaf] = builds.get(leaf, frozenset()) | hours
    seen = dict(first.seen)
    for hour, (low, high) in second.seen.items():
        old = seen.get(hour)
        seen[hour] = (min(low, old[0]), max(high, old[1])) if old else (low, high)
    return Tally(builds, seen, newest_builds([*first.latest, *second.latest]))


def newest_builds(builds: Iterable[LatestBuild], count: int = LATEST) -> tuple[LatestBuild, ...]:
    """The ``count`` newest of ``builds``, each build once (at its newest line), newest first."""
    newest: dict[str, LatestBuild] = {}
    for build in builds:
        known = newest.get(build.uuid)
        if known is None or build.when_ms > known.when_ms:
            newest[build.uuid] = build
    ordered = sorted(newest.values(), key=lambda b: (-b.when_ms, b.uuid))
    return tuple(ordered[:count])


# --- the request ---------------------------------------------------------------------------


def tally_body(
    lucene_by_id: Mapping[str, str], span: Span, *, newest: bool = False
) -> dict[str, Any]:
    """One search for the queries' tallies over ``span``; with ``newest`` also the newest
    document of all (and the newest before the settle point), for ``last_indexed``."""
    aggs: dict[str, Any] = {}
    if newest:
        aggs["newest"] = {"max": {"field": "@timestamp"}}
        aggs["settled_newest"] = {
            "filter": _range(span.from_ms, lt=span.settle_ms),
            "aggs": {"newest": {"max": {"field": "@timestamp"}}},
        }
    if lucene_by_id:
        filters = {qid: query_string(lucene) for qid, lucene in lucene_by_id.items()}
        aggs["bugs"] = {"filters": {"filters": filters}, "aggs": _query_aggs(span)}
    window = _range(span.from_ms, lte=span.now_ms)
    return {"size": 0, "query": {"bool": {"filter": [window]}}, "aggs": aggs}


def _range(gte: int, *, lt: int | None = None, lte: int | None = None) -> dict[str, Any]:
    bounds: dict[str, Any] = {"gte": gte, "format": "epoch_millis"}
    if lt is not None:
        bounds["lt"] = lt
    if lte is not None:
        bounds["lte"] = lte
    return {"range": {"@timestamp": bounds}}


def _hours() -> dict[str, Any]:
    histogram = {"field": "@timestamp", "fixed_interval": "1h", "min_doc_count": 1}
    return {"date_histogram": {**histogram, "format": "epoch_millis"}}


def _query_aggs(span: Span) -> dict[str, Any]:
    tree: dict[str, Any] = {"h": _hours()}
    for name, field_name, size in reversed(LEVELS):
        terms: dict[str, Any] = {"field": field_name, "size": size}
        if name in _MISSING_ALLOWED:
            terms["missing"] = MISSING  # else the tree would drop the line
        tree = {name: {"terms": terms, "aggs": tree}}
    failed = {"term": {"build_status": FAILURE}}
    # Each side of the settle point has its own newest builds: the older ones are kept.
    older = {"bool": {"filter": [failed, _range(span.from_ms, lt=span.settle_ms)]}}
    newer = {"bool": {"filter": [failed, _range(span.settle_ms)]}}
    seen = {"first": {"min": {"field": "@timestamp"}}, "last": {"max": {"field": "@timestamp"}}}
    return {
        **tree,
        "t": {**_hours(), "aggs": seen},
        "older": {"filter": older, "aggs": {"l": latest_agg()}},
        "newer": {"filter": newer, "aggs": {"l": latest_agg()}},
    }


# --- the response --------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One response: each query's tally before and after the settle point, and the newest
    document of all (before the settle point, and at all), epoch ms."""

    older: Mapping[str, Tally]
    newer: Mapping[str, Tally]
    settled_newest_ms: int | None = None
    newest_ms: int | None = None
    truncated: tuple[str, ...] = ()  # queries with more values than a level asks for


def incomplete(response: Mapping[str, Any]) -> str | None:
    """Why a response holds only part of the answer (timed out, shards failed), or None.
    Such an answer must not be kept: its hours would stay short until the next full
    recompute."""
    if response.get("timed_out"):
        return "the search timed out on the server"
    failed = (response.get("_shards") or {}).get("failed") or 0
    return f"{failed} shard(s) failed" if failed else None


def parse_answer(response: Mapping[str, Any], ids: Sequence[str], span: Span) -> Answer:
    """Read :func:`tally_body`'s response back (trimmed or not: every key is optional)."""
    aggs = response.get("aggregations") or {}
    buckets = (aggs.get("bugs") or {}).get("buckets") or {}
    older: dict[str, Tally] = {}
    newer: dict[str, Tally] = {}
    truncated = []
    for qid in ids:
        bucket = buckets.get(qid) or {}
        builds, full = _leaves(bucket)
        before, after = Tally(builds, _seen(bucket)).split(span.settle_ms)
        older[qid] = Tally(before.builds, before.seen, _latest(bucket, "older"))
        newer[qid] = Tally(after.builds, after.seen, _latest(bucket, "newer"))
        if full:
            truncated.append(qid)
    settled = _value((aggs.get("settled_newest") or {}).get("newest"))
    return Answer(older, newer, settled, _value(aggs.get("newest")), tuple(truncated))


def _leaves(bucket: Mapping[str, Any]) -> tuple[dict[Leaf, frozenset[int]], bool]:
    """Every build of a query's bucket with its hours; and whether a level came back full
    (it may have had more values than asked)."""
    found: dict[Leaf, frozenset[int]] = {}
    full = False
    stack: list[tuple[Mapping[str, Any], int, tuple[str, ...]]] = [(bucket, 0, ())]
    while stack:
        node, depth, path = stack.pop()
        if depth == len(LEVELS):
            hours = (node.get("h") or {}).get("buckets") or []
            leaf = (path[0], path[1], path[2], path[3], path[4])
            found[leaf] = frozenset(int(h["key"]) for h in hours)
            continue
        name, _, size = LEVELS[depth]
        children = (node.get(name) or {}).get("buckets") or []
        full = full or len(children) >= size
        stack += [(child, depth + 1, (*path, str(child["key"]))) for child in children]
    return found, full


def _seen(bucket: Mapping[str, Any]) -> dict[int, tuple[int, int]]:
    seen = {}
    for hour in (bucket.get("t") or {}).get("buckets") or []:
        first, last = _value(hour.get("first")), _value(hour.get("last"))
        if first is not None and last is not None:
            seen[int(hour["key"])] = (first, last)
    return seen


def _latest(bucket: Mapping[str, Any], part: str) -> tuple[LatestBuild, ...]:
    entries = (((bucket.get(part) or {}).get("l") or {}).get("buckets")) or []
    return newest_builds(b for entry in entries if (b := parse_latest(entry)) is not None)


def _value(agg: Mapping[str, Any] | None) -> int | None:
    value = (agg or {}).get("value")
    return int(value) if value is not None else None
