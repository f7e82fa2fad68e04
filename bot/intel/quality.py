"""How good the known-bug queries are: too broad, dead, slow, or hitting a bug that is fixed.

One msearch body per query (as it classifies: ``voting:1`` implied), over the last N days: the
builds it hits by status. ER's rule of thumb says a query whose hits are more than ~10 %
successful builds is too broad; a query with no hits is dead (or its bug is gone); the ``took``
of each response says how long the server worked on that query alone; a query whose bug the
tracker says is closed but that still hits failed builds points at a fix that did not fix it.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bot.intel.evidence import msearch_all
from bot.queries import Problem, Query
from bot.search.base import Response, SearchBackend, server_reason
from bot.search.stats import query_string, since

Flag = Literal["too-broad", "no-hits", "slow", "fixed-but-hitting", "failed"]
#: Whether a query's bug is closed (None: unknown); may be a coroutine function (trackers are).
BugClosed = Callable[[Query], bool | Awaitable[bool | None] | None]

#: ER's rule of thumb: more than ~10 % of the builds hit succeeded = too broad.
MAX_SUCCESS_SHARE = 0.10
#: Server time per query above which it is flagged slow (``took``, milliseconds).
SLOW_MS = 2000


@dataclass(frozen=True)
class QueryQuality:
    """What one query hit over the window, and what is wrong with it."""

    query: Query
    failure: int = 0  # failed builds hit
    success: int = 0  # successful builds hit
    hits: int = 0  # log lines hit
    took_ms: int | None = None
    bug_closed: bool | None = None
    error: str | None = None  # the server refused the query
    flags: tuple[Flag, ...] = ()

    @property
    def success_share(self) -> float:
        hit = self.failure + self.success
        return self.success / hit if hit else 0.0


@dataclass(frozen=True)
class QualityReport:
    generated_at: datetime
    days: int
    queries: tuple[QueryQuality, ...]  # flagged first, then by id

    @property
    def flagged(self) -> tuple[QueryQuality, ...]:
        return tuple(q for q in self.queries if q.flags)


# --- pure -----------------------------------------------------------------------------------


def quality_body(query: Query, days: int) -> dict[str, Any]:
    """Hits and distinct builds by status of ``query`` as it classifies, over ``days`` days."""
    builds = {"builds": {"cardinality": {"field": "build_uuid", "precision_threshold": 40000}}}
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {"bool": {"must": [query_string(query.effective)], "filter": [since(days)]}},
        "aggs": {"status": {"terms": {"field": "build_status", "size": 10}, "aggs": builds}},
    }


def parse_quality(query: Query, response: Response) -> QueryQuality:
    if "error" in response:
        return QueryQuality(query, error=server_reason(response, "the server refused it"))
    total = response.get("hits", {}).get("total", 0)
    buckets = response.get("aggregations", {}).get("status", {}).get("buckets", [])
    status = {str(b["key"]): int(b["builds"]["value"]) for b in buckets}
    took = response.get("took")
    return QueryQuality(
        query,
        failure=status.get("FAILURE", 0),
        success=status.get("SUCCESS", 0),
        hits=int(total["value"] if isinstance(total, dict) else total),
        took_ms=int(took) if isinstance(took, int | float) else None,
    )


def judge(
    quality: QueryQuality,
    *,
    max_success_share: float = MAX_SUCCESS_SHARE,
    slow_ms: int = SLOW_MS,
) -> tuple[Flag, ...]:
    """What is wrong with a measured query (empty: nothing)."""
    if quality.error is not None:
        return ("failed",)
    flags: list[Flag] = []
    if quality.hits == 0:
        flags.append("no-hits")
    if quality.success_share > max_success_share:
        flags.append("too-broad")
    if quality.took_ms is not None and quality.took_ms > slow_ms:
        flags.append("slow")
    if quality.bug_closed and quality.failure > 0:
        flags.append("fixed-but-hitting")
    return tuple(flags)


def explain(quality: QueryQuality, days: int) -> list[str]:
    """One sentence per flag."""
    reasons = {
        "failed": f"the server refused it: {quality.error}",
        "no-hits": f"no hits in the last {days} days",
        "too-broad": (
            f"too broad: {quality.success_share:.0%} of the builds it hits succeeded "
            f"({quality.success} of {quality.success + quality.failure}; limit 10 %)"
        ),
        "slow": f"slow: the server took {quality.took_ms} ms for it alone",
        "fixed-but-hitting": (
            f"its bug is closed but it hit {quality.failure} failed builds in {days} days"
        ),
    }
    return [reasons[flag] for flag in quality.flags]


def quality_problems(report: QualityReport) -> list[Problem]:
    """``path: problem`` lines, as ``recheckbot check`` prints them."""
    return [
        Problem(q.query.source or Path(q.query.id), f"{_which(q.query)}{reason}")
        for q in report.flagged
        for reason in explain(q, report.days)
    ]


def _which(query: Query) -> str:
    return f"{query.location} ({query.id}): " if query.location else ""


def quality_json(report: QualityReport) -> list[dict[str, Any]]:
    return [
        {
            "id": q.query.id,
            "path": str(q.query.source) if q.query.source else None,
            "flags": list(q.flags),
            "reasons": explain(q, report.days),
            "hits": q.hits,
            "failure_builds": q.failure,
            "success_builds": q.success,
            "success_share": round(q.success_share, 3),
            "took_ms": q.took_ms,
            "bug_closed": q.bug_closed,
        }
        for q in report.queries
    ]


def format_quality(report: QualityReport) -> str:
    lines = [
        f"{len(report.flagged)} of {len(report.queries)} queries flagged (last {report.days} days)"
    ]
    for q in report.flagged:
        lines += [f"{q.query.id}: {reason}" for reason in explain(q, report.days)]
    return "\n".join(lines)


# --- the round trips ------------------------------------------------------------------------


async def check_quality(
    backend: SearchBackend,
    queries: Sequence[Query],
    *,
    days: int = 14,
    bug_closed: BugClosed | None = None,
    max_success_share: float = MAX_SUCCESS_SHARE,
    slow_ms: int = SLOW_MS,
) -> QualityReport:
    """Measure and judge every query; msearch bodies go 10 per round trip."""
    responses = await msearch_all(backend, [quality_body(q, days) for q in queries])
    judged = []
    for query, response in zip(queries, responses, strict=True):
        quality = parse_quality(query, response)
        closed = await _closed(bug_closed, query) if quality.failure else None
        quality = replace(quality, bug_closed=closed)
        flags = judge(quality, max_success_share=max_success_share, slow_ms=slow_ms)
        judged.append(replace(quality, flags=flags))
    judged.sort(key=lambda q: (not q.flags, q.query.id))
    return QualityReport(datetime.now(UTC), days, tuple(judged))


async def _closed(bug_closed: BugClosed | None, query: Query) -> bool | None:
    # Only asked for queries that hit failures: a tracker lookup costs a request.
    if bug_closed is None:
        return None
    answer = bug_closed(query)
    if inspect.isawaitable(answer):
        answer = await answer
    return answer
