"""Hand-counted impact facts: a small history of judged builds, CI reports and rechecks whose
every figure was counted by hand (the counts are in :data:`EXPECTED`, with why).

Times are hours before :data:`NOW`. Bugs: A (``launchpad:1001``), B (``launchpad:1002``), C
(``jira:OSPRH-3``).

=====  ======  ==  =====  =========  ========================================  ================
build  change  ps  queue  when       failed jobs (seconds) → bugs              after it
=====  ======  ==  =====  =========  ========================================  ================
b1     100     1   check  2 h ago    tempest (1200) → A, B; grenade (600) → A  rechecked twice
b2     100     1   check  1 h ago    tempest (900) → A                         rechecked
b3     200     3   gate   3 d ago    ceph (3600) → B                           recheck on 201
b4     400     1   check  9 d ago    pep8 (1000) → C                           passed, recheck
b5     500     2   check  5 d ago    tempest (no duration) → A                 recheck on ps 3
b6     700     1   gate   30 h ago   ceph (300) → A, B                         —
b7     800     1   check  12 d ago   tempest (5000) → A                        (out of windows)
=====  ======  ==  =====  =========  ========================================  ================

b1 and b2 share the journal key ``opendev/100,1/check`` (a recheck fails under the same key).
A recheck on change 300, which never failed, blames nothing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.impact_store import (
    BugLabel,
    ImpactFacts,
    ImpactJournal,
    JudgedBuild,
    JudgedJob,
    RecheckFact,
    ReportFact,
)

NOW = 1_750_000_000.0
HOUR = 3600.0
A, B, C = "launchpad:1001", "launchpad:1002", "jira:OSPRH-3"
SERVER = "opendev"
LABELS = (
    BugLabel(A, "1001", "https://bugs.launchpad.net/bugs/1001", "Disk quota exceeded"),
    BugLabel(B, "1002", "https://bugs.launchpad.net/bugs/1002", "Mirror unreachable"),
    BugLabel(C, "OSPRH-3", "https://issues.redhat.com/browse/OSPRH-3", None),
)


def at(hours_ago: float) -> float:
    return NOW - hours_ago * HOUR


def judged(
    change: str,
    ps: str,
    queue: str,
    hours_ago: float,
    project: str,
    *jobs: tuple[str, float | None, tuple[str, ...]],
) -> JudgedBuild:
    key = f"{SERVER}/{change},{ps}/{queue}"
    named = tuple(JudgedJob(name, seconds, bugs) for name, seconds, bugs in jobs)
    return JudgedBuild(key, at(hours_ago), SERVER, change, ps, project, queue, named)


NOVA, GLANCE, NEUTRON = "openstack/nova", "openstack/glance", "openstack/neutron"
B1 = judged("100", "1", "check", 2, NOVA, ("tempest", 1200, (A, B)), ("grenade", 600, (A,)))
B2 = judged("100", "1", "check", 1, NOVA, ("tempest", 900, (A,)))
B3 = judged("200", "3", "gate", 72, GLANCE, ("ceph", 3600, (B,)))
B4 = judged("400", "1", "check", 216, NOVA, ("pep8", 1000, (C,)))
B5 = judged("500", "2", "check", 120, NOVA, ("tempest", None, (A,)))
B6 = judged("700", "1", "gate", 30, NEUTRON, ("ceph", 300, (A, B)))
B7 = judged("800", "1", "check", 288, NOVA, ("tempest", 5000, (A,)))
BUILDS = (B1, B2, B3, B4, B5, B6, B7)


def recheck(change: str, ps: str, hours_ago: float, author: str = "alice") -> RecheckFact:
    return RecheckFact(SERVER, change, ps, at(hours_ago), author)


RECHECKS = (
    recheck("100", "1", 1.5),  # after b1
    recheck("100", "1", 1.4, "bob"),  # after b1 again, before b2's report: b1 counts once
    recheck("100", "1", 0.5),  # after b2
    recheck("201", "1", 71),  # another change than b3's
    recheck("300", "1", 71),  # a change that never failed
    recheck("400", "1", 214),  # after b4, but b4's change passed since
    recheck("500", "3", 119),  # b5's change, a newer patchset
)
REPORTS = (
    *(ReportFact(SERVER, b.change, b.patchset, b.created, b.key) for b in BUILDS),
    ReportFact(SERVER, "400", "1", at(215)),  # build succeeded
)
FACTS = ImpactFacts(BUILDS, REPORTS, RECHECKS, LABELS)

#: Per bug and window (days): failed_builds, changes, rechecks, ci_seconds, gate_failures.
EXPECTED: dict[str, dict[int, tuple[int, int, int, float, int]]] = {
    # 1 d: b1, b2. 7 d and 10 d: b1, b2, b5, b6 (changes 100, 500, 700); b1 and b2 rechecked;
    # CI 1200 + 600 (b1) + 900 (b2) + 0 (b5, no duration) + 300 (b6); b6 in the gate.
    A: {1: (2, 1, 2, 2700, 0), 7: (4, 3, 2, 3000, 1), 10: (4, 3, 2, 3000, 1)},
    # 1 d: b1. 7 d and 10 d: b1, b3, b6 (changes 100, 200, 700); b1 rechecked; CI 1200 + 3600
    # + 300; b3 and b6 in the gate.
    B: {1: (1, 1, 1, 1200, 0), 7: (3, 3, 1, 5100, 2), 10: (3, 3, 1, 5100, 2)},
    # b4 only, 9 days ago; its recheck came after a passed build.
    C: {10: (1, 1, 0, 1000, 0)},
}
#: Scores over 7 days: B 5100 s / 3600 + 1 + 2 × 3 = 8.42; A 3000 / 3600 + 2 + 3 = 5.83; C 0.
RANKED = (B, A, C)


def shifted(facts: ImpactFacts, seconds: float) -> ImpactFacts:
    """``facts`` moved ``seconds`` later (``time.time() - NOW``: the same history up to now)."""
    return ImpactFacts(
        tuple(replace(b, created=b.created + seconds) for b in facts.builds),
        tuple(replace(r, created=r.created + seconds) for r in facts.reports),
        tuple(replace(r, created=r.created + seconds) for r in facts.rechecks),
        facts.bugs,
    )


def as_tuple(figures: Any) -> tuple[int, int, int, float, int]:
    f = figures
    return (f.failed_builds, f.changes, f.rechecks, f.ci_seconds, f.gate_failures)


async def journal_facts(journal: ImpactJournal, facts: ImpactFacts = FACTS) -> None:
    """Write ``facts`` the way the bot does: reports and rechecks as they come, verdicts."""
    for report in facts.reports:
        await journal.add_report(report)
    for fact in facts.rechecks:
        await journal.add_recheck(fact)
    for build in facts.builds:
        await journal.add_judged(build, facts.bugs)
