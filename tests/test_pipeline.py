"""The pipeline's journaling: each build judged once, each room told once, work resumed.

The judge and the delivery are in-process fakes here (the real ones are tested against osmem and
real chat servers elsewhere); the journal is the real SQLite store.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.bugs import launchpad
from bot.events.model import FailedBuild, Job
from bot.state import StateStore
from bot.transports.base import Room, Text
from bot.watch.outcome import JobResult, Outcome, outcome_of
from bot.watch.pipeline import Pipeline, announcement_parts
from bot.watch.routing import parse_channels
from tests.support.builds import failed_build
from tests.support.outlet import FakeOutlet

ROUTING = parse_channels(
    {
        "nova": {"projects": ["nova"], "events": ["positive"]},
        "qa": {"projects": ["all"], "events": ["positive", "negative"]},
        "storage": {
            "transport": "matrix",
            "room": "#storage:example.org",
            "projects": ["none"],
            "events": ["positive"],
            "teams": ["storage"],
        },
    }
)
JIRA_URL = "https://issues.redhat.com/browse/OSPRH-1"
BUILD = failed_build(
    "tempest-full", "grenade", change="912345", change_url="https://review.example.org/912345"
)
BUG = launchpad("1541364", "nova").described(title="apt mirrors", status="New")
FOUND = Outcome(
    jobs=(JobResult("tempest-full", (BUG,)), JobResult("grenade")),
    teams=("storage",),
    bug_projects=("nova",),
)


def announced(*args: Any) -> list[tuple[Room, Text]]:
    return [(room, text) for _, room, text in announcement_parts(*args)]


def test_announcements_route_found_unrecognized_and_not_ready() -> None:
    rooms = [room for room, _ in announced(BUILD, FOUND, ROUTING)]
    assert rooms == [
        Room("irc", "#nova"),
        Room("irc", "#qa"),
        Room("matrix", "#storage:example.org"),
    ]
    unknown = Outcome(jobs=(JobResult("grenade"),))
    said = announced(BUILD, unknown, ROUTING, "https://dash.example.org/uncat")
    assert [room for room, _ in said] == [Room("irc", "#qa")]
    assert said[0][1].plain.endswith("unrecognized error (see https://dash.example.org/uncat)")
    late = Outcome(jobs=(), not_ready=("tempest-full",), waited=1200)
    check_build = replace(BUILD, queue="check")
    said = announced(check_build, late, ROUTING)
    assert [room for room, _ in said] == [Room("irc", "#qa")]  # any queue, negative channels
    assert said[0][1].plain.startswith("Logs not ready after 1200s for tempest-full")


def test_outcome_round_trips_through_json() -> None:
    assert Outcome.from_json(FOUND.to_json()) == FOUND


def test_outcome_reads_journals_written_before_the_bug_kind_was_kept() -> None:
    old = {"jobs": [{"name": "j", "bugs": [{"id": "OSPRH-1", "url": JIRA_URL, "title": "t"}]}]}
    [bug] = Outcome.from_json(old).jobs[0].bugs
    assert (bug.kind, bug.id, bug.url, bug.title) == ("jira", "OSPRH-1", JIRA_URL, "t")
    unknown = {"jobs": [{"name": "j", "bugs": [{"id": "x", "url": "", "status": None}]}]}
    assert Outcome.from_json(unknown).jobs[0].bugs[0].kind == "launchpad"


async def test_each_room_hears_once_across_a_crash(tmp_path: Path) -> None:
    judged: list[str] = []
    outlet = FakeOutlet()
    sent = outlet.sent
    outlet.refuse = {Room("irc", "#qa")}  # nothing sent: retried with backoff

    async def judge(build: FailedBuild) -> Outcome:
        judged.append(build.key)
        return FOUND

    state = await StateStore.open(tmp_path / "state.sqlite")
    first = Pipeline(state=state, judge=judge, routing=ROUTING, outlet=outlet)
    assert await first.submit(BUILD) is True
    assert await first.submit(BUILD) is False  # the same report again
    await first.drain(grace=0.5)  # #qa still down: the build is stopped unfinished
    await first.close()
    # The dead room did not hold up the others.
    assert sorted(room.id for room, _ in sent) == ["#nova", "#storage:example.org"]
    assert await state.unfinished() == [BUILD]
    await state.close()

    outlet.refuse.clear()
    state = await StateStore.open(tmp_path / "state.sqlite")
    second = Pipeline(state=state, judge=judge, routing=ROUTING, outlet=outlet)
    assert await second.resume() == 1
    await second.drain(grace=10)
    await second.close()
    assert judged == [BUILD.key]  # the saved verdict was reused, not recomputed
    assert sorted(room.id for room, _ in sent) == ["#nova", "#qa", "#storage:example.org"]
    assert await state.unfinished() == []
    assert second.processed == 1
    await state.close()


async def test_a_failure_again_after_a_recheck_is_judged_and_announced_again(
    tmp_path: Path,
) -> None:
    """A ``recheck`` runs the same patchset in the same queue again; when it fails again that is
    a new report (a later time) to judge and announce, while the same report seen twice (the
    stream, then the events-log catch-up) stays one."""
    judged: list[str] = []
    outlet = FakeOutlet()

    async def judge(build: FailedBuild) -> Outcome:
        judged.append(build.key)
        return FOUND

    first, again = replace(BUILD, created=1_700_000_000), replace(BUILD, created=1_700_003_600)
    state = await StateStore.open(tmp_path / "state.sqlite")
    pipeline = Pipeline(state=state, judge=judge, routing=ROUTING, outlet=outlet)
    assert await pipeline.submit(first) is True
    assert await pipeline.submit(replace(first)) is False  # the same report, caught up later
    assert await pipeline.submit(again) is True
    await pipeline.drain(grace=10)
    await pipeline.close()
    await state.close()
    assert judged == [first.key, again.key]
    assert [room.id for room, _ in outlet.sent].count("#nova") == 2


def test_outcome_of_a_verdict() -> None:
    from bot.queries import load_queries
    from bot.watch.classify import JobVerdict, Verdict
    from tests.support.paths import ROOT

    queries = {q.id: q for q in load_queries(ROOT / "queries").queries}
    jobs = (
        JobVerdict(Job("a-classified", "FAILURE"), bugs=("1541364",), ready=True),
        JobVerdict(Job("b-unknown", "FAILURE"), ready=True),
        JobVerdict(Job("c-nonvoting", "FAILURE", voting=False), ready=True),
        JobVerdict(Job("d-late", "FAILURE"), ready=False),
        JobVerdict(Job("e-partial", "FAILURE"), bugs=("1822605",), ready=False),
    )
    outcome = outcome_of(Verdict(BUILD, jobs, waited=12.5), queries)
    assert [job.name for job in outcome.jobs] == ["a-classified", "b-unknown", "e-partial"]
    assert [bug.id for bug in outcome.jobs[0].bugs] == ["1541364"]
    assert outcome.jobs[0].bugs[0].url == "https://bugs.launchpad.net/bugs/1541364"
    assert outcome.not_ready == ("d-late",)
    assert outcome.waited == 12.5
    assert outcome.found
