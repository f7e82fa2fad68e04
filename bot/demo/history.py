"""The demo's impact journal: what a bot that had watched the demo's ten days would have written.

The demo's search index holds ten days of builds, but its bot starts with an empty journal, so
``!top``, the dashboard's costs and the weekly digest (shown at start) would have nothing to
count. :func:`journal_history` writes the facts of the older failures, the ones not replayed,
as :mod:`bot.watch.recording` would have: each failed build judged (the bug its logs carry, the
job's duration), its CI report, and a developer's ``recheck`` after every third known-bug
failure. The replayed failures are judged by the bot itself, and some of them are rechecked
in the replay (:func:`bot.demo.data.recheck_event`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from bot.demo.data import DemoBuildset, DemoData, DemoJob
from bot.impact_store import (
    BugLabel,
    ImpactJournal,
    JudgedBuild,
    JudgedJob,
    RecheckFact,
    ReportFact,
)
from bot.queries import Query

SERVER = "demo"  # the replay source's server name
#: Every how many known-bug failures of the history one is rechecked.
RECHECK_EVERY = 3
REPORTED_AFTER = 3600.0  # seconds from a buildset's start to its report (gerrit_event's)
RECHECKED_AFTER = 3600.0  # seconds from a report to the recheck


def judged(buildset: DemoBuildset, queries: Mapping[str, Query], reported: float) -> JudgedBuild:
    """The facts of one failed buildset as the bot judges it (pure)."""
    jobs = tuple(
        JudgedJob(job.name, float(job.seconds), (query.bug.key,))
        for job in buildset.jobs
        if (query := _explaining(job, queries)) is not None
    )
    b = buildset
    key = f"{SERVER}/{b.change},{b.patchset}/{b.queue}"
    return JudgedBuild(key, reported, SERVER, b.change, b.patchset, b.project, b.queue, jobs)


def _explaining(job: DemoJob, queries: Mapping[str, Query]) -> Query | None:
    """The query a failed job's verdict names (a non-voting job only for a query that says so)."""
    query = queries.get(job.bug or "")
    if job.status != "FAILURE" or query is None or not (job.voting or query.allow_nonvoting):
        return None
    return query


def history(
    data: DemoData,
    replayed: Sequence[DemoBuildset],
    queries: Sequence[Query],
    now: datetime,
) -> tuple[list[JudgedBuild], list[RecheckFact]]:
    """The judged builds of the failures not replayed, and the rechecks after them (pure)."""
    by_id = {q.id: q for q in queries}
    left = {b.change for b in replayed}
    builds: list[JudgedBuild] = []
    rechecks: list[RecheckFact] = []
    latest = now.timestamp() - 60
    for buildset in data.failed():
        if buildset.change in left:
            continue
        reported = min(buildset.started.timestamp() + REPORTED_AFTER, latest)
        fact = judged(buildset, by_id, reported)
        builds.append(fact)
        known = sum(1 for b in builds if b.jobs)
        if fact.jobs and known % RECHECK_EVERY == 0:
            when = min(reported + RECHECKED_AFTER, latest)
            rechecks.append(RecheckFact(SERVER, fact.change, fact.patchset, when, "alice"))
    return builds, rechecks


def labels(queries: Sequence[Query], titles: Mapping[str, str]) -> list[BugLabel]:
    """Each query's bug as the demo's verdicts show it (``titles``: by bug id)."""
    return [
        BugLabel(q.bug.key, q.bug.id, q.bug.url, titles.get(q.bug.id) or q.title) for q in queries
    ]


async def journal_history(
    path: Path,
    data: DemoData,
    replayed: Sequence[DemoBuildset],
    queries: Sequence[Query],
    now: datetime,
    titles: Mapping[str, str],
) -> int:
    """Write the history's facts in the state file at ``path``; how many builds."""
    builds, rechecks = history(data, replayed, queries, now)
    journal = await ImpactJournal.open(path)
    try:
        named = labels(queries, titles)
        for build in builds:
            key = build.key
            await journal.add_report(
                ReportFact(SERVER, build.change, build.patchset, build.created, key)
            )
            await journal.add_judged(build, named)
        for recheck in rechecks:
            await journal.add_recheck(recheck)
    finally:
        await journal.close()
    return len(builds)
