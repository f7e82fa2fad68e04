"""Failed gate builds that no known bug explains (ER's uncategorized pages), in one request.

The failure universe is ER's all-fails query, modernised: voting builds with status FAILURE in
one queue (gate by default) over the last N days. ONE search answers both questions:

- a ``terms`` aggregation over build_uuid lists the failed builds, each with a ``top_hits`` of
  size 1 for its job name, project, log URL and time;
- a ``filters`` aggregation, one named filter per query (restricted to the same failed builds by
  the top-level query), lists which builds each query hit (``terms`` on build_uuid).

A build is classified when any query hit it. Queries marked ``suppress-graph`` or
``suppress-notification`` still count, as in ER.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.queries import Query
from bot.search.base import Response, SearchBackend
from bot.search.schema import doc_text, log_dir
from bot.search.stats import query_string, since

#: Failed builds per report: ES' default bucket limit is 65535; ten days of a busy gate fit.
MAX_BUILDS = 10000

_SOURCE = [
    "build_name",
    "project",
    "log_url",
    "filename",
    "@timestamp",
    "build_change",
    "build_patchset",
    "change_url",
]


@dataclass(frozen=True)
class UncatBuild:
    """One failed build."""

    uuid: str
    job: str
    project: str
    log_url: str
    timestamp: datetime
    change: str = ""
    patchset: str = ""
    change_url: str = ""  # the review, when the documents name it (logsender's layout)


@dataclass(frozen=True)
class JobFailures:
    """One job's failures: how many, and the ones no query explains (newest first)."""

    name: str
    total: int
    unclassified: tuple[UncatBuild, ...]

    @property
    def rate(self) -> float:
        """Classified share of this job's failures, percent (ER's per-job ``rate``)."""
        return 100.0 - len(self.unclassified) * 100.0 / self.total if self.total else 100.0


@dataclass(frozen=True)
class UncatReport:
    """The uncategorized failures over a period."""

    generated_at: datetime
    days: int
    queue: str | None
    total: int  # failed builds
    classified: int
    jobs: tuple[JobFailures, ...]  # most unclassified first
    bug_hits: tuple[tuple[str, int], ...]  # (query id, failed builds hit), most first
    truncated: bool = False  # more failed builds than MAX_BUILDS: the newest were kept

    @property
    def unclassified(self) -> int:
        return self.total - self.classified

    @property
    def rate(self) -> float:
        """Classified share of all failures, percent (ER's ``rate['overall']``)."""
        return self.classified * 100.0 / self.total if self.total else 100.0


def failed_builds_filter(days: int, queue: str | None) -> list[dict[str, Any]]:
    """ER's all-fails universe: voting builds that failed, in ``queue``, in the last ``days``."""
    clauses: list[dict[str, Any]] = [
        {"term": {"build_status": "FAILURE"}},
        # Text: ER's keyword field holds it, logsender's integer field parses it.
        {"term": {"voting": "1"}},
        since(days),
    ]
    if queue:
        clauses.append({"term": {"build_queue": queue}})
    return clauses


def uncat_body(
    queries: Sequence[Query],
    *,
    days: int = 10,
    queue: str | None = "gate",
    max_builds: int = MAX_BUILDS,
) -> dict[str, Any]:
    """The failed builds (with one document each) and, per query, the failed builds it hit."""
    first = {
        "top_hits": {"size": 1, "sort": [{"@timestamp": {"order": "desc"}}], "_source": _SOURCE}
    }
    builds = {
        # Newest builds first, so that a truncated report keeps the recent failures.
        "terms": {"field": "build_uuid", "size": max_builds, "order": {"latest": "desc"}},
        "aggs": {"latest": {"max": {"field": "@timestamp"}}, "first": first},
    }
    aggs: dict[str, Any] = {"builds": builds}
    if queries:
        filters = {q.id: query_string(q.effective) for q in queries}
        hit = {"terms": {"field": "build_uuid", "size": max_builds}}
        aggs["bugs"] = {"filters": {"filters": filters}, "aggs": {"builds": hit}}
    return {
        "size": 0,
        "query": {"bool": {"filter": failed_builds_filter(days, queue)}},
        "aggs": aggs,
    }


def parse_uncat(
    response: Response,
    *,
    days: int,
    queue: str | None,
    generated_at: datetime | None = None,
) -> UncatReport:
    """Group the failed builds per job; a build is classified when any query hit it."""
    aggs = response.get("aggregations", {})
    builds_agg = aggs.get("builds", {})
    builds = [parse_build(b) for b in builds_agg.get("buckets", [])]
    hits = {
        qid: {str(b["key"]) for b in bucket["builds"]["buckets"]}
        for qid, bucket in aggs.get("bugs", {}).get("buckets", {}).items()
    }
    known = {b.uuid for b in builds}
    explained = set().union(*hits.values()) & known if hits else set()
    bug_hits = sorted(
        ((qid, len(uuids & known)) for qid, uuids in hits.items() if uuids & known),
        key=lambda row: (-row[1], row[0]),
    )
    return UncatReport(
        generated_at=generated_at or datetime.now(UTC),
        days=days,
        queue=queue,
        total=len(builds),
        classified=len(explained),
        jobs=group_jobs(builds, explained),
        bug_hits=tuple(bug_hits),
        truncated=int(builds_agg.get("sum_other_doc_count", 0)) > 0,
    )


def parse_build(bucket: Mapping[str, Any]) -> UncatBuild:
    source = bucket["first"]["hits"]["hits"][0]["_source"]
    return UncatBuild(
        uuid=str(bucket["key"]),
        job=doc_text(source, "build_name") or "(unknown job)",
        project=doc_text(source, "project"),
        log_url=log_dir(doc_text(source, "log_url"), doc_text(source, "filename")),
        timestamp=parse_time(str(source["@timestamp"])),
        change=doc_text(source, "build_change"),
        patchset=doc_text(source, "build_patchset"),
        change_url=doc_text(source, "change_url"),
    )


def parse_time(text: str) -> datetime:
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def group_jobs(builds: Sequence[UncatBuild], explained: set[str]) -> tuple[JobFailures, ...]:
    """Per job: total failures and the unexplained builds; most unexplained first."""
    by_job: dict[str, list[UncatBuild]] = {}
    for build in builds:
        by_job.setdefault(build.job, []).append(build)
    jobs = [
        JobFailures(
            name=name,
            total=len(runs),
            unclassified=tuple(
                sorted(
                    (b for b in runs if b.uuid not in explained),
                    key=lambda b: b.timestamp,
                    reverse=True,
                )
            ),
        )
        for name, runs in by_job.items()
    ]
    return tuple(sorted(jobs, key=lambda j: (-len(j.unclassified), -j.total, j.name)))


async def uncategorized(
    backend: SearchBackend,
    queries: Sequence[Query],
    days: int = 10,
    queue: str | None = "gate",
) -> UncatReport:
    """The uncategorized failures report (used by ``recheckbot uncat`` and ``!uncat``)."""
    body = uncat_body(queries, days=days, queue=queue)
    return parse_uncat(await backend.search(body), days=days, queue=queue)


def uncat_json(report: UncatReport) -> dict[str, Any]:
    """The report as JSON: totals, rates, per-job failures with log links."""
    return {
        "generated_at": report.generated_at.isoformat(timespec="seconds"),
        "days": report.days,
        "queue": report.queue,
        "total": report.total,
        "classified": report.classified,
        "unclassified": report.unclassified,
        "rate": round(report.rate, 1),
        "truncated": report.truncated,
        "bugs": [{"id": qid, "builds": n} for qid, n in report.bug_hits],
        "jobs": [
            {
                "name": job.name,
                "total": job.total,
                "unclassified": len(job.unclassified),
                "rate": round(job.rate, 1),
                "builds": [_build_json(b) for b in job.unclassified],
            }
            for job in report.jobs
        ],
    }


def _build_json(build: UncatBuild) -> dict[str, Any]:
    return {
        "uuid": build.uuid,
        "log_url": build.log_url,
        "timestamp": build.timestamp.isoformat(timespec="seconds"),
        "project": build.project,
        "change": build.change,
        "patchset": build.patchset,
        "change_url": build.change_url,
    }
