"""The watch pipeline: FailedBuild → journal → judge (wait for logs, classify) → route → deliver.

Each build is its own task, so one slow build never holds up another; a semaphore bounds how
many are judged at once. Every step is journaled in the state store before the next one runs:
after a restart, unfinished builds resume, a saved verdict is not recomputed, and a room that
already heard about a build does not hear it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from bot.classify import Verdict
from bot.events.model import FailedBuild
from bot.messages import (
    BugLink,
    JobResult,
    format_found,
    format_not_ready,
    format_unrecognized,
)
from bot.queries import Query
from bot.routing import Routing, Subject
from bot.state import StateStore
from bot.transports.base import Room, Text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What is announced about one build."""

    jobs: tuple[JobResult, ...]  # failed voting jobs that were judged, with their bugs
    not_ready: tuple[str, ...] = ()  # jobs whose logs never became searchable
    waited: float = 0.0  # seconds spent waiting for logs
    teams: tuple[str, ...] = ()  # owners of the found bugs' queries
    bug_projects: tuple[str, ...] = ()  # tracker projects of the found bugs

    @property
    def found(self) -> bool:
        return any(job.bugs for job in self.jobs)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Outcome:
        jobs = tuple(
            JobResult(job["name"], tuple(BugLink(**bug) for bug in job["bugs"]), job.get("url"))
            for job in data["jobs"]
        )
        return cls(
            jobs=jobs,
            not_ready=tuple(data.get("not_ready", ())),
            waited=float(data.get("waited", 0.0)),
            teams=tuple(data.get("teams", ())),
            bug_projects=tuple(data.get("bug_projects", ())),
        )


def outcome_of(verdict: Verdict, queries: Mapping[str, Query]) -> Outcome:
    """What to announce from a classification: bugs with their links, late jobs apart.

    As ER did, a failed non-voting job is only mentioned when a query explains it.
    """
    jobs: list[JobResult] = []
    late: list[str] = []
    found: list[Query] = []
    for job in verdict.jobs:
        # A bug found in partial logs is still worth announcing; only silence is "late".
        if job.status == "not-ready":
            late.append(job.job.name)
            continue
        bugs = [queries[bug] for bug in job.bugs if bug in queries]
        if not bugs and not job.job.voting:
            continue
        found += bugs
        links = tuple(BugLink(q.id, q.bug.url, q.title) for q in bugs)
        jobs.append(JobResult(job.job.name, links, job.job.url))
    return Outcome(
        jobs=tuple(jobs),
        not_ready=tuple(late),
        waited=verdict.waited,
        teams=tuple(sorted({q.owner for q in found if q.owner})),
        bug_projects=tuple(sorted({q.bug.project for q in found if q.bug.project})),
    )


Judge = Callable[[FailedBuild], Awaitable[Outcome]]
Deliver = Callable[[Room, Text], Awaitable[None]]


def announcements(
    build: FailedBuild, outcome: Outcome, routing: Routing, uncategorized_url: str | None = None
) -> list[tuple[Room, Text]]:
    """Which rooms hear what about ``build`` (pure: routing + formatting)."""
    subject = Subject(
        server=build.server,
        project=build.project,
        queue=build.queue,
        kind="positive" if outcome.found else "negative",
        branch=build.branch,
        jobs=tuple(job.name for job in outcome.jobs) + outcome.not_ready,
        teams=outcome.teams,
        bug_projects=outcome.bug_projects,
    )
    said: list[tuple[Room, Text]] = []
    if outcome.found:
        text = format_found(build, outcome.jobs)
        said += [(room, text) for room in routing.rooms_for(subject)]
    elif outcome.jobs:
        names = [job.name for job in outcome.jobs]
        text = format_unrecognized(build, names, uncategorized_url)
        said += [(room, text) for room in routing.rooms_for(subject)]
    if outcome.not_ready:
        late = Subject(**{**asdict(subject), "kind": "negative", "any_queue": True})
        text = format_not_ready(build, outcome.not_ready, outcome.waited)
        said += [(room, text) for room in routing.rooms_for(late)]
    return said


class Pipeline:
    """Runs builds through judging and delivery, journaled; ``submit`` never blocks for long."""

    def __init__(
        self,
        *,
        state: StateStore,
        judge: Judge,
        routing: Routing,
        deliver: Deliver,
        uncategorized_url: str | None = None,
        max_concurrent: int = 50,
    ) -> None:
        self._state = state
        self._judge = judge
        self._routing = routing
        self._deliver = deliver
        self._uncategorized_url = uncategorized_url
        self._limit = asyncio.Semaphore(max_concurrent)
        self._tasks: set[asyncio.Task[None]] = set()
        self.processed = 0

    @property
    def pending(self) -> int:
        """Builds received and not yet finished (the queue depth shown by ``!status``)."""
        return len(self._tasks)

    async def submit(self, build: FailedBuild) -> bool:
        """Journal a build and start working on it; False if it was already known."""
        if not await self._state.add_build(build):
            log.debug("already journaled: %s", build.key)
            return False
        self._spawn(build)
        return True

    async def resume(self) -> int:
        """Restart the builds a previous run left unfinished."""
        builds = await self._state.unfinished()
        for build in builds:
            self._spawn(build)
        if builds:
            log.info("resuming %d unfinished builds", len(builds))
        return len(builds)

    def _spawn(self, build: FailedBuild) -> None:
        task = asyncio.create_task(self._process(build), name=f"build {build.key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(self, build: FailedBuild) -> None:
        try:
            async with self._limit:
                outcome = await self._outcome(build)
            for room, text in announcements(build, outcome, self._routing, self._uncategorized_url):
                await self._deliver_once(build, room, text)
            await self._state.finish(build.key)
            self.processed += 1
        except asyncio.CancelledError:
            log.info("stopped while working on %s; it resumes on restart", build.key)
            raise
        except Exception:
            # Left unfinished in the journal: the next start retries it.
            log.exception("failed to process %s", build.key)

    async def _outcome(self, build: FailedBuild) -> Outcome:
        saved = await self._state.verdict(build.key)
        if saved is not None:
            return Outcome.from_json(saved)
        outcome = await self._judge(build)
        await self._state.save_verdict(build.key, outcome.to_json())
        return outcome

    async def _deliver_once(self, build: FailedBuild, room: Room, text: Text) -> None:
        if await self._state.delivered(build.key, room):
            return
        await self._deliver(room, text)
        await self._state.mark_delivered(build.key, room)

    async def drain(self, grace: float) -> None:
        """Let in-flight builds finish for up to ``grace`` s, then cancel the rest."""
        if not self._tasks:
            return
        _, still = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in still:
            task.cancel()
        await asyncio.gather(*still, return_exceptions=True)
