"""Filing a bug for a new failure nobody filed: an uncategorized cluster that crossed the
threshold (``feedback.filing``: ``min_builds`` failed builds in ``days``) gets a bug on the
configured tracker, with its evidence lines, builds, suggested query and links; then its
verified query is adopted for the new bug (:mod:`bot.lifecycle.adopt`).

**Never twice for a cluster.** A cluster id is journaled before the bug is filed and settled
with the bug after (:mod:`bot.state.lifecycle`); a cluster with a row is never filed again,
whatever happened (a crash mid-request leaves it at ``filing``: the bug may exist, so it is not
filed again). Cluster ids are stable: the same failure keeps its id from one report to the next.
**Dry run** (the default): the bugs are logged, nothing is filed and nothing journaled.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.bugs import Bug
from bot.config.feedback import FilingSettings
from bot.core.errors import describe
from bot.intel import Cluster, ClusterReport, Suggestion, verified_line
from bot.lifecycle.adopt import AdoptError, adopt, adoption
from bot.lifecycle.propose import ProposeError, Proposer
from bot.queries import QueryRepo
from bot.state import StateStore
from bot.trackers import TrackerError
from bot.trackers.writer import TrackerWriter
from bot.trackers.writing import NewBug, RateLimited, Unreachable

log = logging.getLogger(__name__)

TITLE_CHARS = 100
LINES_SHOWN = 5
BUILDS_SHOWN = 10

#: The clusters of the uncategorized failures over ``days`` days in ``queue``.
Clusters = Callable[[int, str | None], Awaitable[ClusterReport]]


@dataclass
class FilingRun:
    """What one look did: cluster id → ``filed <bug url>``, ``dry-run``, ``already``,
    ``given-up: why`` or ``deferred: why``; and each filed cluster's proposal."""

    results: dict[str, str] = field(default_factory=dict)
    bugs: dict[str, NewBug] = field(default_factory=dict)  # cluster id → what it (would) say
    proposals: dict[str, str] = field(default_factory=dict)  # cluster id → change URL or why


# --- pure -----------------------------------------------------------------------------------


def due_clusters(report: ClusterReport, min_builds: int) -> list[Cluster]:
    """The clusters with at least ``min_builds`` failed builds in the report's window."""
    return [cluster for cluster in report.clusters if cluster.size >= min_builds]


def new_bug(
    cluster: Cluster,
    suggestion: Suggestion | None,
    settings: FilingSettings,
    *,
    days: int,
    uncategorized_url: str | None = None,
) -> NewBug:
    """The bug to file for ``cluster``: a title from its most telling line, a description of
    what failed, the lines, the builds, the suggested query and links (pure)."""
    sample = " ".join(cluster.sample.split())
    title = f"CI failure: {sample}"
    title = title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1] + "…"
    assert settings.project is not None
    return NewBug(
        project=settings.project,
        title=title,
        description=bug_description(cluster, suggestion, days=days, url=uncategorized_url),
        labels=settings.labels,
        issue_type=settings.issue_type,
    )


def bug_description(
    cluster: Cluster, suggestion: Suggestion | None, *, days: int, url: str | None
) -> str:
    seen = f"{cluster.first_seen:%Y-%m-%d %H:%M} to {cluster.last_seen:%Y-%m-%d %H:%M} UTC"
    parts = [
        f"recheckbot saw {cluster.size} failed CI builds in {days} days that no known bug "
        f"explains, all failing the same way (cluster {cluster.id}, {seen}).",
        f"Jobs: {', '.join(cluster.job_names[:5])}\nProjects: {', '.join(cluster.projects[:5])}",
        "The lines most of them logged:\n"
        + "\n".join(f"  {line[:300]}" for line in cluster.samples[:LINES_SHOWN]),
        "Builds (newest first):\n"
        + "\n".join(
            f"  {job.build.log_url} ({job.build.job}, change {job.build.change}, "
            f"{job.build.timestamp:%Y-%m-%d %H:%M})"
            for job in cluster.jobs[:BUILDS_SHOWN]
        ),
    ]
    if suggestion is not None and suggestion.verified:
        parts.append(
            f"Suggested query ({verified_line(suggestion)}), proposed to the query "
            f"repository for this bug:\n"
            + "\n".join(f"  {line}" for line in suggestion.yaml.splitlines())
        )
    if url:
        parts.append(f"The uncategorized failures: {url}")
    return "\n\n".join(parts)


# --- the run ----------------------------------------------------------------------------------


class Filer:
    """Files (or, in a dry run, logs) a bug per due cluster; adopts its query for it."""

    def __init__(
        self,
        settings: FilingSettings,
        *,
        state: StateStore,
        writer: TrackerWriter,
        clusters: Clusters,
        repo: Callable[[], QueryRepo],
        proposer: Proposer,
        uncategorized_url: str | None = None,
    ) -> None:
        self.settings = settings
        self._state = state
        self._writer = writer
        self._clusters = clusters
        self._repo = repo
        self._proposer = proposer
        self._url = uncategorized_url

    async def run(self, now: float) -> FilingRun:
        s = self.settings
        run = FilingRun()
        if s.tracker is None:
            return run
        report = await self._clusters(s.days, s.queue)
        for cluster in due_clusters(report, s.min_builds):
            suggestion = report.suggestions.get(cluster.id)
            bug = new_bug(cluster, suggestion, s, days=s.days, uncategorized_url=self._url)
            run.bugs[cluster.id] = bug
            result = await self._one(report, cluster, bug, now, run)
            run.results[cluster.id] = result
            if result.startswith("deferred"):
                break  # the tracker is down or busy: the next look tries the rest
        return run

    async def _one(
        self, report: ClusterReport, cluster: Cluster, bug: NewBug, now: float, run: FilingRun
    ) -> str:
        s = self.settings
        assert s.tracker is not None
        if await self._state.filed(cluster.id) is not None:
            return "already"
        if s.dry_run:
            log.info(
                "filing (dry run) on %s %s for %s: %s\n%s",
                s.tracker,
                bug.project,
                cluster.id,
                bug.title,
                bug.description,
            )
            return "dry-run"
        if not await self._state.claim_cluster(cluster.id, now):
            return "already"
        try:
            filed = await self._writer.file_bug(s.tracker, bug)
        except TrackerError as exc:
            return await self._failed(cluster, now, exc)
        await self._state.settle_cluster(cluster.id, "filed", now, bug=filed.key, url=filed.url)
        log.info("filing: %s filed for %s (%d builds)", filed.url, cluster.id, cluster.size)
        if s.adopt:
            run.proposals[cluster.id] = await self._adopt(report, cluster, filed)
        return f"filed {filed.url}"

    async def _failed(self, cluster: Cluster, now: float, exc: TrackerError) -> str:
        reason = describe(exc)
        if isinstance(exc, RateLimited | Unreachable):
            await self._state.release_cluster(cluster.id)  # nothing was taken: file it later
            log.warning("filing for %s: %s; tried again at the next look", cluster.id, reason)
            return f"deferred: {reason}"
        await self._state.settle_cluster(cluster.id, "given-up", now, reason=reason)
        log.warning("filing for %s: given up: %s", cluster.id, reason)
        return f"given-up: {reason}"

    async def _adopt(self, report: ClusterReport, cluster: Cluster, bug: Bug) -> str:
        """The cluster's query proposed for the new bug; what came of it, journaled."""
        settings = self._proposer.settings
        try:
            plan = adoption(report, cluster.id, bug, self._repo(), settings)
            done = await adopt(plan, self._proposer, propose=settings.enabled)
        except (AdoptError, ProposeError) as exc:
            outcome = f"not adopted: {describe(exc)}"
        else:
            proposed = done.proposed
            outcome = (
                (proposed.url or proposed.ref) if proposed else "dry run: " + done.commands[-1]
            )
        await self._state.record_proposal(cluster.id, outcome)
        log.info("filing: %s's query for %s: %s", cluster.id, bug.url, outcome)
        return outcome
