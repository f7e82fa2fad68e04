"""Chat replies link a known bug's dashboard page (``<dashboard>/bug/<query id>``) once: ``!bug``
(in tests/test_commands.py), ``!query <bug id>``, ``!top`` and ``!why`` (in tests/test_why.py),
through the dispatcher on the harness's real search server and journals."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.dashboard.links import bug_page_file, bug_page_href
from bot.impact_store import BugLabel, ImpactFacts, ImpactJournal, JudgedBuild, JudgedJob
from bot.intel.impact import impact_report
from bot.watch.messages import bug_page_url
from commands.top import format_top
from tests.support.chat import MATRIX_ROOM, ChatHarness

PAGE = "https://dash.example.org/bug/"


async def test_query_of_a_known_bug_links_its_page_and_lucene_does_not(chat: ChatHarness) -> None:
    (reply,) = await chat.run_command("!query lp1400905")
    tail = reply.splitlines()[1]
    assert tail.endswith(f" · {PAGE}1400905")
    assert tail.count(PAGE) == 1
    (lucene,) = await chat.run_command('!query message:"Hash Sum mismatch"')
    assert PAGE not in lucene
    (html,) = await chat.run("!query 1400905", room=MATRIX_ROOM)
    assert f'<a href="{PAGE}1400905">bug page</a>' in (html.html or "")


async def test_no_dashboard_no_page(chat: ChatHarness) -> None:
    chat.services.dashboard_url = None
    (reply,) = await chat.run_command("!query 1400905")
    assert "/bug/" not in reply
    (bug,) = await chat.run_command("!bug 1400905")
    assert "/bug/" not in bug


@pytest.fixture
async def journal(chat: ChatHarness, tmp_path: Path) -> AsyncIterator[ImpactJournal]:
    opened = await ImpactJournal.open(tmp_path / "impact.sqlite")
    chat.services.impact_journal = opened
    yield opened
    await opened.close()


async def test_top_links_the_page_of_each_bug_the_repo_has_a_query_for(
    chat: ChatHarness, journal: ImpactJournal
) -> None:
    known = BugLabel("launchpad:1541364", "1541364", "https://bugs.launchpad.net/bugs/1541364", "x")
    gone = BugLabel("launchpad:1001", "1001", "https://bugs.launchpad.net/bugs/1001", None)
    now = time.time()
    for n, (label, seconds) in enumerate(((known, 3600.0), (gone, 60.0))):
        job = JudgedJob("tempest", seconds, (label.key,))
        build = JudgedBuild(
            f"k{n}", now - 60, "opendev", str(n), "1", "openstack/nova", "check", (job,)
        )
        await journal.add_judged(build, [label])
    (reply,) = await chat.run_command("!top")
    first, second = reply.splitlines()[1:]
    assert first.startswith("1. bug 1541364 (x): ")
    assert first.endswith(f" · https://bugs.launchpad.net/bugs/1541364 · {PAGE}1541364")
    assert second.endswith(" · https://bugs.launchpad.net/bugs/1001")  # no query: no page


def test_top_without_pages_is_as_before() -> None:
    label = BugLabel("launchpad:7", "7", "https://bugs.launchpad.net/bugs/7", None)
    build = JudgedBuild(
        "k", 100.0, "s", "1", "1", "p", "gate", (JudgedJob("j", 60.0, (label.key,)),)
    )
    report = impact_report(ImpactFacts(builds=(build,), bugs=(label,)), 200.0, windows=(7,))
    plain = format_top(report, 7, None).plain
    linked = format_top(report, 7, None, pages={label.key: f"{PAGE}7"})
    assert linked.plain == plain + f" · {PAGE}7"
    assert f'<a href="{PAGE}7">bug page</a>' in (linked.html or "")


@pytest.mark.parametrize(
    ("query_id", "linked"),
    [("1541364", True), ("OSPRH-77", True), ("a b", False), ("../x", False), (".hidden", False)],
)
def test_messages_link_exactly_the_pages_the_dashboard_writes(query_id: str, linked: bool) -> None:
    url = bug_page_url("https://dash.example.org/", query_id)
    assert (url is not None) is linked
    assert (bug_page_file(query_id) is not None) is linked
    if url is not None:
        assert url == f"https://dash.example.org/{bug_page_href(query_id)}"
