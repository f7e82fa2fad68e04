"""GerritStreamSource against the SSH + events-log stand-in (tests/support/gerrit.py)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import shlex
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import asyncssh
import pytest
from pydantic import SecretStr

from bot.config import GerritServer, load_settings
from bot.events.decode import decode_event
from bot.events.events_log import decode_events_log, events_log_time
from bot.events.gerrit_ssh import GerritStreamSource
from bot.events.recent import RecentSet, event_identity
from bot.events.source import RawEvent
from tests.support.events import Collector, fast_backoff, fixture_events
from tests.support.gerrit import GerritStandIn, run_gerrit_command
from tests.support.polling import until

log = logging.getLogger(__name__)


def ids(events: list[RawEvent] | list[dict[str, Any]]) -> list[str]:
    return [event_identity(e.data if isinstance(e, RawEvent) else e) for e in events]


def failed_builds(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (e["change"]["number"], e["patchSet"]["number"])
        for e in events
        if e.get("comment", "").startswith("Build failed")
    ]


Collect = Callable[..., Collector]  # collect(settings, **source_kwargs) -> Collector


@pytest.fixture
async def gerrit() -> AsyncIterator[GerritStandIn]:
    async with GerritStandIn() as standin:
        yield standin


@pytest.fixture
async def collect() -> AsyncIterator[Collect]:
    started: list[Collector] = []

    def start(settings: GerritServer, **kwargs: Any) -> Collector:
        kwargs.setdefault("backoff", fast_backoff())
        collector = Collector(GerritStreamSource(settings, **kwargs))
        started.append(collector)
        return collector

    yield start
    for collector in started:
        await collector.stop()


# -- the stream, end to end ----------------------------------------------------------------


async def test_every_fixture_event_once_in_order_across_a_drop(
    gerrit: GerritStandIn, collect: Collect, caplog: pytest.LogCaptureFixture
) -> None:
    events = fixture_events()
    consumer = collect(gerrit.settings("review", resume="events-log"))
    await gerrit.wait_for_streams(1)
    # Drop after the garbage line and 5 events: 64749 goes out, its twin 64750 (same second) not.
    gerrit.drop_after(6, outage=True)
    await gerrit.send_raw("this is not json {")
    await gerrit.publish_all(events[:5])
    assert gerrit.outage
    await gerrit.publish_all(events[5:8])  # while disconnected: only events-log keeps them
    await consumer.wait_for(5)
    gerrit.end_outage()
    await gerrit.wait_for_streams(2)
    await gerrit.publish_all(events[8:])  # may race the catch-up: both paths, deduplicated
    await consumer.wait_for(len(events))
    await asyncio.sleep(0.1)  # room for a duplicate to show up, if there were one

    assert ids(consumer.events) == ids(events)
    got = [dict(e.data) for e in consumer.events]
    assert failed_builds(got) == failed_builds(events)
    assert len(failed_builds(got)) == 4
    assert {e.server for e in consumer.events} == {"review"}
    assert gerrit.events_log_requests, "the missed events came from events-log"
    assert "skipped a line, not JSON" in caplog.text
    assert "this is not json {" in caplog.text
    status = consumer.source.status
    assert (status.last_created, status.events) == (events[-1]["eventCreatedOn"], len(events))
    assert (status.connected, status.failures) == (True, 1)
    assert "stream lost" in caplog.text


async def test_without_resume_events_during_an_outage_are_lost(
    gerrit: GerritStandIn, collect: Collect
) -> None:
    events = fixture_events()
    consumer = collect(gerrit.settings("review"))
    await gerrit.wait_for_streams(1)
    gerrit.drop_after(3, outage=True)
    await gerrit.publish_all(events[:5])
    gerrit.end_outage()
    await gerrit.wait_for_streams(2)
    await gerrit.publish_all(events[5:])
    await consumer.wait_for(len(events) - 2)
    await asyncio.sleep(0.1)
    assert ids(consumer.events) == ids(events[:3] + events[5:])
    assert gerrit.events_log_requests == []


async def test_catch_up_pages_past_the_return_limit_and_strips_xssi(collect: Collect) -> None:
    events = fixture_events()
    async with GerritStandIn(return_limit=2, xssi_prefix=True) as gerrit:
        consumer = collect(gerrit.settings("review", resume="events-log"))
        await gerrit.wait_for_streams(1)
        gerrit.drop_after(1, outage=True)
        await gerrit.publish_all(events)
        gerrit.end_outage()
        await consumer.wait_for(len(events))
        await asyncio.sleep(0.1)
        assert ids(consumer.events) == ids(events)
        assert len(gerrit.events_log_requests) > 3  # one page could hold only 2 events


async def test_catch_up_failure_is_logged_and_the_stream_goes_on(
    gerrit: GerritStandIn, collect: Collect, caplog: pytest.LogCaptureFixture
) -> None:
    events = fixture_events()
    settings = gerrit.settings("review", resume="events-log", http_password=SecretStr("wrong"))
    consumer = collect(settings)
    await gerrit.wait_for_streams(1)
    gerrit.drop_after(1, outage=True)
    await gerrit.publish_all(events[:3])
    gerrit.end_outage()
    await gerrit.wait_for_streams(2)
    await until(lambda: "catch-up from events-log failed" in caplog.text, "catch-up log")
    await gerrit.publish(events[3])
    await consumer.wait_for(2)
    assert ids(consumer.events) == ids([events[0], events[3]])
    assert "HTTP 401" in caplog.text
    assert "wrong" not in caplog.text


async def test_since_catches_up_on_the_first_connection(
    gerrit: GerritStandIn, collect: Collect
) -> None:
    events = fixture_events()
    for event in events:
        gerrit.history.append(event)  # happened while the bot was down
    since = float(events[4]["eventCreatedOn"])
    consumer = collect(gerrit.settings("review", resume="events-log"), since=since)
    await consumer.wait_for(len(events) - 4)
    assert ids(consumer.events)[-6:] == ids(events[-6:])
    assert ids(events[:4])[0] not in ids(consumer.events)


async def test_two_servers_at_once_each_tagged_with_its_name(collect: Collect) -> None:
    events = fixture_events()
    async with GerritStandIn() as alpha, GerritStandIn() as beta:
        a = collect(alpha.settings("alpha"))
        b = collect(beta.settings("beta"))
        await alpha.wait_for_streams(1)
        await beta.wait_for_streams(1)
        await alpha.publish_all(events[:6])
        await beta.publish_all(events[6:])
        await a.wait_for(6)
        await b.wait_for(len(events) - 6)
        assert [e.server for e in a.events] == ["alpha"] * 6
        assert [e.server for e in b.events] == ["beta"] * (len(events) - 6)
        assert ids(a.events) + ids(b.events) == ids(events)


async def test_a_healthy_session_resets_the_backoff(
    gerrit: GerritStandIn, collect: Collect
) -> None:
    backoff = fast_backoff()
    consumer = collect(gerrit.settings("review"), backoff=backoff, healthy_after=0.0)
    for drops in range(1, 4):
        await gerrit.wait_for_streams(drops)
        await gerrit.disconnect()
        failures = drops
        await until(lambda: consumer.source.status.failures >= failures, "a failure")  # noqa: B023
        assert backoff.attempts == 1


# -- refusals: host key, client key ------------------------------------------------------


async def test_a_wrong_host_key_is_refused_and_retried(
    gerrit: GerritStandIn, collect: Collect, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{gerrit.port} {impostor}", encoding="utf-8")
    consumer = collect(gerrit.settings("review", known_hosts=known_hosts))
    await until(lambda: consumer.source.status.failures >= 3, "three refusals")
    await gerrit.publish(fixture_events()[0])
    assert consumer.events == []
    assert gerrit.logins == 0
    assert gerrit.streams_started == 0
    assert "host key not trusted" in caplog.text
    assert str(known_hosts) in caplog.text


async def test_without_known_hosts_the_users_file_is_used_and_still_verified(
    gerrit: GerritStandIn,
    collect: Collect,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # an empty home: no ~/.ssh/known_hosts
    consumer = collect(gerrit.settings("review", known_hosts=None))
    await until(lambda: consumer.source.status.failures >= 2, "two refusals")
    assert gerrit.logins == 0
    assert "host key not trusted by ~/.ssh/known_hosts" in caplog.text


async def test_a_bad_client_key_is_refused_and_retried_with_backoff(
    gerrit: GerritStandIn, collect: Collect, caplog: pytest.LogCaptureFixture
) -> None:
    stranger = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    backoff = fast_backoff()
    consumer = collect(gerrit.settings("review", ssh_key=SecretStr(stranger)), backoff=backoff)
    await until(lambda: gerrit.auth_failures >= 3, "three refused logins")
    assert consumer.events == []
    assert gerrit.streams_started == 0
    assert backoff.attempts >= 2  # not reset: no session was ever healthy
    assert "login refused" in caplog.text
    assert "PRIVATE KEY" not in caplog.text


@pytest.mark.parametrize(("content", "expected"), [(None, "No such file"), ("x", "Invalid")])
async def test_a_missing_or_broken_known_hosts_file_is_reported_and_retried(
    gerrit: GerritStandIn,
    collect: Collect,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    content: str | None,
    expected: str,
) -> None:
    known_hosts = tmp_path / "known_hosts"
    if content is not None:
        known_hosts.write_text(content, encoding="utf-8")
    consumer = collect(gerrit.settings("review", known_hosts=known_hosts))
    await until(lambda: consumer.source.status.failures >= 2, "two failures")
    assert gerrit.logins == 0
    assert "cannot connect (" in caplog.text
    assert expected in caplog.text
    assert str(known_hosts) in caplog.text


async def test_a_stream_the_server_ends_is_reported_with_gerrits_reason(
    collect: Collect, caplog: pytest.LogCaptureFixture
) -> None:
    async with GerritStandIn(deny_streams="not permitted to stream events") as gerrit:
        consumer = collect(gerrit.settings("review"))
        await until(lambda: consumer.source.status.failures >= 2, "two failures")
    reason = "stream-events exited with status 1: fatal: not permitted to stream events"
    assert consumer.source.status.last_error == reason
    assert reason in caplog.text


def test_an_unreadable_ssh_key_fails_at_start_without_showing_it() -> None:
    settings = GerritServer(name="review", host="h", user="u", ssh_key=SecretStr("not-a-key"))
    with pytest.raises(ValueError, match="gerrit review: ssh_key") as info:
        GerritStreamSource(settings)
    assert "not-a-key" not in str(info.value)


# -- gerrit review and unknown commands ----------------------------------------------------


async def test_gerrit_review_is_recorded_like_gerrit_takes_it(gerrit: GerritStandIn) -> None:
    await gerrit.publish(fixture_events()[0])  # change 61074, patchset 12
    message = 'Build failed: known bug 1284371.\nIt\'s "flaky".'
    # Gerrit splits the SSH command line like a POSIX shell: quote the message once for it.
    quoted = shlex.quote(message)
    command = f"gerrit review 61074,12 --project openstack/heat --message {quoted} -l Verified=0"
    result = await run_gerrit_command(gerrit.settings(), command)
    assert (result.exit_status, result.stdout, result.stderr) == (0, "", "")
    [review] = gerrit.reviews
    assert (review.change, review.patchset, review.project) == ("61074", "12", "openstack/heat")
    assert review.message == message
    assert review.labels == {"Verified": "0"}


@pytest.mark.parametrize(
    ("command", "error"),
    [
        ("gerrit review 99999,1 --message hi", 'fatal: "99999,1" no such patch set'),
        ("gerrit review 61074,12 --bogus", 'fatal: "--bogus" is not a valid option'),
        ("gerrit frobnicate", "fatal: gerrit: frobnicate: not found"),
        ("rm -rf /", "fatal: rm: not found"),
    ],
)
async def test_bad_commands_fail_like_gerrit(
    gerrit: GerritStandIn, command: str, error: str
) -> None:
    await gerrit.publish(fixture_events()[0])
    result = await run_gerrit_command(gerrit.settings(), command)
    assert result.exit_status == 1
    assert result.stderr == error + "\n"
    assert gerrit.reviews == []


async def test_the_events_log_stand_in_answers_like_the_plugin(gerrit: GerritStandIn) -> None:
    events = fixture_events()
    gerrit.history.extend(events)
    url = f"{gerrit.http_url}/a/plugins/events-log/events/"
    auth = {"Authorization": "Basic " + base64.b64encode(b"recheckbot:http-secret").decode()}

    async def get(query: str, headers: dict[str, str] = auth) -> tuple[int, list[Any]]:
        timeout = aiohttp.ClientTimeout(total=5)
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.get(f"{url}?{query}", headers=headers) as response,
        ):
            return response.status, decode_events_log(await response.text())[0]

    twins = [e for e in events if e["eventCreatedOn"] == 1389378289]
    assert await get("t1=2014-01-10%2018:24:49;t2=2014-01-10+18:24:49") == (200, twins)
    assert await get("t2=2014-01-10&t1=2014-01-09") == (200, events[1:2])  # dates: midnight
    assert (await get("t1=2014-01-10"))[1] == events[2:]  # no t2: until now
    assert await get("t1=yesterday") == (400, [])
    assert await get("t1=2014-01-10", headers={}) == (401, [])


# -- pure pieces ---------------------------------------------------------------------------


def test_decode_event_accepts_every_fixture_event() -> None:
    for event in fixture_events():
        assert decode_event(json.dumps(event) + "\n") == event


def test_decode_events_log_strips_the_xssi_line_and_skips_garbage() -> None:
    events = fixture_events()[:2]
    body = ")]}'\n" + json.dumps(events[0]) + "\nnope\n\n" + json.dumps(events[1]) + "\n"
    decoded, problems = decode_events_log(body)
    assert decoded == events
    assert problems == ["not JSON (Expecting value at column 1): 'nope'"]


def test_event_identity_is_stable_across_number_types_and_tells_twins_apart() -> None:
    events = fixture_events()
    twins = [e for e in events if e["eventCreatedOn"] == 1389378289]
    assert len(twins) == 2
    assert event_identity(twins[0]) != event_identity(twins[1])
    as_ints = json.loads(json.dumps(twins[0]))
    as_ints["change"]["number"] = int(as_ints["change"]["number"])
    as_ints["patchSet"]["number"] = int(as_ints["patchSet"]["number"])
    assert event_identity(as_ints) == event_identity(twins[0])
    edited = dict(twins[0], comment=twins[0]["comment"] + " ")
    assert event_identity(edited) != event_identity(twins[0])
    assert len(set(ids(events))) == len(events)


def test_recent_set_forgets_the_oldest() -> None:
    recent = RecentSet(size=2)
    assert recent.add("a")
    assert recent.add("b")
    assert not recent.add("a")
    assert recent.add("c")
    assert "a" not in recent
    assert "b" in recent
    assert "c" in recent


def test_events_log_time_is_the_gerrit_jvms_local_time() -> None:
    assert events_log_time(1389378289.9, ZoneInfo("UTC")) == "2014-01-10 18:24:49"
    assert events_log_time(1389378289, ZoneInfo("America/New_York")) == "2014-01-10 13:24:49"


def test_settings_require_http_url_for_events_log_and_a_real_time_zone() -> None:
    from bot.config import ConfigError

    base = {"name": "r", "host": "h", "user": "u"}
    with pytest.raises(ConfigError, match="resume: events-log needs http_url"):
        load_settings(gerrit=[{**base, "resume": "events-log"}])
    with pytest.raises(ConfigError, match="unknown time zone"):
        load_settings(gerrit=[{**base, "events_log_timezone": "Mars/Olympus"}])
    ok = load_settings(gerrit=[{**base, "events_log_timezone": "Europe/Paris"}])
    assert ok.gerrit[0].keepalive_interval > 0
