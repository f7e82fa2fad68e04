"""How often queries hit: server-side aggregations, never pulling hits to count them.

Bodies are built by pure functions (``*_body``) and read back by pure functions (``parse_*``),
so the network part is two lines and the rest is tested on recorded responses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.search.base import Response, SearchBackend

#: Fields shown in a query's breakdown (ER's elastic-recheck-query printed every field).
BREAKDOWN_FIELDS = ("build_name", "project", "build_queue", "build_branch", "node_provider", "tags")

#: Queries per ``filters`` aggregation when counting many: keeps each request short.
CHUNK = 25


def query_string(lucene: str) -> dict[str, Any]:
    """A ``query_string`` clause with ER's semantics (default operator AND)."""
    return {"query_string": {"query": lucene, "default_operator": "AND"}}


def since(days: int) -> dict[str, Any]:
    """A filter on the last ``days`` days."""
    return {"range": {"@timestamp": {"gte": f"now-{days}d"}}}


def since_midnight(days: int) -> dict[str, Any]:
    """A filter on the last ``days`` calendar days (UTC), today included.

    What a per-day histogram shows: ``days`` whole buckets. A rolling ``now-7d`` window also
    reaches into an eighth calendar day, which became an eighth bucket (and hits in it counted
    in the total but fell outside the days people were shown).
    """
    return {"range": {"@timestamp": {"gte": f"now-{days - 1}d/d"}}}


def hit_counts_body(lucene_by_id: Mapping[str, str], days: int) -> dict[str, Any]:
    """One ``filters`` aggregation: a named bucket per query, over the last ``days`` days."""
    filters = {qid: query_string(lucene) for qid, lucene in lucene_by_id.items()}
    return {
        "size": 0,
        "query": {"bool": {"filter": [since(days)]}},
        "aggs": {"queries": {"filters": {"filters": filters}}},
    }


def parse_hit_counts(response: Response) -> dict[str, int]:
    buckets = response["aggregations"]["queries"]["buckets"]
    return {qid: int(bucket["doc_count"]) for qid, bucket in buckets.items()}


async def query_hit_counts(
    backend: SearchBackend,
    lucene_by_id: Mapping[str, str],
    *,
    days: int,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Hits per query over the last ``days`` days; ``progress(n)`` after each chunk of n."""
    items = list(lucene_by_id.items())
    counts: dict[str, int] = {}
    for start in range(0, len(items), CHUNK):
        chunk = dict(items[start : start + CHUNK])
        counts |= parse_hit_counts(await backend.search(hit_counts_body(chunk, days)))
        if progress:
            progress(len(chunk))
    return counts


@dataclass(frozen=True)
class QueryReport:
    """What one query hit over a period."""

    hits: int
    builds: int  # distinct build_uuid
    failed_builds: int  # distinct build_uuid with build_status FAILURE
    per_day: tuple[tuple[str, int, int], ...]  # (YYYY-MM-DD, hits, failed builds)
    breakdown: Mapping[str, tuple[tuple[str, int], ...]]  # field -> (value, hits) most first

    @property
    def failure_rate(self) -> float:
        """Share of the matched builds that failed (ER: > ~10 % success hits = too broad)."""
        return self.failed_builds / self.builds if self.builds else 0.0


def report_body(lucene: str, days: int, top: int = 5) -> dict[str, Any]:
    """Everything :class:`QueryReport` shows, in one request, over the last ``days`` calendar
    days (UTC, today included): exactly ``days`` daily buckets, which add up to the hits."""
    failed = {"filter": {"term": {"build_status": "FAILURE"}}, "aggs": _distinct_builds()}
    terms = {
        name: {"terms": {"field": name, "size": top}, "aggs": {"failed": failed}}
        for name in BREAKDOWN_FIELDS
    }
    per_day = {
        "date_histogram": {
            "field": "@timestamp",
            "calendar_interval": "day",
            "min_doc_count": 0,
            "extended_bounds": {"min": f"now-{days - 1}d/d", "max": "now/d"},
        },
        "aggs": {"failed": failed},
    }
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {"bool": {"must": [query_string(lucene)], "filter": [since_midnight(days)]}},
        "aggs": {**_distinct_builds(), "failed": failed, "per_day": per_day, **terms},
    }


def _distinct_builds() -> dict[str, Any]:
    # Exact enough below the cardinality threshold (counts up to 40k builds exactly).
    return {"builds": {"cardinality": {"field": "build_uuid", "precision_threshold": 40000}}}


def parse_report(response: Response) -> QueryReport:
    aggs = response["aggregations"]
    total = response["hits"]["total"]
    days = tuple(
        (bucket["key_as_string"][:10], int(bucket["doc_count"]), _failed(bucket))
        for bucket in aggs["per_day"]["buckets"]
    )
    breakdown = {
        name: tuple((str(b["key"]), int(b["doc_count"])) for b in aggs[name]["buckets"])
        for name in BREAKDOWN_FIELDS
    }
    return QueryReport(
        hits=int(total["value"] if isinstance(total, Mapping) else total),
        builds=int(aggs["builds"]["value"]),
        failed_builds=_failed(aggs),
        per_day=days,
        breakdown=breakdown,
    )


def _failed(bucket: Mapping[str, Any]) -> int:
    return int(bucket["failed"]["builds"]["value"])


async def query_report(
    backend: SearchBackend, lucene: str, *, days: int, top: int = 5
) -> QueryReport:
    """Hits, builds, failure rate, per-day and per-field breakdown of one query."""
    return parse_report(await backend.search(report_body(lucene, days, top)))


def format_breakdown(field_rows: Sequence[tuple[str, int]], hits: int) -> list[str]:
    """ER-style ``  <P>% <value>`` lines (integer-truncated share of the hits)."""
    return [f"  {count * 100 // hits if hits else 0:3d}% {value}" for value, count in field_rows]
