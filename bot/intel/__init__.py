"""The first pass over uncategorized failures: cluster them, and suggest a verified query each.

ER listed the failed builds no query explains; people read every log to write the next query.
:func:`find_clusters` does that first read:

1. :func:`bot.intel.uncategorized.uncategorized` — which failed builds no query explains;
2. :mod:`bot.intel.evidence` — their error lines and console tails, plus what successful builds
   of the same jobs print (noise), in one msearch;
3. :mod:`bot.intel.cluster` — builds that failed the same way, with stable ids (``c-3f9a2b``);
4. :mod:`bot.intel.suggest` — per cluster, a query checked on the server: it hits the cluster's
   builds and (almost) no successful build.

:mod:`bot.intel.quality` judges the existing queries (too broad, dead, slow, bug fixed);
:mod:`bot.intel.impact` ranks the known bugs by what they cost (failed builds, rechecks, CI
time, gate resets).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.intel.cluster import Cluster, cluster_jobs
from bot.intel.evidence import fetch_evidence
from bot.intel.suggest import Suggestion, suggest
from bot.intel.uncategorized import uncategorized
from bot.queries import Query
from bot.search.base import SearchBackend

__all__ = [
    "Cluster",
    "ClusterReport",
    "Suggestion",
    "cluster_json",
    "clusters_json",
    "find_clusters",
    "format_clusters",
]

#: Seconds a whole report may take (the CLI and the scheduler wrap it in ``asyncio.timeout``).
REPORT_TIMEOUT = 300.0


@dataclass(frozen=True)
class ClusterReport:
    """The clusters of the uncategorized failures over a period."""

    generated_at: datetime
    days: int
    queue: str | None
    failed: int  # failed builds in the universe
    uncategorized: int  # of which no query explains
    clusters: tuple[Cluster, ...]  # largest first
    suggestions: Mapping[str, Suggestion] = field(default_factory=dict)
    singletons: int = 0  # uncategorized builds like no other
    silent: int = 0  # uncategorized builds with no error line and no telling console tail
    truncated: bool = False

    def get(self, cluster_id: str) -> Cluster | None:
        """The cluster ``c-3f9a2b`` (``3f9a2b`` and unique prefixes such as ``c-3f9a`` too)."""
        wanted = cluster_id.strip().lower()
        wanted = wanted if wanted.startswith("c-") else f"c-{wanted}"
        exact = [c for c in self.clusters if c.id == wanted]
        found = exact or [c for c in self.clusters if c.id.startswith(wanted)]
        return found[0] if len(found) == 1 else None


async def find_clusters(
    backend: SearchBackend,
    queries: Sequence[Query],
    *,
    days: int = 10,
    queue: str | None = "gate",
    min_size: int = 2,
    verify: bool = True,
    generated_at: datetime | None = None,
) -> ClusterReport:
    """Cluster the uncategorized failures of the last ``days`` days (see the module doc)."""
    report = await uncategorized(backend, queries, days, queue)
    builds = [build for job in report.jobs for build in job.unclassified]
    evidence = await fetch_evidence(backend, builds, days=days)
    found = await asyncio.to_thread(
        cluster_jobs, evidence.jobs, evidence.background.noise(), min_size=min_size
    )
    suggestions: dict[str, Suggestion] = {}
    if verify and found.clusters:
        suggestions = await suggest(backend, found.clusters, days=days, queue=queue)
    return ClusterReport(
        generated_at=generated_at or datetime.now(UTC),
        days=days,
        queue=queue,
        failed=report.total,
        uncategorized=len(builds),
        clusters=found.clusters,
        suggestions=suggestions,
        singletons=len(found.singletons),
        silent=len(found.silent),
        truncated=report.truncated,
    )


# --- output: pure ---------------------------------------------------------------------------


def cluster_json(cluster: Cluster, suggestion: Suggestion | None) -> dict[str, Any]:
    """One cluster: the agreed keys first, then extras (precision, recall, YAML, builds)."""
    measured = suggestion.measured if suggestion and suggestion.verified else None
    query = suggestion.query if suggestion else None
    return {
        "id": cluster.id,
        "size": cluster.size,
        "jobs": list(cluster.job_names),
        "projects": list(cluster.projects),
        "first_seen": cluster.first_seen.isoformat(timespec="seconds"),
        "last_seen": cluster.last_seen.isoformat(timespec="seconds"),
        "sample": cluster.sample,
        "suggested_query": query.lucene if query else None,
        "suggested_hits": (
            {"failure": measured.failure, "success": measured.success} if measured else None
        ),
        "precision": round(measured.precision, 3) if measured else None,
        "recall": round(measured.recall, 3) if measured else None,
        "suggested_yaml": suggestion.yaml if suggestion and suggestion.verified else None,
        "no_suggestion_because": suggestion.reason if suggestion and suggestion.reason else None,
        "lines": list(cluster.lines),
        "builds": [
            {
                "uuid": job.build.uuid,
                "job": job.build.job,
                "project": job.build.project,
                "log_url": job.build.log_url,
                "timestamp": job.build.timestamp.isoformat(timespec="seconds"),
                "change": job.build.change,
                "patchset": job.build.patchset,
            }
            for job in cluster.jobs
        ],
    }


def clusters_json(report: ClusterReport) -> list[dict[str, Any]]:
    """``clusters --json`` (and ``uncat --clusters --json``): a list, largest cluster first."""
    return [cluster_json(c, report.suggestions.get(c.id)) for c in report.clusters]


def format_clusters(report: ClusterReport, *, limit: int | None = None) -> str:
    """The report as text: a summary line, then each cluster with its suggested query."""
    where = f"{report.queue} " if report.queue else ""
    head = (
        f"{len(report.clusters)} cluster(s) in {report.uncategorized} uncategorized failed "
        f"{where}builds of the last {report.days} days "
        f"({report.singletons} one-off, {report.silent} without error lines)"
    )
    blocks = [head]
    for cluster in report.clusters[:limit]:
        blocks.append(format_cluster(cluster, report.suggestions.get(cluster.id)))
    return "\n\n".join(blocks)


def format_cluster(cluster: Cluster, suggestion: Suggestion | None) -> str:
    seen = f"{cluster.first_seen:%Y-%m-%d} .. {cluster.last_seen:%Y-%m-%d}"
    lines = [
        f"{cluster.id}  {cluster.size} builds  {seen}",
        f"  jobs: {', '.join(cluster.job_names[:5])}",
        f"  projects: {', '.join(cluster.projects[:5])}",
        f"  sample: {cluster.sample[:300]}",
    ]
    if suggestion is None:
        return "\n".join(lines)
    if suggestion.verified and suggestion.measured:
        lines.append(f"  suggested query ({verified_line(suggestion)}):")
        lines += [f"    {line}" for line in suggestion.yaml.splitlines()]
    else:
        lines.append(f"  no query suggested: {suggestion.reason}")
    return "\n".join(lines)


def verified_line(suggestion: Suggestion) -> str:
    """``12/12 cluster builds, 14 failed / 0 successful builds in 10 d, precision 100 %``."""
    m = suggestion.measured
    if m is None:
        return "not measured"
    return (
        f"hits {m.cluster_hits}/{m.cluster_size} cluster builds, {m.failure} failed / "
        f"{m.success} successful builds in {suggestion.days} d, precision {m.precision:.0%}"
    )
