"""The watch path writes down what a bug's impact is counted from (:mod:`bot.impact_store`).

Intake hands every event to :meth:`ImpactRecorder.observe` (a failed build's report, another CI
report, a ``recheck``); the pipeline hands every verdict to :meth:`ImpactRecorder.judged`. The
counts are a by-product: a write that fails is logged and dropped, it never holds up an event or
an announcement.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import replace

from bot.core.errors import describe
from bot.events.model import FailedBuild
from bot.events.parse import Skip
from bot.events.recheck import CiReport, Recheck, change_event
from bot.events.source import RawEvent
from bot.impact_store import (
    BugLabel,
    ImpactJournal,
    ImpactJournalError,
    JudgedBuild,
    JudgedJob,
    RecheckFact,
    ReportFact,
)
from bot.watch.outcome import Outcome

log = logging.getLogger(__name__)

#: Days of facts kept at least: the impact's longest window, and a day to spare.
KEEP_DAYS = 11.0
#: Seconds between prunes of the impact facts.
PRUNE_INTERVAL = 86_400.0
_TROUBLE = (sqlite3.Error, OSError, ImpactJournalError)


def judged_build(build: FailedBuild, outcome: Outcome) -> tuple[JudgedBuild, list[BugLabel]]:
    """The facts of a verdict: each failed job whose verdict named bugs, with its duration."""
    durations = {job.name: job.duration for job in build.failed_jobs}
    jobs = tuple(
        JudgedJob(job.name, durations.get(job.name), tuple(dict.fromkeys(b.key for b in job.bugs)))
        for job in outcome.jobs
        if job.bugs
    )
    labels = {
        b.key: BugLabel(b.key, b.id, b.url, b.title) for job in outcome.jobs for b in job.bugs
    }
    fact = JudgedBuild(
        key=build.key,
        created=build.created,
        server=build.server,
        change=build.change,
        patchset=build.patchset,
        project=build.project,
        queue=build.queue,
        jobs=jobs,
    )
    return fact, list(labels.values())


class ImpactRecorder:
    """Journals impact facts from intake and the pipeline; ``clock`` dates events without one."""

    def __init__(self, journal: ImpactJournal, clock: Callable[[], float] = time.time) -> None:
        self._journal = journal
        self._clock = clock
        self.failures = 0  # writes that failed, for the tests and the curious

    async def observe(
        self, raw: RawEvent, result: FailedBuild | Skip, ci_accounts: Collection[str]
    ) -> None:
        """An event intake read, with what it was converted to."""
        if isinstance(result, FailedBuild):
            # A build without a time is dated when judged: its report comes with the verdict.
            if result.created:
                where = (result.server, result.change, result.patchset)
                await self._safely(
                    self._journal.add_report(ReportFact(*where, result.created, result.key))
                )
            return
        event = change_event(raw, ci_accounts)
        if event is None:
            return
        where = (event.server, event.change, event.patchset)
        created = event.created or self._clock()
        if isinstance(event, Recheck):
            recheck = RecheckFact(*where, created, event.author, event.word)
            await self._safely(self._journal.add_recheck(recheck))
        elif isinstance(event, CiReport):
            await self._safely(self._journal.add_report(ReportFact(*where, created)))

    async def judged(self, build: FailedBuild, outcome: Outcome) -> None:
        """A verdict, as the pipeline saved it (again after a restart: the rows are the same)."""
        if not build.created:  # rare (Gerrit dates its events): dated when judged
            build = replace(build, created=self._clock())
        fact, labels = judged_build(build, outcome)
        await self._safely(self._journal.add_judged(fact, labels))

    async def _safely(self, write: Awaitable[None]) -> None:
        try:
            await write
        except _TROUBLE as exc:
            self.failures += 1
            log.warning("impact journal: a fact was not written: %s", describe(exc))


async def keep_pruned(journal: ImpactJournal, keep_days: float) -> None:
    """Drop old impact facts now and once a day, until cancelled; failures wait a day."""
    while True:
        try:
            if dropped := await journal.prune(max(keep_days, KEEP_DAYS) * 86_400):
                log.info("impact journal: pruned %d builds", dropped)
        except _TROUBLE as exc:
            log.warning("impact journal: prune failed: %s", describe(exc))
        await asyncio.sleep(PRUNE_INTERVAL)
