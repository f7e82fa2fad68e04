"""A query's numbers over the window (:class:`BugGraph`), counted from its :class:`Tally`.

Semantics kept from ER: hourly buckets over the window's whole hours, zero-filled; a bucket
counts distinct builds; ``fails`` counts distinct failed builds over the whole window (current
hour included); ``fails24`` sums the FAILURE buckets newer than 24 h before the current hour.
Ours: distinct builds per status over the window, the jobs / projects / queues with the most
failed builds (each job with its failed builds per hour), the first and last matching line and
the newest failed builds.

Pure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.bugs import Bug
from bot.dashboard.details import MAX_VALUES, Details, Hours
from bot.dashboard.tally import MISSING, Tally
from bot.dashboard.window import DAY_MS, FAILURE, Window
from bot.queries import Query

#: The breakdowns of failed builds: name -> the leaf's position (status, job, project, queue).
BREAKDOWNS = {"jobs": 1, "projects": 2, "queues": 3}


@dataclass(frozen=True)
class Series:
    """One build status' hourly distinct-build counts: ``[[bucket_ms, count], ...]``."""

    label: str
    data: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class BugGraph:
    """One query's numbers over the window."""

    query: Query
    lucene: str  # what was searched: effective query, plus the queue when graphing one
    bug: Bug | None  # as its tracker describes it; None when the tracker did not answer
    fails: int
    fails24: int
    builds: Mapping[str, int]  # status -> distinct builds over the window
    series: tuple[Series, ...]
    top: Mapping[str, tuple[tuple[str, int], ...]]  # jobs/projects/queues -> (value, failed builds)
    details: Details = field(default_factory=Details)  # a bug page's additions

    @property
    def rank(self) -> int:
        return self.fails24 * 100000 + self.fails


def bug_graph(
    query: Query,
    tally: Tally,
    window: Window,
    *,
    lucene: str,
    bug: Bug | None,
    queue: str | None = None,
    top: int = MAX_VALUES,
) -> BugGraph:
    """``query``'s numbers from ``tally`` (its documents in the window, nothing older)."""
    builds, hourly = _by_status(tally)
    series = tuple(
        Series(label, tuple((key, len(hourly[label].get(key, ()))) for key in window.buckets()))
        for label in sorted(builds)
    )
    failed = next((s for s in series if s.label == FAILURE), None)
    day_ago = window.hour_ms - DAY_MS
    breakdowns = _breakdowns(tally, top, skip=("queues",) if queue else ())
    return BugGraph(
        query=query,
        lucene=lucene,
        bug=bug,
        fails=builds.get(FAILURE, 0),
        fails24=sum(n for key, n in failed.data if key > day_ago) if failed else 0,
        builds=builds,
        series=series,
        top=breakdowns,
        details=_details(tally, [job for job, _ in breakdowns["jobs"]]),
    )


def _by_status(tally: Tally) -> tuple[dict[str, int], dict[str, dict[int, set[str]]]]:
    """Per status: distinct builds, and each hour's distinct builds."""
    totals: dict[str, set[str]] = defaultdict(set)
    hourly: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for (status, _, _, _, uuid), hours in tally.builds.items():
        totals[status].add(uuid)
        for hour in hours:
            hourly[status][hour].add(uuid)
    return {status: len(uuids) for status, uuids in sorted(totals.items())}, hourly


def _breakdowns(
    tally: Tally, top: int, skip: tuple[str, ...]
) -> dict[str, tuple[tuple[str, int], ...]]:
    """The values with the most failed builds, most first (then by name), ``top`` of each."""
    found: dict[str, tuple[tuple[str, int], ...]] = {}
    for name, position in BREAKDOWNS.items():
        if name in skip:  # one queue graphed: nothing to break down
            found[name] = ()
            continue
        uuids: dict[str, set[str]] = defaultdict(set)
        for leaf in tally.builds:
            if leaf[0] == FAILURE and leaf[position] != MISSING:
                uuids[leaf[position]].add(leaf[4])
        rows = sorted(((value, len(u)) for value, u in uuids.items()), key=lambda r: (-r[1], r[0]))
        found[name] = tuple(rows[:top])
    return found


def _details(tally: Tally, jobs: list[str]) -> Details:
    lows = [low for low, _ in tally.seen.values()]
    highs = [high for _, high in tally.seen.values()]
    return Details(
        first_seen_ms=min(lows) if lows else None,
        last_seen_ms=max(highs) if highs else None,
        latest=tally.latest,
        job_hours=_job_hours(tally, set(jobs)),
    )


def _job_hours(tally: Tally, jobs: set[str]) -> dict[str, Hours]:
    """Each of ``jobs``' failed builds per hour (the current one too), non-empty hours."""
    per_job: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for (status, job, _, _, uuid), hours in tally.builds.items():
        if status == FAILURE and job in jobs:
            for hour in hours:
                per_job[job][hour].add(uuid)
    return {
        job: tuple((hour, len(uuids)) for hour, uuids in sorted(per_job[job].items()))
        for job in sorted(per_job)
    }
