"""What ``run --demo`` shows besides failures: passing builds that its queries hit too, job
durations in Zuul's reports, a query that stopped hitting, a new error, developers' rechecks
among the replayed events, the judged history in the impact journal, and bug titles and
statuses from its local tracker — and a configured Kibana kept."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.bugs import jira
from bot.config import Settings, load_settings
from bot.demo.choices import NEW_ERROR, stopped_query
from bot.demo.data import (
    DEMO_NEW_ERROR_DAYS,
    DEMO_STOPPED_DAYS,
    DemoData,
    demo_dataset,
    generate,
    gerrit_event,
    known,
)
from bot.demo.history import RECHECK_EVERY, history
from bot.demo.mode import REPLAYED, demo_environment, replay_events
from bot.demo.tracker import FIXED, OPEN, PROJECT, DemoTracker, demo_bugs
from bot.events.parse import parse_event
from bot.events.recheck import Recheck, change_event
from bot.events.source import RawEvent
from bot.impact_store import ImpactFacts, ImpactJournal
from bot.intel.impact import impact_report
from bot.queries import load_queries
from bot.trackers.client import TrackerClient
from tests.support.paths import ROOT

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
QUERIES = load_queries(ROOT / "queries").queries


@pytest.fixture(scope="module")
def data() -> DemoData:
    return demo_dataset(QUERIES, now=NOW)


def test_passing_builds_carry_known_lines_too_but_only_in_the_demo(data: DemoData) -> None:
    passing = [j for b in data.buildsets for j in b.jobs if j.status == "SUCCESS" and j.bug]
    assert len(passing) >= 10
    assert all(j.voting for j in passing)
    plain = generate(QUERIES, now=NOW)
    assert not [j for b in plain.buildsets for j in b.jobs if j.status == "SUCCESS" and j.bug]
    # The extras draw from their own sequence: the failures are the plain dataset's.
    assert [(b.change, b.project, b.queue, known(b)) for b in data.failed()] == [
        (b.change, b.project, b.queue, known(b)) for b in plain.failed()
    ]


def test_each_job_reports_how_long_it_ran(data: DemoData) -> None:
    buildset = data.failed()[0]
    build = parse_event(RawEvent("demo", gerrit_event(buildset)), ci_accounts=["zuul"])
    durations = {job.name: job.duration for job in build.jobs}  # type: ignore[union-attr]
    assert durations == {job.name: float(job.seconds) for job in buildset.jobs}
    every = {j.seconds for b in data.buildsets for j in b.jobs}
    assert len(every) > 100
    assert 900 <= min(every) <= max(every) < 95 * 60


def test_a_query_stops_hitting_and_a_new_error_starts(data: DemoData) -> None:
    stopped = stopped_query(QUERIES)
    assert stopped is not None
    hits = [b.started for b in data.buildsets for j in b.jobs if j.bug == stopped]
    assert len(hits) >= 3
    assert max(hits) < NOW - timedelta(days=DEMO_STOPPED_DAYS)
    new = [b for b in data.buildsets for j in b.jobs if j.extra.get("message") == NEW_ERROR]
    assert len([b for b in new if b.queue == "gate"]) >= 2  # a cluster for the gate's page
    assert min(b.started for b in new) >= NOW - timedelta(days=DEMO_NEW_ERROR_DAYS)


def test_the_replay_rechecks_some_known_failures_right_after_their_report(data: DemoData) -> None:
    replayed = data.replayed(REPLAYED)
    events = replay_events(replayed, NOW)
    rechecks = [change_event(RawEvent("demo", e), ["zuul"]) for e in events]
    said = [r for r in rechecks if isinstance(r, Recheck)]
    assert len(events) == REPLAYED + len(said)
    assert len(said) == (sum(map(known, replayed)) + 1) // 2
    for n, event in enumerate(events):
        if isinstance(rechecks[n], Recheck):
            report = events[n - 1]
            assert event["change"]["number"] == report["change"]["number"]  # type: ignore[index]
            assert event["eventCreatedOn"] > report["eventCreatedOn"]  # type: ignore[operator]
            assert event["author"]["username"] not in ("zuul", "jenkins")  # type: ignore[index]


def test_the_history_is_what_a_bot_would_have_journaled(data: DemoData) -> None:
    replayed = data.replayed(REPLAYED)
    builds, rechecks = history(data, replayed, QUERIES, NOW)
    assert {b.change for b in builds} == {b.change for b in data.failed()} - {
        b.change for b in replayed
    }
    named = [b for b in builds if b.jobs]
    assert len(rechecks) == len(named) // RECHECK_EVERY
    by_change = {b.change: b for b in data.buildsets}
    for build in named:
        demo = by_change[build.change]
        expected = {
            (j.name, float(j.seconds)) for j in demo.jobs if j.status == "FAILURE" and j.bug
        }
        assert {(j.name, j.seconds) for j in build.jobs} <= expected
    report = impact_report(ImpactFacts(tuple(builds), (), tuple(rechecks)), NOW.timestamp())
    assert sum(bug.figures(10).rechecks for bug in report.bugs) >= len(rechecks)
    assert all(b.created <= NOW.timestamp() for b in builds)


async def test_the_tracker_stand_in_gives_titles_and_statuses() -> None:
    stopped = stopped_query(QUERIES)
    bugs = demo_bugs(QUERIES, fixed=stopped)
    assert bugs["1541364"].title == "Failed to update apt repos, we're dead now"
    tracker = await DemoTracker.start(bugs)
    client = TrackerClient(tracker.settings(load_settings().trackers))
    try:
        by_id = {q.id: q for q in QUERIES}
        described = await client.describe(by_id["1541364"].bug)
        assert described is not None
        assert described.title == "Failed to update apt repos, we're dead now"
        assert described.status in OPEN
        assert described.projects == (PROJECT,)
        assert stopped is not None
        fixed = await client.info(by_id[stopped].bug)
        assert fixed is not None
        assert (fixed.status, fixed.closed) == (FIXED, True)
        # Another tracker's bug is asked here too, and found nowhere: the file's words stay.
        assert await client.info(jira("OSPRH-77")) is None
    finally:
        await client.close()
        await tracker.close()
    assert Counter(bug.status for bug in bugs.values())[FIXED] == 1


async def test_the_demo_keeps_a_kibana_and_looks_bugs_up_here(tmp_path: Path) -> None:
    kibana = "https://kibana.example.org"
    given = Settings(
        queries=ROOT / "queries",
        search={"kibana_url": kibana},  # type: ignore[arg-type]
        digest={"schedule": "mon 09:00"},  # type: ignore[arg-type]
    )
    async with demo_environment(given) as env:
        settings = env.settings
        assert settings.search.kibana_url == kibana
        assert settings.search.url != given.search.url
        assert settings.trackers.enabled
        for api in (
            settings.trackers.launchpad.api_url,
            settings.trackers.jira.api_url,
            settings.trackers.bugzilla.api_url,
            settings.trackers.github.api_url,
        ):
            assert str(api).startswith("http://127.0.0.1:")
        assert (settings.digest.on_start, settings.digest.schedule) == (True, "mon 09:00")
        journal = await ImpactJournal.open(settings.state)
        facts = await journal.facts(0)
        await journal.close()
    assert len(facts.builds) >= 50
    assert facts.rechecks
    titled = {label.title for label in facts.bugs}
    assert "Failed to update apt repos, we're dead now" in titled
    assert Settings(queries=ROOT / "queries").search.kibana_url is None
