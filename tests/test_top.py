"""``!top`` through the dispatcher, on the hand-counted impact facts of tests/support/impact.py
written to a real impact journal (the same SQLite file as the harness's state journal)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.impact_store import ImpactJournal, JudgedBuild, JudgedJob
from tests.support.chat import MATRIX_ROOM, ChatHarness
from tests.support.impact import FACTS, NOW, journal_facts, shifted

LP = "https://bugs.launchpad.net/bugs/"
HEAD = "costliest bugs over {days} d{where} (score: CI hours + 1 per recheck + 3 per gate failure)"
DASH = " · https://dash.example.org/"


@pytest.fixture
async def top_chat(chat: ChatHarness, tmp_path: Path) -> AsyncIterator[ChatHarness]:
    journal = await ImpactJournal.open(tmp_path / "state.sqlite")
    # The hand-counted history, as if it ended now.
    await journal_facts(journal, shifted(FACTS, time.time() - NOW))
    chat.services.impact_journal = journal
    yield chat
    await journal.close()


async def test_top_ranks_by_the_seven_day_score(top_chat: ChatHarness) -> None:
    (reply,) = await top_chat.run_command("!top")
    assert reply.splitlines() == [
        HEAD.format(days=7, where="") + DASH,
        "1. bug 1002 (Mirror unreachable): 3 failed builds, 3 changes, 1 recheck, 1 h 25 min CI,"
        f" 2 gate failures · {LP}1002",
        "2. bug 1001 (Disk quota exceeded): 4 failed builds, 3 changes, 2 rechecks, 50 min CI,"
        f" 1 gate failure · {LP}1001",
    ]
    assert (await top_chat.audit())[-1][2:] == ("!top", "ok")


async def test_top_of_one_project_over_one_day(top_chat: ChatHarness) -> None:
    (reply,) = await top_chat.run_command("!top nova --days 1")
    assert reply.splitlines() == [
        HEAD.format(days=1, where=" in nova") + DASH,
        "1. bug 1001 (Disk quota exceeded): 2 failed builds, 1 change, 2 rechecks, 45 min CI,"
        f" 0 gate failures · {LP}1001",
        "2. bug 1002 (Mirror unreachable): 1 failed build, 1 change, 1 recheck, 20 min CI,"
        f" 0 gate failures · {LP}1002",
    ]


async def test_ten_days_and_a_glob(top_chat: ChatHarness) -> None:
    (reply,) = await top_chat.run_command("!top openstack/* --days 10")
    assert reply.splitlines()[-1] == (
        "3. bug OSPRH-3: 1 failed build, 1 change, 0 rechecks, 17 min CI, 0 gate failures"
        " · https://issues.redhat.com/browse/OSPRH-3"
    )
    (glance,) = await top_chat.run_command("!top glance")
    assert glance.splitlines()[1:] == [
        "1. bug 1002 (Mirror unreachable): 1 failed build, 1 change, 0 rechecks, 1 h 00 min CI,"
        f" 1 gate failure · {LP}1002"
    ]


async def test_nothing_to_rank(top_chat: ChatHarness) -> None:
    assert await top_chat.run_command("!top cinder") == [
        "no known bug failed a build the bot judged in the last 7 d in cinder"
    ]
    top_chat.services.impact_journal = None  # a bot without a journal says the same
    assert await top_chat.run_command("!top") == [
        "no known bug failed a build the bot judged in the last 7 d"
    ]


async def test_at_most_five_bugs(top_chat: ChatHarness) -> None:
    journal = top_chat.services.impact_journal
    assert journal is not None
    for n in range(7):
        job = JudgedJob("tempest", 60.0 * (n + 1), (f"launchpad:{2000 + n}",))
        build = JudgedBuild(
            f"k{n}", time.time() - 60, "opendev", str(n), "1", "x/y", "check", (job,)
        )
        await journal.add_judged(build)
    (reply,) = await top_chat.run_command("!top y")
    lines = reply.splitlines()
    assert len(lines) == 6
    # Without a label (pruned), the bug's key says which it is; 7 min of CI ranks first.
    assert lines[1] == (
        "1. bug 2006: 1 failed build, 1 change, 0 rechecks, 7 min CI, 0 gate failures"
    )


async def test_matrix_gets_links_and_bold(top_chat: ChatHarness) -> None:
    (reply,) = await top_chat.run("!top", room=MATRIX_ROOM)
    assert "<b>bug 1002</b> (Mirror unreachable)" in reply.html
    assert f'<a href="{LP}1002">tracker</a>' in reply.html
    assert reply.irc.startswith("\x02costliest bugs over 7 d\x02")


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ("nova neutron", 'one project name or glob, not "nova neutron"'),
        ("--days 0", "--days must be between 1 and"),
        ("--top 3", "unknown option --top"),
    ],
)
async def test_refused_arguments(top_chat: ChatHarness, args: str, reason: str) -> None:
    (reply,) = await top_chat.run_command(f"!top {args}")
    assert reason in reply


async def test_help_names_top(top_chat: ChatHarness) -> None:
    (reply,) = await top_chat.run_command("!help top")
    assert "five costliest known bugs" in reply
