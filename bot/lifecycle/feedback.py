"""The weekly impact comment: what each bug's query hit, written on the bug itself (dotnet's
Build Analysis and LUCI Analysis keep impact where the people fixing the bug look).

Once a week (``feedback.comments.schedule``), for each query whose bug is on a tracker the
settings opt in (``trackers``) and that failed at least ``min_failed_builds`` builds in the last
``days``: one search per query (in msearch batches) for its hits, failed builds, changes and
jobs, and a comment on the bug with those and its bug page. Where the tracker allows (Launchpad,
Jira, GitHub), last week's comment is edited rather than a new one added (``edit``).

**Never twice.** A (bug, week) is journaled before the request and settled after it
(:mod:`bot.state.lifecycle`): a restart, a second run in the same week, a retry after a rate
limit skip what was claimed. **Dry run** (the default): the comments are logged, nothing is
posted and nothing journaled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from bot.config.feedback import CommentSettings
from bot.core.errors import describe
from bot.intel.evidence import msearch_all
from bot.queries import Query
from bot.search.base import Response, SearchBackend
from bot.search.stats import query_string, since
from bot.state import StateStore
from bot.trackers import NotFound, TrackerError
from bot.trackers.writer import TrackerWriter
from bot.trackers.writing import Posted, RateLimited, Unreachable

log = logging.getLogger(__name__)

JOBS_SHOWN = 5
#: Seconds before bugs deferred by a tracker that was down or rate-limited us are tried again,
#: when it did not say.
RETRY = 3600.0


@dataclass(frozen=True)
class BugWeek:
    """What one query hit over the comment's days."""

    query: Query
    hits: int
    failed_builds: int
    changes: int
    jobs: tuple[tuple[str, int], ...] = ()  # (job, failed builds), most first


@dataclass
class FeedbackRun:
    """What one run did: bug key → ``posted``, ``edited``, ``already``, ``dry-run``,
    ``given-up: why``, ``skipped: why`` or ``deferred: why``; and when to try the deferred."""

    results: dict[str, str] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)  # bug key → the comment (or would-be)
    retry_after: float | None = None


# --- pure: the search and the comment -------------------------------------------------------


def impact_body(query: Query, days: int) -> dict[str, Any]:
    """Hits, and the failed builds, changes and jobs among them, over the last ``days``."""

    def distinct(name: str) -> dict[str, Any]:
        return {"cardinality": {"field": name, "precision_threshold": 40000}}

    jobs = {
        "terms": {"field": "build_name", "size": JOBS_SHOWN},
        "aggs": {"builds": distinct("build_uuid")},
    }
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {"bool": {"must": [query_string(query.effective)], "filter": [since(days)]}},
        "aggs": {
            "failed": {
                "filter": {"term": {"build_status": "FAILURE"}},
                "aggs": {
                    "builds": distinct("build_uuid"),
                    "changes": distinct("build_change"),
                    "jobs": jobs,
                },
            }
        },
    }


def parse_impact(query: Query, response: Response) -> BugWeek | None:
    """The week's figures, or None when the server refused this search."""
    if "error" in response or "aggregations" not in response:
        return None
    total = response.get("hits", {}).get("total", 0)
    failed = response["aggregations"]["failed"]
    jobs = tuple(
        (str(bucket["key"]), int(bucket["builds"]["value"])) for bucket in failed["jobs"]["buckets"]
    )
    return BugWeek(
        query,
        hits=int(total["value"] if isinstance(total, Mapping) else total),
        failed_builds=int(failed["builds"]["value"]),
        changes=int(failed["changes"]["value"]),
        jobs=tuple(sorted(jobs, key=lambda job: (-job[1], job[0]))),
    )


def format_comment(week: BugWeek, *, days: int, now: datetime, page: str | None, label: str) -> str:
    """The comment's text: plain text, which every tracker shows as written (pure)."""
    q = week.query
    jobs = ", ".join(f"{name} ({count})" for name, count in week.jobs) or "none named"
    lines = [
        f"recheckbot: what the query for this bug ({q.id}) hit in CI in the {days} days to "
        f"{now.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- {_counted(week.failed_builds, 'failed build')} in {_counted(week.changes, 'change')}",
        f"- {_counted(week.hits, 'log line')} matched",
        f"- jobs: {jobs}",
    ]
    if page:
        lines += ["", f"Bug page (failures over time, the lines matched): {page}"]
    lines += ["", f"Updated once a week ({label}) while the query hits."]
    return "\n".join(lines)


def _counted(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def commented_queries(queries: Sequence[Query], settings: CommentSettings) -> list[Query]:
    """The first query of each filed bug on an opted-in tracker."""
    chosen: dict[str, Query] = {}
    for query in queries:
        bug = query.bug
        if bug.tracked and bug.kind in settings.trackers:
            chosen.setdefault(bug.key, query)
    return list(chosen.values())


# --- the run ----------------------------------------------------------------------------------


async def measure(backend: SearchBackend, queries: Sequence[Query], days: int) -> list[BugWeek]:
    """Each query's week, one msearch body each; queries the server refused are left out."""
    responses = await msearch_all(backend, [impact_body(q, days) for q in queries])
    weeks = [parse_impact(q, r) for q, r in zip(queries, responses, strict=True)]
    return [week for week in weeks if week is not None]


class Commenter:
    """Writes (or, in a dry run, logs) each bug's comment of a week."""

    def __init__(
        self,
        settings: CommentSettings,
        *,
        state: StateStore,
        writer: TrackerWriter,
        search: SearchBackend,
        queries: Callable[[], Sequence[Query]],
        page_of: Callable[[str], str | None] = lambda _: None,
    ) -> None:
        self.settings = settings
        self._state = state
        self._writer = writer
        self._search = search
        self._queries = queries
        self._page_of = page_of

    async def run(self, week: str, now: float) -> FeedbackRun:
        s = self.settings
        run = FeedbackRun()
        chosen = commented_queries(self._queries(), s)
        weeks = await measure(self._search, chosen, s.days) if chosen else []
        down: dict[str, str] = {}  # tracker → why its other bugs wait
        for bug_week in weeks:
            if bug_week.failed_builds < s.min_failed_builds:
                continue
            bug = bug_week.query.bug
            text = format_comment(
                bug_week,
                days=s.days,
                now=datetime.fromtimestamp(now, UTC),
                page=self._page_of(bug_week.query.id),
                label=week,
            )
            run.texts[bug.key] = text
            if bug.kind in down:
                run.results[bug.key] = f"deferred: {down[bug.kind]}"
                continue
            run.results[bug.key] = await self._one(bug_week.query, week, now, text, run, down)
        return run

    async def _one(
        self, query: Query, week: str, now: float, text: str, run: FeedbackRun, down: dict[str, str]
    ) -> str:
        """Post (or edit) one bug's comment of ``week``, journaled around the request."""
        bug = query.bug
        if self.settings.dry_run:
            log.info("feedback (dry run) on %s %s:\n%s", bug.kind, bug.id, text)
            return "dry-run"
        if (why := self._writer.refusal(bug)) is not None:
            return f"skipped: {why}"
        if await self._state.comment_row(bug.key, week) is not None:
            return "already"
        last = await self._state.last_comment(bug.key)
        if not await self._state.claim_comment(bug.key, week, now):
            return "already"
        try:
            state, posted = await self._write(bug.key, query, text, last.comment if last else None)
        except TrackerError as exc:
            return await self._failed(query, week, now, exc, run, down)
        await self._state.settle_comment(
            bug.key, week, state, now, comment=posted.ref, url=posted.url
        )
        log.info("feedback: %s on %s %s: %s", state, bug.kind, bug.id, posted.url or posted.ref)
        return state

    async def _write(
        self, key: str, query: Query, text: str, last: str | None
    ) -> tuple[Literal["posted", "edited"], Posted]:
        bug = query.bug
        if last and self.settings.edit and self._writer.can_edit(bug.kind):
            try:
                return "edited", await self._writer.edit_comment(bug, last, text)
            except NotFound:
                log.info("feedback: %s: last week's comment is gone; a new one", key)
        return "posted", await self._writer.comment(bug, text)

    async def _failed(
        self,
        query: Query,
        week: str,
        now: float,
        exc: TrackerError,
        run: FeedbackRun,
        down: dict[str, str],
    ) -> str:
        bug, reason = query.bug, describe(exc)
        if exc.down:
            down[bug.kind] = reason
            wait = exc.retry_after if isinstance(exc, RateLimited) else None
            run.retry_after = max(run.retry_after or 0.0, wait or RETRY)
            log.warning("feedback: %s is down or busy (%s); its bugs wait", bug.kind, reason)
        if isinstance(exc, RateLimited | Unreachable):
            # Refused before anything was taken: the claim goes, and the retry writes it (once).
            await self._state.release_comment(bug.key, week)
            return f"deferred: {reason}"
        # It may have been taken (a timeout, a 5xx): never sent again this week.
        await self._state.settle_comment(bug.key, week, "given-up", now, reason=reason)
        log.warning("feedback on %s %s: given up: %s", bug.kind, bug.id, reason)
        return f"given-up: {reason}"
