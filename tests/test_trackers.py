"""Tracker lookups against local stand-ins of the four APIs (tests/support/trackers.py).

Parsing is checked on the recorded shapes; the client on a real HTTP round trip: title, status
and closed date per tracker, private bugs, caching (a second lookup asks nothing, even from a new
client or a reopened state file), and failing trackers (500, timeout, refused) answering None
quickly so announcements keep their bare links.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.bugs import PRIVATE, Bug, Target, bugzilla, github, jira, launchpad, untracked
from bot.config.trackers import TrackerSettings
from bot.dashboard.graph import bug_data
from bot.queries import Query
from bot.state import StateStore
from bot.trackers.bugzilla import parse_bugzilla
from bot.trackers.client import TrackerClient, serves
from bot.trackers.github import parse_github
from bot.trackers.jira import parse_jira
from bot.trackers.launchpad import parse_launchpad
from bot.watch.outcome import JobResult, Outcome, describe_bugs
from tests.support.trackers import TrackerStandIn, jira_issue, launchpad_task

LP = launchpad("1284371")
CLOSED_AT = "2023-05-01T10:00:00.123456+00:00"


@pytest.fixture
async def trackers() -> AsyncIterator[TrackerStandIn]:
    async with TrackerStandIn(jira_token="jira-pat-s3cret", github_token="ghp_s3cret") as standin:
        standin.add_launchpad(
            "1284371",
            "tempest: test_volume_boot_pattern times out",
            [("nova", "Fix Released", CLOSED_AT), ("tempest", "Invalid", "2023-04-01T00:00:00Z")],
        )
        standin.add_launchpad(
            "1708704", "grenade fails on yoga", [("nova", "Fix Released", CLOSED_AT)]
        )
        standin.launchpad["1708704"][1].append(
            launchpad_task(standin.url("launchpad") + "/devel", "1708704", "nova/yoga", "New", None)
        )
        yield standin


async def lookup(settings: TrackerSettings, ref: object) -> Bug | None:
    async with TrackerClient(settings) as client:
        return await client.info(ref)  # type: ignore[arg-type]


# -- pure parsing ----------------------------------------------------------------------------


def test_launchpad_bug_is_closed_only_when_every_task_is() -> None:
    fixed = launchpad_task("https://api", "1", "nova", "Fix Released", CLOSED_AT)
    committed = launchpad_task("https://api", "1", "neutron", "Fix Committed", None)
    details = parse_launchpad(LP, {"title": "t"}, [fixed, committed])
    assert (details.closed, details.status, details.closed_since) == (False, "Fix Committed", None)
    assert details.affects == "(nova - Fix Released), (neutron - Fix Committed)"
    no_tasks = parse_launchpad(LP, {"title": "t"}, [])
    assert (no_tasks.closed, no_tasks.status) == (False, None)
    assert parse_launchpad(LP, {"title": "t", "private": True}, [fixed]).title == PRIVATE


def test_jira_without_status_categories_is_closed_by_its_resolution() -> None:
    old = jira_issue("https://jira", "ABC-1", "t", "Resolved", "done")
    del old["fields"]["status"]["statusCategory"]
    old["fields"]["resolution"] = {"name": "Fixed"}
    details = parse_jira(jira("ABC-1"), old)
    assert (details.closed, details.status) == (True, "Resolved: Fixed")
    assert details.targets == (Target("ABC", "Resolved: Fixed"),)


def test_bugzilla_without_is_open_and_github_not_planned() -> None:
    bug = {"summary": "s", "status": "RESOLVED", "resolution": "WONTFIX", "component": "nova"}
    details = parse_bugzilla(bugzilla("1"), {"bugs": [bug]})
    assert (details.closed, details.status, details.projects) == (
        True,
        "RESOLVED WONTFIX",
        ("nova",),
    )
    issue = {"title": "t", "state": "closed", "state_reason": "not_planned", "closed_at": None}
    details = parse_github(github("o/r", "1"), "o/r", issue)
    assert (details.closed, details.status, details.closed_since) == (
        True,
        "closed: not_planned",
        None,
    )


# -- each tracker over HTTP ------------------------------------------------------------------


async def test_launchpad_title_targets_and_closing_date(trackers: TrackerStandIn) -> None:
    details = await lookup(trackers.settings(), LP)
    assert details == LP.described(
        title="tempest: test_volume_boot_pattern times out",
        status="Fix Released",
        closed=True,
        closed_since=datetime(2023, 5, 1, 10, 0, 0, 123456, tzinfo=UTC),
        targets=(Target("nova", "Fix Released"), Target("tempest", "Invalid")),
    )
    assert [r.path for r in trackers.requests] == [
        "/launchpad/devel/bugs/1284371",
        "/launchpad/devel/bugs/1284371/bug_tasks",
    ]
    assert all(r.auth is None for r in trackers.requests)  # Launchpad is read anonymously


async def test_launchpad_open_series_task_keeps_the_bug_open(trackers: TrackerStandIn) -> None:
    details = await lookup(trackers.settings(), launchpad("1708704"))
    assert details is not None
    assert (details.closed, details.status, details.closed_since) == (False, "New", None)
    assert details.projects == ("nova", "nova/yoga")


async def test_launchpad_private_bug_is_unknown_private(trackers: TrackerStandIn) -> None:
    trackers.add_launchpad("1999999", "secret", [("nova", "New", None)])
    trackers.launchpad_private.add("1999999")
    details = await lookup(trackers.settings(), launchpad("1999999"))
    assert details is not None
    assert (details.private, details.title, details.affects) == (True, PRIVATE, PRIVATE)


async def test_jira_with_token(trackers: TrackerStandIn, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    trackers.add_jira(
        "OSPRH-45",
        "nova-compute crashes on boot",
        "Closed",
        "done",
        resolution={"name": "Done"},
        resolutiondate="2024-01-15T10:00:00.000+0000",
        components=[{"name": "openstack-nova"}],
    )
    trackers.add_jira("OSPRH-46", "still broken", "In Progress", "indeterminate")
    async with TrackerClient(trackers.settings()) as client:
        closed = await client.info(jira("OSPRH-45"))
        still = await client.info(jira("OSPRH-46"))
        missing = await client.info(jira("OSPRH-47"))
    assert closed == jira("OSPRH-45").described(
        title="nova-compute crashes on boot",
        status="Closed: Done",
        closed=True,
        closed_since=datetime(2024, 1, 15, 10, tzinfo=UTC),
        targets=(Target("OSPRH", "Closed: Done"), Target("openstack-nova", "Closed: Done")),
    )
    assert still is not None
    assert (still.closed, still.status, still.projects) == (False, "In Progress", ("OSPRH",))
    assert missing is None
    assert {r.auth for r in trackers.asked("jira")} == {"Bearer jira-pat-s3cret"}
    assert "fields=summary" in trackers.asked("jira")[0].query
    assert "s3cret" not in caplog.text


async def test_bugzilla_closed_private_and_missing(trackers: TrackerStandIn) -> None:
    trackers.bugzilla_key = "bz-key-s3cret"
    trackers.add_bugzilla(
        "1234567", "rabbitmq partitions", "CLOSED", "ERRATA", cf_last_closed="2023-11-02T08:00:00Z"
    )
    trackers.bugzilla_private.add("7654321")
    settings = trackers.settings(
        bugzilla={"api_url": trackers.url("bugzilla"), "api_key": "bz-key-s3cret"}
    )
    async with TrackerClient(settings) as client:
        closed = await client.info(bugzilla("1234567"))
        private = await client.info(bugzilla("7654321"))
        missing = await client.info(bugzilla("1111111"))
    assert closed is not None
    assert (closed.title, closed.status, closed.closed) == (
        "rabbitmq partitions",
        "CLOSED ERRATA",
        True,
    )
    assert closed.closed_since == datetime(2023, 11, 2, 8, tzinfo=UTC)
    assert closed.projects == ("Red Hat OpenStack", "openstack-nova")
    assert private is not None
    assert private.private
    assert missing is None
    assert {r.auth for r in trackers.asked("bugzilla")} == {"bz-key-s3cret"}
    assert all("s3cret" not in r.query for r in trackers.asked("bugzilla"))


async def test_github_open_and_closed(trackers: TrackerStandIn) -> None:
    trackers.add_github("openstack-k8s-operators/nova-operator", "12", "flaky kuttl test")
    trackers.add_github(
        "openstack-k8s-operators/nova-operator",
        "13",
        "fixed thing",
        state="closed",
        state_reason="completed",
        closed_at="2024-02-10T09:08:07Z",
    )
    async with TrackerClient(trackers.settings()) as client:
        still = await client.info(github("openstack-k8s-operators/nova-operator", "12"))
        closed = await client.info(github("openstack-k8s-operators/nova-operator", "13"))
        missing = await client.info(github("openstack-k8s-operators/nova-operator", "14"))
    assert still is not None
    assert (still.closed, still.status) == (False, "open")
    assert still.projects == ("openstack-k8s-operators/nova-operator",)
    assert closed is not None
    assert (closed.status, closed.closed_since) == (
        "closed: completed",
        datetime(2024, 2, 10, 9, 8, 7, tzinfo=UTC),
    )
    assert missing is None
    assert {r.auth for r in trackers.asked("github")} == {"Bearer ghp_s3cret"}


# -- caching ---------------------------------------------------------------------------------


async def test_second_lookup_asks_nothing_even_after_reopening_the_state(
    trackers: TrackerStandIn, tmp_path: Path
) -> None:
    path = tmp_path / "state.sqlite"
    state = await StateStore.open(path)
    async with TrackerClient(trackers.settings(), state) as client:
        first = await client.info(LP)
        assert await client.info(LP) == first
    async with TrackerClient(trackers.settings(), state) as client:
        assert await client.info(LP) == first
    await state.close()
    reopened = await StateStore.open(path)
    async with TrackerClient(trackers.settings(), reopened) as client:
        assert await client.info(LP) == first
    await reopened.close()
    assert len(trackers.requests) == 2  # the bug and its tasks, once


async def test_concurrent_lookups_of_one_bug_share_one_request(trackers: TrackerStandIn) -> None:
    trackers.slow("launchpad", 0.1)
    async with TrackerClient(trackers.settings()) as client:
        found = await asyncio.gather(*(client.info(LP) for _ in range(5)))
    assert len({d.title if d else None for d in found}) == 1
    assert len(trackers.requests) == 2


async def test_answers_expire_after_the_ttl(trackers: TrackerStandIn) -> None:
    now = [0.0]
    async with TrackerClient(trackers.settings(cache_ttl=60), clock=lambda: now[0]) as client:
        await client.info(LP)
        now[0] = 59.0
        await client.info(LP)
        assert len(trackers.requests) == 2
        now[0] = 61.0
        await client.info(LP)
    assert len(trackers.requests) == 4


# -- trackers in trouble ---------------------------------------------------------------------


async def test_a_500_answers_none_and_pauses_the_tracker(
    trackers: TrackerStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    trackers.fail("launchpad", 500)
    now = [0.0]
    settings = trackers.settings(negative_ttl=30, down_for=10)
    async with TrackerClient(settings, clock=lambda: now[0]) as client:
        assert await client.info(LP) is None
        assert await client.info(launchpad("1708704")) is None  # paused: not asked
        assert len(trackers.requests) == 1
        trackers.heal()
        now[0] = 11.0
        assert await client.info(LP) is None  # this bug's failure is still cached
        assert await client.info(launchpad("1708704")) is not None  # the tracker is back
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "HTTP 500" in warnings[0].getMessage()


async def test_a_slow_tracker_times_out_quickly(trackers: TrackerStandIn) -> None:
    trackers.slow("github", 5.0)
    trackers.add_github("o/r", "1", "t")
    async with TrackerClient(trackers.settings(timeout=0.3)) as client:
        started = time.monotonic()
        assert await client.info(github("o/r", "1")) is None
        assert await client.info(github("o/r", "2")) is None
        elapsed = time.monotonic() - started
    assert elapsed < 1.5
    assert len(trackers.asked("github")) == 1


async def test_an_unreachable_tracker_answers_none() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    settings = TrackerSettings(launchpad={"api_url": f"http://127.0.0.1:{port}/devel/"})
    started = time.monotonic()
    assert await lookup(settings, LP) is None
    assert time.monotonic() - started < 2


async def test_refs_not_looked_up(trackers: TrackerStandIn) -> None:
    foreign = jira("ABC-1", "https://jira.example.org/browse/ABC-1")
    settings = trackers.settings()
    assert not serves(settings, foreign)  # the token never goes to a host a query names
    async with TrackerClient(settings) as client:
        assert await client.info(foreign) is None
        assert await client.info(untracked("my-query")) is None
    async with TrackerClient(trackers.settings(enabled=False)) as client:
        assert await client.info(LP) is None
    assert trackers.requests == []


# -- hooks -----------------------------------------------------------------------------------


def query(bug_id: str, ref: object, title: str | None = None) -> Query:
    return Query(id=bug_id, lucene="message:x", bug=ref, title=title)  # type: ignore[arg-type]


async def test_describe_bugs_adds_titles_statuses_and_tracker_projects(
    trackers: TrackerStandIn,
) -> None:
    trackers.fail("github", 503)
    told = github("o/r", "1").described(title="from the query file")
    outcome = Outcome(
        jobs=(JobResult("grenade", (launchpad("1708704"),)), JobResult("kuttl", (told,))),
        bug_projects=("o/r",),
    )
    async with TrackerClient(trackers.settings()) as client:
        described = await describe_bugs(outcome, client.info)
    assert described.jobs[0].bugs == (
        launchpad("1708704").described(title="grenade fails on yoga", status="New"),
    )
    assert described.jobs[1] == outcome.jobs[1]  # GitHub is down: the query's own words stay
    assert described.bug_projects == ("nova", "nova/yoga", "o/r")


async def test_graph_bug_data_keeps_ers_wording(trackers: TrackerStandIn) -> None:
    trackers.add_launchpad("1999999", "secret", [("nova", "New", None)])
    trackers.launchpad_private.add("1999999")
    trackers.fail("github", 500)
    queries = [
        query("1284371", LP),
        query("1999999", launchpad("1999999")),
        query("gh", github("o/r", "1")),
        query("x", untracked("x"), title="not filed"),
    ]
    async with TrackerClient(trackers.settings()) as client:
        found = [await client.describe(replace(q.bug, title=q.title)) for q in queries]
    public, private, down, unfiled = (
        bug_data(q, bug) for q, bug in zip(queries, found, strict=True)
    )
    assert public == {
        "name": "tempest: test_volume_boot_pattern times out",
        "affects": "(nova - Fix Released), (tempest - Invalid)",
        "reviews": [],
    }
    assert private == {"name": PRIVATE, "affects": PRIVATE, "reviews": []}
    assert down == {"name": "Unable to get bug data", "affects": "Unknown", "reviews": []}
    assert unfiled == {"name": "not filed", "affects": "", "reviews": []}
