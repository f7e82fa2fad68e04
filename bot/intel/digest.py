"""What a weekly digest tells a room: gathered once for every room, then picked per room.

Three things, over the last ``days`` (a week):

* the **costliest bugs** of the room's projects: :mod:`bot.intel.impact` over the journaled
  builds of those projects only, ranked by the score of the week;
* **new uncategorized clusters**: :func:`bot.intel.find_clusters` over ``history_days`` (no
  suggestion verified: the digest names them, ``!suggest <id>`` verifies), the clusters first
  seen within the week that failed builds of the room's projects;
* queries that **stopped hitting**: hits in the ``history_days`` but none in the week, one
  ``filters`` aggregation per :data:`~bot.search.stats.CHUNK` queries; a query belongs to the
  rooms of the projects it hit before.

A room's projects are its channel's ``projects`` (globs over the full or the short name;
``all``: every project). What cannot be gathered (the search server is down) is left out and
named in ``problems``; the journal's part never needs the search server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from bot.core.errors import describe
from bot.impact_store import ImpactFacts, ImpactJournal
from bot.intel import REPORT_TIMEOUT, ClusterReport, find_clusters
from bot.intel.cluster import Cluster
from bot.intel.impact import DAY, BugImpact, impact_report
from bot.queries import Query
from bot.search.base import Response, SearchBackend, SearchError
from bot.search.stats import CHUNK, query_string, since

ALL = "all"


@dataclass(frozen=True)
class Stopped:
    """A query with hits before the week and none in it."""

    query_id: str
    hits_before: int
    last_seen: datetime | None
    projects: tuple[str, ...]  # the projects it hit before, most hits first


@dataclass(frozen=True)
class DigestFacts:
    """Everything the rooms' digests are picked from (``None``: it could not be gathered)."""

    now: float
    days: int
    impact: ImpactFacts
    clusters: ClusterReport | None
    stopped: tuple[Stopped, ...] | None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoomDigest:
    """One room's digest, before it is formatted."""

    days: int
    now: float
    costliest: tuple[BugImpact, ...]
    clusters: tuple[Cluster, ...] | None  # None: not gathered (see problems)
    stopped: tuple[Stopped, ...] | None
    problems: tuple[str, ...] = ()


# --- pure -----------------------------------------------------------------------------------


def wants(patterns: Sequence[str], project: str) -> bool:
    """Whether a room of ``patterns`` cares about ``project`` (``openstack/nova``)."""
    if ALL in patterns:
        return True
    short = project.rsplit("/", 1)[-1]
    return any(fnmatchcase(project, p) or fnmatchcase(short, p) for p in patterns)


def stopped_body(lucene_by_id: Mapping[str, str], days: int, history_days: int) -> dict[str, Any]:
    """Per query over ``history_days``: its hits, those of the last ``days``, its newest hit and
    the projects it hit."""
    filters = {qid: query_string(lucene) for qid, lucene in lucene_by_id.items()}
    per_query = {
        "recent": {"filter": since(days)},
        "last": {"max": {"field": "@timestamp"}},
        "projects": {"terms": {"field": "project", "size": 10}},
    }
    return {
        "size": 0,
        "query": {"bool": {"filter": [since(history_days)]}},
        "aggs": {"queries": {"filters": {"filters": filters}, "aggs": per_query}},
    }


def parse_stopped(response: Response) -> list[Stopped]:
    """The queries of a :func:`stopped_body` answer that hit before but not lately, by id."""
    buckets = response.get("aggregations", {}).get("queries", {}).get("buckets", {})
    found = []
    for qid, bucket in sorted(buckets.items()):
        if not bucket.get("doc_count") or bucket.get("recent", {}).get("doc_count"):
            continue
        last = bucket.get("last", {}).get("value")
        seen = datetime.fromtimestamp(last / 1000, UTC) if isinstance(last, int | float) else None
        projects = tuple(str(b["key"]) for b in bucket.get("projects", {}).get("buckets", []))
        found.append(Stopped(qid, int(bucket["doc_count"]), seen, projects))
    return found


def room_digest(
    facts: DigestFacts, projects: Sequence[str], *, bugs: int = 3, clusters: int = 3
) -> RoomDigest:
    """What a room of ``projects`` is told (pure)."""
    return RoomDigest(
        days=facts.days,
        now=facts.now,
        costliest=costliest(facts, projects, bugs),
        clusters=None if facts.clusters is None else new_clusters(facts, projects)[:clusters],
        stopped=(
            None
            if facts.stopped is None
            else tuple(s for s in facts.stopped if _hit_before(s, projects))
        ),
        problems=facts.problems,
    )


def costliest(facts: DigestFacts, projects: Sequence[str], limit: int) -> tuple[BugImpact, ...]:
    """The ``limit`` bugs that cost the room's projects most over the week."""
    builds = tuple(b for b in facts.impact.builds if wants(projects, b.project))
    # The reports stay whole: a recheck is blamed on the report before it, whoever's it is.
    mine = replace(facts.impact, builds=builds)
    report = impact_report(mine, facts.now, windows=(facts.days,), rank_days=facts.days)
    return tuple(bug for bug in report.bugs if bug.figures(facts.days).failed_builds)[:limit]


def new_clusters(facts: DigestFacts, projects: Sequence[str]) -> tuple[Cluster, ...]:
    """Clusters first seen within the week, of failed builds of the room's projects."""
    if facts.clusters is None:
        return ()
    since_ = datetime.fromtimestamp(facts.now - facts.days * DAY, UTC)
    return tuple(
        cluster
        for cluster in facts.clusters.clusters
        if cluster.first_seen >= since_ and _any_wanted(projects, cluster.projects)
    )


def _hit_before(stopped: Stopped, projects: Sequence[str]) -> bool:
    # A query whose hits named no project is everybody's: only rooms of all projects hear it.
    return ALL in projects or _any_wanted(projects, stopped.projects)


def _any_wanted(patterns: Sequence[str], projects: Iterable[str]) -> bool:
    return any(wants(patterns, project) for project in projects)


# --- the round trips ------------------------------------------------------------------------


async def stopped_queries(
    backend: SearchBackend, queries: Sequence[Query], *, days: int, history_days: int
) -> list[Stopped]:
    """The queries that stopped hitting, as they classify (``voting:1`` implied)."""
    items = [(q.id, q.effective) for q in queries]
    found: list[Stopped] = []
    for start in range(0, len(items), CHUNK):
        body = stopped_body(dict(items[start : start + CHUNK]), days, history_days)
        found += parse_stopped(await backend.search(body))
    return found


async def gather_digest(
    journal: ImpactJournal,
    backend: SearchBackend,
    queries: Sequence[Query],
    *,
    days: int = 7,
    history_days: int = 14,
    queue: str | None = "gate",
    now: float | None = None,
) -> DigestFacts:
    """The journal's facts of the week, the clusters and the stopped queries; a search that
    fails leaves its part out and says why in ``problems``."""
    now = time.time() if now is None else now
    impact = await journal.facts(now - days * DAY)
    problems: list[str] = []
    clusters: ClusterReport | None = None
    stopped: list[Stopped] | None = None
    try:
        async with asyncio.timeout(REPORT_TIMEOUT):
            clusters = await find_clusters(
                backend, queries, days=history_days, queue=queue, verify=False
            )
    except (SearchError, TimeoutError) as exc:
        problems.append(f"uncategorized clusters: {describe(exc)}")
    try:
        stopped = await stopped_queries(backend, queries, days=days, history_days=history_days)
    except SearchError as exc:
        problems.append(f"queries that stopped hitting: {describe(exc)}")
    return DigestFacts(
        now,
        days,
        impact,
        clusters,
        tuple(stopped) if stopped is not None else None,
        tuple(problems),
    )
