"""GerritRestPoller: pure request/response functions, then polls against a REST stand-in.

Gerrit cannot run here, so the polls go to :class:`GerritRestStandIn`, which answers
``GET /a/changes/`` the way Gerrit does; the ChangeInfo JSON is written by hand in the shape
Gerrit 3 returns (both in tests/support/gerrit_rest.py).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from bot.config import GerritServer
from bot.events import gerrit_rest as rest
from bot.events.gerrit_rest import OVERLAP, GerritRestPoller
from bot.events.model import FailedBuild
from bot.events.parse import parse_event
from bot.events.recent import event_identity
from bot.events.source import RawEvent
from bot.gerrit import changes as gerrit_changes
from bot.gerrit.rest import parse_gerrit_date
from tests.support.events import Collector, fast_backoff
from tests.support.gerrit_rest import (
    ADA,
    BOB,
    PASSWORD,
    REPORT,
    SHA_3,
    USER,
    ZUUL,
    GerritRestStandIn,
    change,
    message,
)
from tests.support.http import Reply
from tests.support.polling import until


def recorded_shape(now: float) -> list[dict[str, Any]]:
    """Change 912345: an upload, a failed report on patchset 2 and 3, a human recheck."""
    return [
        change(
            912345,
            [
                message(ADA, "Uploaded patch set 2.", now - 3000, 2),
                message(ZUUL, REPORT.replace("Patch Set 3", "Patch Set 2"), now - 2400, 2),
                message(BOB, "Patch Set 2:\n\nrecheck", now - 2000, 2),
                message(ADA, "Uploaded patch set 3: Commit message was updated.", now - 900, 3),
                message(ZUUL, REPORT, now - 60, 3),
            ],
        )
    ]


# -- pure functions ----------------------------------------------------------------------------


def settings(**changes: Any) -> GerritServer:
    values: dict[str, Any] = {"name": "review", "host": "h", "user": USER, "source": "rest"}
    values |= {"http_url": "https://review.example.org", "http_password": SecretStr(PASSWORD)}
    return GerritServer(**(values | changes))


def test_gerrit_dates_are_utc_with_nanoseconds() -> None:
    eight = datetime(2026, 11, 26, 8, tzinfo=UTC).timestamp()
    assert parse_gerrit_date("2026-11-26 08:00:00.000000000") == eight
    assert parse_gerrit_date("2026-11-26 08:00:00.500000000") == eight + 0.5
    assert parse_gerrit_date("2026-11-26 08:00:00") == eight
    for bad in ("2026-13-01 00:00:00.000000000", "yesterday", "", None, 1764144000):
        assert parse_gerrit_date(bad) is None


def test_the_request_asks_for_messages_accounts_and_the_current_revision() -> None:
    s = settings(ci_usernames=["zuul", "third party ci"])
    assert gerrit_changes.changes_url(s) == "https://review.example.org/a/changes/"
    assert (
        gerrit_changes.changes_url(settings(http_password=None))
        == "https://review.example.org/changes/"
    )
    assert gerrit_changes.changes_params(s, age=3600, start=200, page_size=100) == [
        ("q", '-age:3600s (commentby:zuul OR commentby:"third party ci")'),
        ("o", "MESSAGES"),
        ("o", "DETAILED_ACCOUNTS"),
        ("o", "CURRENT_REVISION"),
        ("n", "100"),
        ("S", "200"),
    ]
    custom = settings(poll_query="project:openstack/nova commentby:zuul")
    assert gerrit_changes.changes_params(custom, age=60)[0] == (
        "q",
        "-age:60s (project:openstack/nova commentby:zuul)",
    )
    assert ("S", "0") not in gerrit_changes.changes_params(custom, age=60)
    assert gerrit_changes.default_query(["zuul"]) == "commentby:zuul"


def test_the_age_widens_after_an_outage_up_to_a_limit() -> None:
    now = 1_800_000_000.0
    assert rest.poll_age(3600, None, now) == 3600
    assert rest.poll_age(3600, now - 60, now) == 3600
    assert rest.poll_age(3600, now - 7200, now) == 7200 + OVERLAP
    assert rest.poll_age(3600, now - 10 * 86_400, now) == rest.MAX_CATCH_UP


def test_a_changes_response_becomes_stream_events() -> None:
    now = time.time()
    last = change(912000, []) | {"_more_changes": True}
    body = ")]}'\n" + json.dumps([*recorded_shape(now), last])
    page = gerrit_changes.decode_changes(body)
    assert (len(page.changes), page.more, page.count) == (2, True, 2)
    url = "https://review.example.org/"
    events = rest.change_events(page.changes[0], http_url=url, ci_usernames={"zuul"}, after=0)
    assert [e["patchSet"] for e in events] == [
        {"number": 2},
        {"number": 2},  # Bob's recheck: what the report cost (bot.events.recheck)
        {"number": 3, "revision": SHA_3},
    ]
    assert events[1]["comment"] == "Patch Set 2:\n\nrecheck"
    assert events[2] == {
        "type": "comment-added",
        "change": {
            "project": "openstack/nova",
            "branch": "master",
            "id": f"I{912345:040x}",
            "number": 912345,
            "subject": "Fix the race in the compute manager's resource tracker",
            "owner": {"name": "Ada Lovelace", "username": "ada", "email": "ada@example.org"},
            "url": "https://review.example.org/c/openstack/nova/+/912345",
            "status": "NEW",
        },
        "patchSet": {"number": 3, "revision": SHA_3},
        "author": {"name": "Zuul", "username": "zuul", "email": "zuul@opendev.org"},
        "comment": REPORT,
        "eventCreatedOn": int(now - 60),
    }
    # Only messages after `after` (o=MESSAGES returns a change's whole history), by CI accounts
    # (or rechecks).
    ci, later = {"zuul"}, now - 600
    assert len(rest.change_events(page.changes[0], http_url="", ci_usernames=ci, after=later)) == 1
    others = rest.change_events(page.changes[0], http_url="", ci_usernames={"ci"}, after=0)
    assert [e["author"]["username"] for e in others] == ["bob"]


def test_what_is_not_a_change_list_is_refused_with_the_reason() -> None:
    for body, reason in [
        (")]}'\n[{", "not JSON"),
        (")]}'\n{}", "not a JSON list but dict"),
        ("<html><body>Sign in</body></html>", "not JSON"),
    ]:
        with pytest.raises(ValueError, match=reason):
            gerrit_changes.decode_changes(body)
    assert gerrit_changes.decode_changes("[]").changes == ()  # no prefix: still fine


def test_rest_settings_and_what_the_poller_refuses() -> None:
    plain = GerritServer(name="r", host="h", user="u")
    assert (plain.source, plain.poll_interval, plain.poll_window) == ("ssh", 60.0, 3600.0)
    with pytest.raises(ValidationError, match="source: rest needs http_url"):
        GerritServer(name="r", host="h", user="u", source="rest")
    with pytest.raises(ValueError, match="needs http_url"):
        GerritRestPoller(plain)
    with pytest.raises(ValueError, match="ci_usernames is empty"):
        GerritRestPoller(settings(ci_usernames=[]))


# -- the stand-in ------------------------------------------------------------------------------


Start = Callable[..., Collector]


@pytest.fixture
async def gerrit() -> AsyncIterator[GerritRestStandIn]:
    async with GerritRestStandIn() as standin:
        yield standin


@pytest.fixture
async def start(gerrit: GerritRestStandIn) -> AsyncIterator[Start]:
    started: list[Collector] = []

    def run(*, since: float | None = None, page_size: int = 100, **changes: Any) -> Collector:
        values = {"http_url": gerrit.url, "poll_interval": 0.02, "http_timeout": 2.0} | changes
        backoff = fast_backoff()
        poller = GerritRestPoller(
            settings(**values), backoff=backoff, since=since, page_size=page_size
        )
        started.append(Collector(poller))
        return started[-1]

    yield run
    for collector in started:
        await collector.stop()


async def polls(gerrit: GerritRestStandIn, count: int) -> None:
    """Wait until the stand-in has answered ``count`` more requests."""
    target = len(gerrit.requests) + count
    await until(lambda: len(gerrit.requests) >= target, f"{count} more polls")


def ids(events: list[RawEvent]) -> list[str]:
    return [event_identity(event.data) for event in events]


# -- polling ----------------------------------------------------------------------------------


async def test_each_ci_report_is_yielded_once_across_polls_and_parses(
    gerrit: GerritRestStandIn, start: Start
) -> None:
    now = time.time()
    gerrit.changes = recorded_shape(now)
    collector = start()
    await until(lambda: len(collector.events) >= 3, "the two Zuul reports and Bob's recheck")
    assert [e.data["author"]["username"] for e in collector.events] == ["zuul", "bob", "zuul"]
    # A new report on change 912345, and another change: the next polls overlap the first.
    gerrit.changes[0]["messages"].append(message(ZUUL, REPORT, now, 3))
    gerrit.changes.insert(0, change(912400, [message(ZUUL, REPORT, now - 5, 3)]))
    await until(lambda: len(collector.events) >= 5, "the new reports")
    await polls(gerrit, 5)
    assert len(collector.events) == 5
    assert len(set(ids(collector.events))) == 5
    assert [e.data["eventCreatedOn"] for e in collector.events[3:]] == [int(now - 5), int(now)]
    assert {e.server for e in collector.events} == {"review"}
    assert gerrit.unauthorized == 0
    first = gerrit.requests[0]
    assert first["o"] == ["MESSAGES", "DETAILED_ACCOUNTS", "CURRENT_REVISION"]
    assert first["q"] == [f"-age:{3600 + int(OVERLAP)}s (commentby:zuul)"]
    assert gerrit.requests[-1]["q"] == ["-age:3600s (commentby:zuul)"]
    assert collector.source.status.connected
    assert collector.source.status.last_created == int(now)
    # The same parser as for stream-events: a FailedBuild with the failed jobs.
    reports = [e for e in collector.events if e.data["author"]["username"] == "zuul"]
    builds = [parse_event(event, ci_accounts={"zuul"}) for event in reports]
    assert all(isinstance(build, FailedBuild) for build in builds)
    build = builds[-1]
    assert isinstance(build, FailedBuild)
    where = (build.server, build.project, build.change, build.patchset, build.queue)
    assert where == ("review", "openstack/nova", "912345", "3", "check")
    assert [(j.name, j.result, j.voting) for j in build.failed_jobs] == [
        ("nova-tox-functional-py311", "FAILURE", True),
        ("tempest-full-py3", "POST_FAILURE", True),
        ("nova-grenade-multinode", "FAILURE", False),
    ]
    assert build.change_url == f"{gerrit.url}/c/openstack/nova/+/912345"
    assert build.branch == "master"
    assert build.buildset_url == (
        "https://zuul.opendev.org/t/openstack/buildset/5f0e3c2a9b7d4e1f8a6c0b2d4e6f8a1c"
    )
    assert build.created == float(int(now))


async def test_non_ci_messages_and_old_history_are_not_yielded(
    gerrit: GerritRestStandIn, start: Start
) -> None:
    now = time.time()
    old = message(ZUUL, REPORT, now - 20 * 3600, 2)  # in the change's history, not the window
    gerrit.changes = [
        change(912345, [old, message(BOB, "Patch Set 3:\n\nrecheck", now - 30, 3)]),
        change(912346, [message(ADA, "Build failed (check pipeline).\n\n- x : FAILURE", now, 3)]),
    ]
    collector = start()
    await polls(gerrit, 3)
    # Bob's recheck comes (what a failure cost is counted from); Ada's look-alike does not.
    assert [e.data["comment"] for e in collector.events] == ["Patch Set 3:\n\nrecheck"]
    await collector.stop()
    # A restart that saved `since` 21 hours ago widens -age: and catches up on the old report.
    again = start(since=now - 21 * 3600)
    await until(lambda: len(again.events) >= 1, "the caught-up report")
    assert again.events[0].data["eventCreatedOn"] == int(now - 20 * 3600)
    age = int(gerrit.requests[-1]["q"][0].removeprefix("-age:").split("s ", 1)[0])
    assert 21 * 3600 + OVERLAP <= age <= 21 * 3600 + OVERLAP + 5


async def test_pages_are_followed_through_more_changes(
    gerrit: GerritRestStandIn, start: Start
) -> None:
    now = time.time()
    gerrit.changes = [change(n, [message(ZUUL, REPORT, now - n % 100, 3)]) for n in range(500, 505)]
    collector = start(page_size=2)
    await until(lambda: len(collector.events) >= 5, "reports from every page")
    assert [r.get("S") for r in gerrit.requests[:3]] == [None, ["2"], ["4"]]
    assert all(r["n"] == ["2"] for r in gerrit.requests)
    assert sorted(e.data["change"]["number"] for e in collector.events) == list(range(500, 505))
    await polls(gerrit, 6)
    assert len(collector.events) == 5


async def test_failures_are_logged_once_each_and_polling_recovers(
    gerrit: GerritRestStandIn, start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.events.gerrit_rest")
    gerrit.changes = [change(912345, [message(ZUUL, REPORT, time.time() - 60, 3)])]
    login_page = "<html><body>Sign in</body></html>"
    gerrit.script = [Reply(500, "Internal server error")] * 3 + [
        Reply(delay=0.5),
        Reply(200, login_page),
    ]
    collector = start(http_timeout=0.2)
    await until(lambda: len(collector.events) >= 1, "the report after the errors")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert [w.split("; retrying in")[0] for w in warnings] == [
        f"gerrit review: poll of {gerrit.url}/a/changes/ failed: {reason}"
        for reason in (
            "HTTP 500 Internal Server Error: Internal server error",
            "timed out after 0.2 s",
            f"bad response: not JSON (Expecting value at line 1 column 1): {login_page!r}",
        )
    ]
    assert caplog.text.count("HTTP 500") == 3  # once a warning, then at debug
    assert "polling works again after 5 failed polls" in caplog.text
    assert collector.source.status.failures == 5
    assert collector.source.status.connected


async def test_a_poll_that_works_starts_the_backoff_over(gerrit: GerritRestStandIn) -> None:
    gerrit.changes = [change(912345, [message(ZUUL, REPORT, time.time() - 60, 3)])]
    gerrit.script = [Reply(500, "down"), Reply(500, "down"), Reply(), Reply(503, "again")]
    backoff = fast_backoff()
    values = {"http_url": gerrit.url, "poll_interval": 0.02, "http_timeout": 2.0}
    collector = Collector(GerritRestPoller(settings(**values), backoff=backoff))
    try:
        await until(lambda: collector.source.status.failures >= 3, "the third failure")
        assert backoff.attempts == 1  # after two failures in a row it was 2; a good poll reset it
        status = collector.source.status
        assert (status.events, status.last_error) == (1, "HTTP 503 Service Unavailable: again")
    finally:
        await collector.stop()


async def test_a_401_is_logged_as_an_error_without_the_password(
    gerrit: GerritRestStandIn, start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    gerrit.changes = [change(912345, [message(ZUUL, REPORT, time.time() - 60, 3)])]
    gerrit.password = "the-right-one"
    collector = start()
    await until(lambda: gerrit.unauthorized >= 3, "three refused polls")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "HTTP 401 Unauthorized (check user and http_password)" in errors[0].getMessage()
    assert PASSWORD not in caplog.text
    assert collector.events == []
    assert collector.source.status.last_error == (
        "HTTP 401 Unauthorized (check user and http_password)"
    )
    assert not collector.source.status.connected
    gerrit.password = PASSWORD  # fixed on the server side: the poller goes on by itself
    await until(lambda: len(collector.events) >= 1, "the report once let in")
