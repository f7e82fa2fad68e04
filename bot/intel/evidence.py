"""What each uncategorized failed build says went wrong: its error lines and the end of its console.

Per build: the lines at error level (``loglevel`` ERROR/CRITICAL/FATAL) or carrying an error word
(Traceback, error, failed, timed out, ...; "FAILED" test lines are among them), the newest first,
and the last lines of the console before Zuul's end marker (for jobs that died without an error
line). Both come from ``top_hits`` under a ``terms`` aggregation on ``build_uuid``: one search
answers for a few hundred builds, and all the searches of a report go in one msearch.

The same aggregation over a sample of *successful* builds of the same jobs gives the background:
templates that passing builds print too are noise, not the cause of a failure.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.intel.normalize import normalize
from bot.intel.uncategorized import UncatBuild
from bot.search.base import Response, SearchBackend, SearchQueryError, server_reason
from bot.search.builds import CONSOLE_END
from bot.search.schema import doc_text
from bot.search.stats import query_string, since

#: Error lines kept per build (newest first: the fatal error is usually near the end).
ERROR_LINES = 20
#: Console lines kept per build before the end marker.
TAIL_LINES = 5
#: Builds per search: bounds the response (builds x lines x ~300 bytes).
BUILDS_PER_SEARCH = 200
#: Searches per msearch round trip.
SEARCHES_PER_MSEARCH = 10
#: Evidence searches per msearch: each answers with up to ~600 KB of lines, and the client
#: decodes a response on the event loop; one per trip keeps that to ~20 ms.
EVIDENCE_PER_MSEARCH = 1
#: Successful builds sampled for the background.
BACKGROUND_BUILDS = 200
#: A template printed by this share of the sampled successful builds is noise.
NOISE_SHARE = 0.05
#: Raw lines are cut here before normalising: a 1 MB line must not cost a second.
MAX_LINE = 1000

ERROR_LEVELS = ("ERROR", "CRITICAL", "FATAL", "error", "critical", "fatal")
# Terms of the analyzed message: "ValueError" is one token, so exception lines are caught by
# their level, their message ("... failed", "Connection refused") or the Traceback line.
ERROR_WORDS = (
    "message:(Traceback OR error OR errors OR exception OR failed OR fail OR failure OR fatal OR "
    'critical OR panic OR "timed out" OR timeout OR refused OR killed OR denied OR aborted OR '
    "segfault OR unreachable)"
)
CONSOLE_FILES = 'filename:"job-output.txt" OR filename:"console.html" OR tags:"console"'
_SOURCE = ["message", "@timestamp", "filename", "loglevel"]


@dataclass(frozen=True)
class EvidenceLine:
    """One log line, as logged (cut to :data:`MAX_LINE`) and as a template."""

    message: str
    template: str
    filename: str
    timestamp: str


@dataclass(frozen=True)
class JobEvidence:
    """One build and what its logs say; lines oldest first."""

    build: UncatBuild
    errors: tuple[EvidenceLine, ...] = ()
    tail: tuple[EvidenceLine, ...] = ()


@dataclass(frozen=True)
class Background:
    """Templates printed by successful builds: ``counts[t]`` = builds that printed ``t``."""

    builds: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)

    def noise(self, share: float = NOISE_SHARE) -> frozenset[str]:
        """Templates printed by at least ``share`` of the sampled successful builds (and by
        two: one passing build printing a line says little on a small sample).
        """
        floor = max(2.0, share * self.builds)
        return frozenset(t for t, n in self.counts.items() if n >= floor)


@dataclass(frozen=True)
class Evidence:
    jobs: tuple[JobEvidence, ...]
    background: Background


# --- request bodies: pure ------------------------------------------------------------------------


def lines_aggs(errors: int = ERROR_LINES, tail: int = TAIL_LINES) -> dict[str, Any]:
    """Per build: its newest error lines and its last console lines before the end marker."""

    def newest(size: int) -> dict[str, Any]:
        order = [{"@timestamp": {"order": "desc"}}]
        return {"lines": {"top_hits": {"size": size, "sort": order, "_source": _SOURCE}}}

    error_filter = {
        "bool": {
            "should": [{"terms": {"loglevel": list(ERROR_LEVELS)}}, query_string(ERROR_WORDS)],
            "minimum_should_match": 1,
        }
    }
    tail_filter = {"bool": {"must": [query_string(CONSOLE_FILES)], "must_not": [_console_end()]}}
    return {
        "errors": {"filter": error_filter, "aggs": newest(errors)},
        "tail": {"filter": tail_filter, "aggs": newest(tail)},
    }


def _console_end() -> dict[str, Any]:
    return {"query_string": {"query": CONSOLE_END}}


def evidence_body(uuids: Sequence[str], days: int) -> dict[str, Any]:
    """The evidence of the builds ``uuids`` (a day of slack: a build may start before it)."""
    builds = {"terms": {"field": "build_uuid", "size": len(uuids)}, "aggs": lines_aggs()}
    return {
        "size": 0,
        "query": {"bool": {"filter": [{"terms": {"build_uuid": list(uuids)}}, since(days + 1)]}},
        "aggs": {"builds": builds},
    }


def background_body(
    jobs: Iterable[str], days: int, builds: int = BACKGROUND_BUILDS
) -> dict[str, Any]:
    """The same evidence for the newest successful builds of ``jobs``."""
    bucket = {
        "terms": {"field": "build_uuid", "size": builds, "order": {"latest": "desc"}},
        "aggs": {"latest": {"max": {"field": "@timestamp"}}, **lines_aggs()},
    }
    filters = [
        {"term": {"build_status": "SUCCESS"}},
        {"terms": {"build_name": sorted(set(jobs))}},
        since(days),
    ]
    return {"size": 0, "query": {"bool": {"filter": filters}}, "aggs": {"builds": bucket}}


# --- responses: pure -----------------------------------------------------------------------------


def parse_lines(bucket: Mapping[str, Any], name: str) -> tuple[EvidenceLine, ...]:
    """The lines of one ``errors``/``tail`` sub-aggregation, oldest first."""
    hits = bucket.get(name, {}).get("lines", {}).get("hits", {}).get("hits", [])
    lines = [_line(hit.get("_source", {})) for hit in reversed(hits)]
    return tuple(line for line in lines if line.template)


def _line(source: Mapping[str, Any]) -> EvidenceLine:
    message = doc_text(source, "message")[:MAX_LINE]
    return EvidenceLine(
        message=message,
        template=normalize(message),
        filename=doc_text(source, "filename"),
        timestamp=doc_text(source, "@timestamp"),
    )


def parse_evidence(response: Response, builds: Sequence[UncatBuild]) -> list[JobEvidence]:
    """Evidence of each of ``builds``, in their order (no lines for a build with no bucket)."""
    buckets = {str(b["key"]): b for b in _buckets(response)}
    found = []
    for build in builds:
        bucket = buckets.get(build.uuid, {})
        found.append(JobEvidence(build, parse_lines(bucket, "errors"), parse_lines(bucket, "tail")))
    return found


def parse_background(response: Response) -> Background:
    """How many sampled successful builds printed each template (error and tail lines)."""
    counts: Counter[str] = Counter()
    buckets = _buckets(response)
    for bucket in buckets:
        lines = parse_lines(bucket, "errors") + parse_lines(bucket, "tail")
        counts.update({line.template for line in lines})
    return Background(builds=len(buckets), counts=dict(counts))


def _buckets(response: Response) -> list[dict[str, Any]]:
    if "error" in response:
        reason = server_reason(response, "unknown error")
        raise SearchQueryError(f"search server rejected the evidence search: {reason}")
    buckets: list[dict[str, Any]] = (
        response.get("aggregations", {}).get("builds", {}).get("buckets", [])
    )
    return buckets


def chunked(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# --- the round trips -----------------------------------------------------------------------------


async def fetch_evidence(
    backend: SearchBackend,
    builds: Sequence[UncatBuild],
    *,
    days: int,
) -> Evidence:
    """Evidence for ``builds`` and the background of their jobs, in few msearch round trips."""
    if not builds:
        return Evidence((), Background())
    jobs: list[JobEvidence] = []
    for trip in chunked(chunked(builds, BUILDS_PER_SEARCH), EVIDENCE_PER_MSEARCH):
        bodies = [evidence_body([b.uuid for b in group], days) for group in trip]
        responses = await backend.msearch(bodies)
        # Normalising thousands of lines takes a second or more: off the event loop. Parsed a
        # trip at a time, so the raw responses do not pile up (a big heap makes every garbage
        # collection, on the loop too, slower).
        jobs += await asyncio.to_thread(_parse_trip, trip, responses)
    [background] = await backend.msearch([background_body({b.job for b in builds}, days)])
    return Evidence(tuple(jobs), await asyncio.to_thread(parse_background, background))


def _parse_trip(
    groups: Sequence[Sequence[UncatBuild]], responses: Sequence[Response]
) -> list[JobEvidence]:
    return [
        job for group, r in zip(groups, responses, strict=True) for job in parse_evidence(r, group)
    ]


async def msearch_all(
    backend: SearchBackend,
    bodies: Sequence[Mapping[str, Any]],
    per_trip: int = SEARCHES_PER_MSEARCH,
) -> list[Response]:
    """All ``bodies`` through msearch, ``per_trip`` per round trip, one trip after another.

    Sequential on purpose: each body scans the window's indices, and a background job should not
    take the cluster's whole search thread pool.
    """
    responses: list[Response] = []
    for chunk in chunked(bodies, per_trip):
        responses += await backend.msearch(chunk)
    return responses
