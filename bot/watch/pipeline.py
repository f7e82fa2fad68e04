"""The watch pipeline: FailedBuild → journal → judge (wait for logs, classify) → route → deliver.

Each build is its own task, so one slow build never holds up another. Every step is journaled in
the state store before the next one runs: after a restart, unfinished builds resume, a saved
verdict is not recomputed, and a room that already heard about a build does not hear it again
(the delivery states and what "exactly once" means are in :mod:`bot.state`).

Bounded everywhere, so a flood of events or a dead server costs waiting, never memory:

* intake: :meth:`Pipeline.submit` journals the build first (durable, deduplicated) and starts
  it only while fewer than ``max_active`` builds are in memory; the rest wait *in the journal*
  and are taken, oldest first, as builds finish;
* judging: at most ``max_concurrent`` builds wait for logs or classify at once; a judge that
  fails (search server down) is retried with backoff, and given up after ``judge_retry_for`` s;
* delivery: each room has its own queue (:mod:`bot.watch.delivery`), so a dead channel delays only
  itself; a room not reached within a bounded time is given up, journaled with the reason.
  A build is finished when every room was told or given up.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

from bot.core.errors import ReadableError, describe
from bot.core.retry import Backoff
from bot.events.model import FailedBuild
from bot.state import StateStore
from bot.transports.base import Room, Text
from bot.watch.delivery import OutageLog, Outlet, RoomQueues
from bot.watch.messages import format_found, format_not_ready, format_unrecognized
from bot.watch.outcome import Outcome
from bot.watch.routing import Routing, Subject

log = logging.getLogger(__name__)


Judge = Callable[[FailedBuild], Awaitable[Outcome]]
#: Tells the patch author (a Gerrit review comment), after the rooms were told.
Report = Callable[[FailedBuild, Outcome], Awaitable[object]]
#: What a judge meets when a server or the disk is in trouble: retried quietly (one line per
#: outage). Anything else is a bug, and its traceback is logged.
EXPECTED = (ReadableError, OSError, TimeoutError, sqlite3.Error)
#: Journal key suffix of the "logs not ready" message, so a room routed both messages of one
#: build gets both (each once), not just the first.
NOT_READY = "#not-ready"


def announcement_parts(
    build: FailedBuild,
    outcome: Outcome,
    routing: Routing,
    uncategorized_url: str | None = None,
    dashboard_url: str | None = None,
) -> list[tuple[str, Room, Text]]:
    """Which rooms hear what about ``build`` (pure: routing and formatting), each message with
    its journal key suffix ("" or :data:`NOT_READY`); ``dashboard_url``: the bugs' pages."""
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
    said: list[tuple[str, Room, Text]] = []
    if outcome.found:
        text = format_found(build, outcome.jobs, uncategorized_url, dashboard_url=dashboard_url)
        said += [("", room, text) for room in routing.rooms_for(subject)]
    elif outcome.jobs:
        names = [job.name for job in outcome.jobs]
        text = format_unrecognized(build, names, uncategorized_url)
        said += [("", room, text) for room in routing.rooms_for(subject)]
    if outcome.not_ready:
        late = Subject(**{**asdict(subject), "kind": "negative", "any_queue": True})
        text = format_not_ready(build, outcome.not_ready, outcome.waited)
        said += [(NOT_READY, room, text) for room in routing.rooms_for(late)]
    return said


@dataclass(frozen=True)
class Limits:
    """How much the pipeline holds at once, and how long it keeps trying."""

    max_concurrent: int = 50  # builds judged (waiting for logs, classifying) at once
    max_active: int = 500  # builds in memory; more wait in the journal
    judge_retry_for: float = 3600.0  # seconds a failing judge is retried before giving up
    give_up_after: float = 3600.0  # seconds a room may stay unreachable for one message
    retry_initial: float = 1.0  # first backoff delay (judge and delivery retries)
    retry_max: float = 60.0  # backoff cap


class Pipeline:
    """Runs builds through judging and delivery, journaled; ``submit`` waits for the journal."""

    def __init__(
        self,
        *,
        state: StateStore,
        judge: Judge,
        routing: Routing,
        outlet: Outlet,
        uncategorized_url: str | None = None,
        dashboard_url: str | None = None,
        limits: Limits = Limits(),
        report: Report | None = None,
        record: Report | None = None,
    ) -> None:
        self.limits = limits
        self._state = state
        self._judge = judge
        self._report = report
        self._record = record  # journals what the verdict costs (bot.watch.recording)
        self._routing = routing
        self._uncategorized_url = uncategorized_url
        self._dashboard_url = dashboard_url  # each bug's page is linked in announcements
        self._limit = asyncio.Semaphore(self.limits.max_concurrent)
        self.rooms = RoomQueues(
            state,
            outlet,
            give_up_after=self.limits.give_up_after,
            retry_initial=self.limits.retry_initial,
            retry_max=self.limits.retry_max,
        )
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stalled: set[str] = set()  # failed unexpectedly: left for the next start
        self._backlog = 0  # journaled builds not in memory yet
        self._refilling: asyncio.Task[None] | None = None
        self._outages = OutageLog(log)
        self.processed = 0
        self.given_up = 0
        self.judge_failures: Counter[str] = Counter()  # by exception class, for /metrics

    @property
    def pending(self) -> int:
        """Builds received and not yet finished (the queue depth shown by ``!status``)."""
        return len(self._tasks) + self._backlog

    @property
    def active(self) -> int:
        return len(self._tasks)

    async def submit(self, build: FailedBuild) -> bool:
        """Journal a build and start working on it; False if it was already known.

        A journal that cannot be written (disk full) is retried with backoff: the source waits,
        its events queue up in its connection, and none is dropped.
        """
        if not await self._journal(build):
            log.debug("already journaled: %s", build.key)
            return False
        if len(self._tasks) < self.limits.max_active:
            self._spawn(build)
        else:
            self._backlog += 1  # taken from the journal when a build finishes
        return True

    async def resume(self) -> int:
        """Restart the builds a previous run left unfinished; returns how many there are."""
        total = await self._state.count_unfinished()
        for build in await self._state.unfinished(self.limits.max_active):
            self._spawn(build)
        self._backlog = total - len(self._tasks)
        if total:
            log.info("resuming %d unfinished builds", total)
        return total

    async def _journal(self, build: FailedBuild) -> bool:
        backoff = self._backoff()
        while True:
            try:
                added = await self._state.add_build(build)
            except (sqlite3.Error, OSError) as exc:
                self._outages.failed("journaling events", describe(exc), "the event waits")
                await asyncio.sleep(backoff.next_delay())
                continue
            self._outages.worked("journaling events")
            return added

    def _backoff(self) -> Backoff:
        return Backoff(initial=self.limits.retry_initial, maximum=self.limits.retry_max)

    def _spawn(self, build: FailedBuild) -> None:
        task = asyncio.create_task(self._process(build), name=f"build {build.key}")
        self._tasks[build.key] = task
        task.add_done_callback(lambda _: self._ended(build.key))

    def _ended(self, key: str) -> None:
        self._tasks.pop(key, None)
        if self._backlog and (self._refilling is None or self._refilling.done()):
            self._refilling = asyncio.create_task(self._refill(), name="pipeline refill")

    async def _refill(self) -> None:
        """Take waiting builds from the journal into the free slots, oldest first."""
        free = self.limits.max_active - len(self._tasks)
        busy = frozenset(self._tasks) | frozenset(self._stalled)
        builds = await self._state.unfinished(free, exclude=busy) if free > 0 else []
        for build in builds:
            self._spawn(build)
        self._backlog = max(0, await self._state.count_unfinished() - len(busy) - len(builds))

    async def _process(self, build: FailedBuild) -> None:
        """Judge and announce ``build``; trouble of our own (the journal's disk) is retried."""
        backoff, failures = self._backoff(), 0
        give_up_at = time.monotonic() + self.limits.judge_retry_for
        while True:
            try:
                await self._judge_and_announce(build)
                return
            except asyncio.CancelledError:
                log.info("stopped while working on %s; it resumes on restart", build.key)
                raise
            except Exception:
                failures += 1
                if failures == 1:
                    log.exception("working on %s failed; retrying with backoff", build.key)
                if time.monotonic() >= give_up_at:
                    # Left unfinished in the journal: the next start tries again.
                    self._stalled.add(build.key)
                    log.error("gave up on %s until the next start", build.key)
                    return
                await asyncio.sleep(backoff.next_delay())

    async def _judge_and_announce(self, build: FailedBuild) -> None:
        outcome = await self._outcome(build)
        if isinstance(outcome, str):
            await self._state.finish(build.key, gave_up=f"not judged: {outcome}")
            self.given_up += 1
            return
        if self._record is not None:
            await self._record(build, outcome)
        missed = await self._announce(build, outcome)
        if self._report is not None:
            await self._report_safely(build, outcome)
        await self._state.finish(build.key, gave_up="; ".join(missed) or None)
        self.processed += 1

    async def _report_safely(self, build: FailedBuild, outcome: Outcome) -> None:
        # The review comment is a courtesy: its failure never holds up the build.
        assert self._report is not None
        try:
            await self._report(build, outcome)
        except Exception:
            log.exception("%s: reporting on the review failed", build.key)

    async def _outcome(self, build: FailedBuild) -> Outcome | str:
        """The saved verdict, else a new one; a string says why judging was given up."""
        saved = await self._state.verdict(build.key)
        if saved is not None:
            return Outcome.from_json(saved)
        backoff = self._backoff()
        give_up_at = time.monotonic() + self.limits.judge_retry_for
        traced = False
        while True:
            try:
                async with self._limit:
                    outcome = await self._judge(build)
            except Exception as exc:
                reason = describe(exc)
                self.judge_failures[type(exc).__name__] += 1
                if not traced and not isinstance(exc, EXPECTED):
                    traced = True  # a bug of ours, not an outage: where it is, once per build
                    log.error("%s: judging failed unexpectedly", build.key, exc_info=exc)
                left = give_up_at - time.monotonic()
                if left <= 0:
                    log.warning("%s: gave up judging: %s", build.key, reason)
                    return reason
                self._outages.failed("judging builds", reason, "retrying with backoff")
                await asyncio.sleep(min(backoff.next_delay(), left))
                continue
            self._outages.worked("judging builds")
            await self._state.save_verdict(build.key, outcome.to_json(), outcome.evidence)
            return outcome

    async def _announce(self, build: FailedBuild, outcome: Outcome) -> list[str]:
        """Deliver to every room at once; each room on its own. Returns what was given up."""
        parts = announcement_parts(
            build, outcome, self._routing, self._uncategorized_url, self._dashboard_url
        )
        results = await asyncio.gather(
            *(self.rooms.deliver(build.key + suffix, room, text) for suffix, room, text in parts)
        )
        return [
            f"{room.transport}:{room.id}: {reason}"
            for (_, room, _), (result, reason) in zip(parts, results, strict=True)
            if result == "given-up"
        ]

    async def drain(self, grace: float) -> None:
        """Let in-flight builds finish for up to ``grace`` s, then cancel the rest.

        Whatever is cancelled stays journaled as far as it got and resumes on the next start.
        """
        self._backlog = 0  # no refills from now on: the journal keeps the rest
        if self._refilling is not None:
            self._refilling.cancel()
        tasks = set(self._tasks.values())
        if tasks:
            _, still = await asyncio.wait(tasks, timeout=grace)
            for task in still:
                task.cancel()
            await asyncio.gather(*still, return_exceptions=True)

    async def close(self) -> None:
        """Stop the delivery workers (after the transports have flushed what they hold)."""
        await self.rooms.close()
