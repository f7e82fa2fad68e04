"""Impact: what each known bug cost over the last 1, 7 and 10 days, and the bugs ranked by it.

ER ranked bugs by how often their query hit; LUCI Analysis ranks its rules by what they cost.
The cost is counted from what the bot itself judged and read (:mod:`bot.impact_store`), since
the search index knows nothing of rechecks. Per bug and window:

``failed_builds``
    judged failed builds whose verdict named the bug on at least one failed job;
``changes``
    distinct changes (Gerrit server and number) among those builds;
``rechecks``
    those builds that a recheck followed. A ``recheck`` / ``reverify`` comment on patchset P of
    change C is blamed on the newest CI report on C,P at or before it, when that report is a
    failed build: a recheck after a passed build, on another change, or on a newer patchset
    blames nothing, and a recheck after a failure naming two bugs counts for both. A build is
    rechecked once however many recheck comments follow it before the next report: Zuul does
    not enqueue a change twice, so a second comment reruns nothing;
``ci_seconds``
    the summed durations (Zuul's "FAILURE in 12m 03s") of the failed jobs whose verdict named
    the bug; a job whose verdict named two bugs counts in full for each, a job reported without
    a duration adds nothing;
``gate_failures``
    those builds in the gate queue: a gate failure resets the queue behind it, every change
    there runs its jobs again, so it is counted apart and weighs more.

Everything counts at the time of the failed build (a build of six days ago rechecked today is
in the 7-day window), and a window is the ``days * 24`` hours before now.

The **impact score** of a window is ``ci_seconds / 3600 + RECHECK_HOURS * rechecks +
GATE_RESET_HOURS * gate_failures``: CI hours, a recheck taken as an hour of a developer's time
and a rerun, a gate reset as three hours of the queue's CI. Bugs are **ranked** by the score
over :data:`RANK_DAYS`, then by failed builds there, then by the score over the longest window,
then by bug.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from bot.impact_store import BugLabel, ImpactFacts, ImpactJournal, JudgedBuild

DAY = 86_400.0
#: The windows every figure is given for, in days.
WINDOWS = (1, 7, 10)
#: The window the ranking reads.
RANK_DAYS = 7
#: Weight of a recheck in the score, in CI hours.
RECHECK_HOURS = 1.0
#: Weight of a gate failure in the score, in CI hours (the queue behind it starts over).
GATE_RESET_HOURS = 3.0
GATE = "gate"

#: A build as (journal key, time): two failures of one patchset in one queue share the key.
BuildId = tuple[str, float]


@dataclass(frozen=True)
class Figures:
    """What one bug cost over one window."""

    failed_builds: int = 0
    changes: int = 0
    rechecks: int = 0
    ci_seconds: float = 0.0
    gate_failures: int = 0

    @property
    def score(self) -> float:
        """The impact score (see the module docstring), in CI hours."""
        return (
            self.ci_seconds / 3600
            + RECHECK_HOURS * self.rechecks
            + GATE_RESET_HOURS * self.gate_failures
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "failed_builds": self.failed_builds,
            "changes": self.changes,
            "rechecks": self.rechecks,
            "ci_seconds": round(self.ci_seconds),
            "gate_failures": self.gate_failures,
            "score": round(self.score, 2),
        }


@dataclass(frozen=True)
class BugImpact:
    """One bug's figures per window (days → figures)."""

    bug: BugLabel
    windows: Mapping[int, Figures]

    def figures(self, days: int) -> Figures:
        return self.windows.get(days, Figures())


@dataclass(frozen=True)
class ImpactReport:
    """Every bug that cost something in the longest window, costliest first."""

    now: float
    windows: tuple[int, ...]
    rank_days: int
    bugs: tuple[BugImpact, ...]
    queue: str | None = None  # only builds of this queue counted
    project: str | None = None  # only builds of projects matching this
    _by_key: dict[str, BugImpact] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {bug.bug.key: bug for bug in self.bugs})

    def get(self, bug_key: str) -> BugImpact | None:
        """The impact of the bug whose ``Bug.key`` is ``bug_key``; None: it cost nothing."""
        return self._by_key.get(bug_key)

    def ranks(self, bug_keys: Sequence[str]) -> list[int]:
        """The rank (1 = costliest) of each of ``bug_keys``, in their order: the report's
        order first, then the bugs that cost nothing as given (two queries of one bug: two
        ranks)."""
        order = {bug.bug.key: n for n, bug in enumerate(self.bugs)}
        ranked = sorted(range(len(bug_keys)), key=lambda i: (order.get(bug_keys[i], len(order)), i))
        ranks = [0] * len(bug_keys)
        for rank, i in enumerate(ranked, start=1):
            ranks[i] = rank
        return ranks

    def describe(self) -> dict[str, Any]:
        """The windows, the ranking and the score's weights, for the JSON that shows figures."""
        return {
            "windows": [f"{days}d" for days in self.windows],
            "rank_window": f"{self.rank_days}d",
            "score": "ci_seconds / 3600 + recheck_hours * rechecks"
            " + gate_reset_hours * gate_failures",
            "recheck_hours": RECHECK_HOURS,
            "gate_reset_hours": GATE_RESET_HOURS,
            "queue": self.queue,
            "source": "the bot's journal of judged builds and Gerrit comments",
        }


def impact_report(
    facts: ImpactFacts,
    now: float,
    *,
    windows: Sequence[int] = WINDOWS,
    rank_days: int = RANK_DAYS,
    queue: str | None = None,
    project: str | None = None,
    gate_queue: str = GATE,
) -> ImpactReport:
    """Each bug's figures per window, from journaled ``facts``, ranked (pure). ``rank_days``
    not among ``windows``: the longest window ranks."""
    rechecked = rechecked_builds(facts)
    builds = [b for b in facts.builds if _selected(b, queue, project)]
    per_bug: dict[str, dict[int, Figures]] = {}
    for days in windows:
        since = now - days * DAY
        inside = (b for b in builds if b.created >= since)
        for key, figures in tally(inside, rechecked, gate_queue).items():
            per_bug.setdefault(key, {})[days] = figures
    labels = {label.key: label for label in facts.bugs}
    impacts = [
        BugImpact(labels.get(key) or _unlabelled(key), by_days) for key, by_days in per_bug.items()
    ]
    rank_days = rank_days if rank_days in windows else max(windows)
    impacts.sort(key=lambda bug: _order(bug, rank_days, max(windows)))
    return ImpactReport(now, tuple(windows), rank_days, tuple(impacts), queue, project)


def rechecked_builds(facts: ImpactFacts) -> set[BuildId]:
    """The failed builds a recheck followed (the rule is in the module docstring)."""
    timelines: dict[tuple[str, str, str], list[tuple[float, str]]] = {}
    for report in facts.reports:
        where = (report.server, report.change, report.patchset)
        timelines.setdefault(where, []).append((report.created, report.build_key or ""))
    for build in facts.builds:  # a judged build is a report, even if its comment was missed
        where = (build.server, build.change, build.patchset)
        timelines.setdefault(where, []).append((build.created, build.key))
    for timeline in timelines.values():
        timeline.sort()
    rechecked: set[BuildId] = set()
    for recheck in facts.rechecks:
        timeline = timelines.get((recheck.server, recheck.change, recheck.patchset), [])
        # Reports of the same second sort the failed builds last: they are the ones blamed.
        before = bisect.bisect_right(timeline, (recheck.created, "\U0010ffff"))
        if before and (newest := timeline[before - 1])[1]:
            rechecked.add((newest[1], newest[0]))
    return rechecked


@dataclass
class _Tally:
    builds: int = 0
    changes: set[tuple[str, str]] = field(default_factory=set)
    rechecks: int = 0
    seconds: float = 0.0
    gate_failures: int = 0

    def figures(self) -> Figures:
        return Figures(
            self.builds, len(self.changes), self.rechecks, self.seconds, self.gate_failures
        )


def tally(
    builds: Iterable[JudgedBuild], rechecked: set[BuildId], gate_queue: str = GATE
) -> dict[str, Figures]:
    """Bug key → its figures over ``builds``."""
    tallies: dict[str, _Tally] = {}
    for build in builds:
        seconds: dict[str, float] = {}
        for job in build.jobs:
            for bug in job.bugs:
                seconds[bug] = seconds.get(bug, 0.0) + (job.seconds or 0.0)
        for bug, spent in seconds.items():
            count = tallies.setdefault(bug, _Tally())
            count.builds += 1
            count.changes.add((build.server, build.change))
            count.rechecks += (build.key, build.created) in rechecked
            count.seconds += spent
            count.gate_failures += build.queue == gate_queue
    return {bug: count.figures() for bug, count in tallies.items()}


def project_matches(project: str, wanted: str) -> bool:
    """``openstack/nova`` is wanted by itself, by ``nova`` and by globs (``openstack/*``)."""
    return fnmatchcase(project, wanted) or project.rsplit("/", 1)[-1] == wanted


async def gather_impact(
    journal: ImpactJournal,
    *,
    now: float | None = None,
    windows: Sequence[int] = WINDOWS,
    queue: str | None = None,
    project: str | None = None,
) -> ImpactReport:
    """The impact report from the journal's facts of the longest window."""
    now = time.time() if now is None else now
    facts = await journal.facts(now - max(windows) * DAY)
    return impact_report(facts, now, windows=windows, queue=queue, project=project)


def _selected(build: JudgedBuild, queue: str | None, project: str | None) -> bool:
    if queue is not None and build.queue != queue:
        return False
    return project is None or project_matches(build.project, project)


def _order(bug: BugImpact, rank_days: int, longest: int) -> tuple[float, int, float, str]:
    ranked = bug.figures(rank_days)
    return (-ranked.score, -ranked.failed_builds, -bug.figures(longest).score, bug.bug.key)


def _unlabelled(key: str) -> BugLabel:
    """A bug whose label was pruned: its key says which it is."""
    return BugLabel(key, key.partition(":")[2] or key, "", None)


def ci_time(seconds: float) -> str:
    """CI time in hours and minutes, the unit it is weighed in: ``45 min``, ``312 h 05 min``."""
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def figures_text(figures: Figures) -> str:
    """``3 failed builds, 2 changes, 1 recheck, 1 h 25 min CI, 2 gate failures`` (chat and
    the dashboard say it alike)."""
    f = figures
    return ", ".join(
        [
            _counted(f.failed_builds, "failed build"),
            _counted(f.changes, "change"),
            _counted(f.rechecks, "recheck"),
            f"{ci_time(f.ci_seconds)} CI",
            _counted(f.gate_failures, "gate failure"),
        ]
    )


def _counted(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"
