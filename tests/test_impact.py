"""Impact figures against hand-counted facts (tests/support/impact.py), and the journal they are
written to: rechecks, durations and gate failures counted as the docs say."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from pathlib import Path

import pytest

from bot.impact_store import VERSION, ImpactFacts, ImpactJournal, ImpactJournalError
from bot.intel.impact import (
    Figures,
    ImpactReport,
    gather_impact,
    impact_report,
    project_matches,
)
from bot.state import StateStore
from tests.support.impact import (
    B1,
    B2,
    B6,
    EXPECTED,
    FACTS,
    LABELS,
    NOW,
    RANKED,
    A,
    B,
    C,
    as_tuple,
    journal_facts,
    recheck,
)


def test_every_figure_matches_the_hand_counts() -> None:
    report = impact_report(FACTS, NOW)
    assert [bug.bug.key for bug in report.bugs] == list(RANKED)
    for key, windows in EXPECTED.items():
        found = report.get(key)
        assert found is not None
        for days in (1, 7, 10):
            assert as_tuple(found.figures(days)) == windows.get(days, (0, 0, 0, 0, 0)), (key, days)


def counted(report: ImpactReport, key: str, days: int) -> tuple[int, int, int, float, int]:
    found = report.get(key)
    assert found is not None, f"{key} cost nothing"
    return as_tuple(found.figures(days))


def test_two_bugs_in_one_job_each_get_its_whole_duration_and_the_recheck() -> None:
    only_b1 = ImpactFacts((B1,), (), (recheck("100", "1", 1.5),), LABELS)
    report = impact_report(only_b1, NOW, windows=(1,))
    assert counted(report, A, 1) == (1, 1, 1, 1800, 0)  # tempest 1200 + grenade 600
    assert counted(report, B, 1) == (1, 1, 1, 1200, 0)  # tempest only


def test_rechecks_blame_only_the_failure_just_before_them() -> None:
    # Without b2's report between them, the recheck at 0.5 h would be b1's second: once.
    without_b2 = ImpactFacts((B1,), (), FACTS.rechecks, LABELS)
    assert counted(impact_report(without_b2, NOW, windows=(1,)), A, 1)[2] == 1
    # A recheck before any failure, or on another change, blames nothing.
    elsewhere = ImpactFacts((B6,), (), (recheck("700", "1", 31), recheck("701", "1", 29)), LABELS)
    assert counted(impact_report(elsewhere, NOW, windows=(7,)), B, 7)[2] == 0
    # Same second as the report: the recheck is after it.
    same = ImpactFacts((B2,), (), (recheck("100", "1", 1),), LABELS)
    assert counted(impact_report(same, NOW, windows=(1,)), A, 1)[2] == 1


def test_the_score_and_the_ranking() -> None:
    report = impact_report(FACTS, NOW)
    scores = {bug.bug.key: round(bug.figures(7).score, 2) for bug in report.bugs}
    assert scores == {B: 8.42, A: 5.83, C: 0.0}  # see RANKED
    assert Figures(ci_seconds=7200).score == 2.0
    # Ranked by one day: A (0.75 h + 2 rechecks) before B (0.33 h + 1 recheck).
    by_day = impact_report(FACTS, NOW, rank_days=1)
    assert [bug.bug.key for bug in by_day.bugs] == [A, B, C]
    # Graph rows: the report's order, then bugs that cost nothing, two queries of one bug apart.
    assert report.ranks(["launchpad:9", A, C, B, "launchpad:8", A]) == [5, 2, 4, 1, 6, 3]


def test_queue_and_project_filters() -> None:
    gate = impact_report(FACTS, NOW, queue="gate")
    assert [bug.bug.key for bug in gate.bugs] == [B, A]
    assert counted(gate, B, 7) == (2, 2, 0, 3900, 2)
    assert counted(gate, A, 7) == (1, 1, 0, 300, 1)
    nova = impact_report(FACTS, NOW, project="nova")
    assert counted(nova, A, 7) == (3, 2, 2, 2700, 0)
    assert counted(nova, B, 7) == (1, 1, 1, 1200, 0)
    assert project_matches("openstack/nova", "openstack/*")
    assert project_matches("openstack/nova", "nova")
    assert not project_matches("openstack/nova-specs", "nova")


def test_report_describes_its_scoring() -> None:
    described = impact_report(FACTS, NOW).describe()
    assert described["windows"] == ["1d", "7d", "10d"]
    assert described["rank_window"] == "7d"
    assert described["gate_reset_hours"] == 3.0


# --- the journal -----------------------------------------------------------------------------


async def test_journaled_facts_give_the_same_figures(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    state = await StateStore.open(path)  # the bot's journal is in the same file
    journal = await ImpactJournal.open(path)
    await journal_facts(journal)
    await journal_facts(journal)  # read twice (stream and catch-up, a resumed verdict)
    report = await gather_impact(journal, now=NOW)
    expected = impact_report(FACTS, NOW)
    assert report.bugs == expected.bugs
    facts = await journal.facts(0)
    assert len(facts.builds) == len(FACTS.builds)
    assert len(facts.reports) == len(FACTS.reports)
    assert len(facts.rechecks) == len(FACTS.rechecks)
    assert await state.count_unfinished() == 0  # the state tables work beside ours
    await journal.close()
    await state.close()


async def test_migrations_run_once_and_a_newer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    state = await StateStore.open(path)  # a journal written before the impact tables
    await state.close()
    for _ in range(2):
        journal = await ImpactJournal.open(path)
        await journal.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM impact_version").fetchall() == [(VERSION,)]
        conn.execute("UPDATE impact_version SET version = ?", (VERSION + 1,))
    with pytest.raises(ImpactJournalError, match="cannot use the impact journal"):
        await ImpactJournal.open(path)
    (tmp_path / "dir").mkdir()
    with pytest.raises(ImpactJournalError):
        await ImpactJournal.open(tmp_path / "dir")


async def test_prune_drops_only_old_facts(tmp_path: Path) -> None:
    journal = await ImpactJournal.open(tmp_path / "state.sqlite")
    now = time.time()
    await journal.add_judged(replace(B1, created=now - 20 * 86400), LABELS)
    await journal.add_judged(replace(B2, created=now), LABELS[:1])
    assert await journal.prune(11 * 86400) == 1
    facts = await journal.facts(0)
    assert [b.change for b in facts.builds] == ["100"]
    assert facts.builds[0].created == now
    await journal.close()
