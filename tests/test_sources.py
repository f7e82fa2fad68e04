"""Building the sources from settings (the registry, the ``since`` seam, a uniform status) and
converting their raw events (the table of parsers), against the Gerrit stand-ins."""

from __future__ import annotations

import asyncio
import socket
import time
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.config import Settings, load_settings
from bot.events.convert import PARSERS, to_failed_build
from bot.events.gerrit_rest import OVERLAP, GerritRestPoller
from bot.events.gerrit_ssh import GerritStreamSource
from bot.events.model import FailedBuild
from bot.events.parse import Skip, parse_event
from bot.events.replay import ReplaySource
from bot.events.source import EventSource, RawEvent, SourceStatus
from bot.events.sources import BUILDERS, sources_from
from bot.events.zuul_mqtt import ZuulMqttSource, parse_mqtt_message
from tests.support.events import fixture_events, sample, zuul_report
from tests.support.gerrit import GerritStandIn
from tests.support.gerrit_rest import (
    PASSWORD,
    REPORT,
    USER,
    ZUUL,
    GerritRestStandIn,
    change,
    message,
)
from tests.support.polling import until


def every_kind(tmp_path: Path, **gerrit: Any) -> Settings:
    replay = tmp_path / "events.jsonl"
    replay.write_text('{"type": "a"}\n')
    base = {"host": "127.0.0.1", "user": "bot"}
    return load_settings(
        gerrit=[
            {**base, "name": "ssh-one", "ci_usernames": ["zuul"], **gerrit},
            {**base, "name": "rest-one", "source": "rest", "http_url": "http://127.0.0.1:9"},
            {**base, "name": "ssh-two", "ci_usernames": ["jenkins", "zuul"]},
        ],
        mqtt=[{"name": "zuul-mqtt", "host": "127.0.0.1"}],
        watch={"replay": replay, "ci_accounts": ["ci"]},
    )


# -- sources_from ----------------------------------------------------------------------------


def test_every_configured_source_in_the_order_of_the_settings(tmp_path: Path) -> None:
    built = sources_from(every_kind(tmp_path))
    kinds = [(type(source), source.name, accounts) for source, accounts in built]
    assert kinds == [
        (GerritStreamSource, "ssh-one", ["zuul"]),
        (GerritRestPoller, "rest-one", ["zuul"]),
        (GerritStreamSource, "ssh-two", ["jenkins", "zuul"]),
        (ZuulMqttSource, "zuul-mqtt", []),
        (ReplaySource, "replay:events.jsonl", ["ci"]),
    ]
    assert set(BUILDERS) == {"ssh", "rest", "mqtt", "replay"}
    assert sources_from(load_settings()) == []


def test_every_source_reports_the_same_status_before_it_runs(tmp_path: Path) -> None:
    since = {"ssh-one": 1_700_000_000.0, "zuul-mqtt": 5.0, "nobody": 7.0}
    for source, _ in sources_from(every_kind(tmp_path), since):
        typed: EventSource = source
        status = typed.status
        assert isinstance(status, SourceStatus)
        assert (status.name, status.connected, status.failures) == (source.name, False, 0)
        assert (status.last_error, status.events) == (None, 0)
        # The stream starts from the `since` it was handed; the others have none of theirs.
        assert status.last_created == (1_700_000_000.0 if source.name == "ssh-one" else None)


async def take(source: EventSource, count: int) -> list[RawEvent]:
    found: list[RawEvent] = []
    async with aclosing(source.events()) as events:  # type: ignore[type-var]
        async for event in events:
            found.append(event)
            if len(found) == count:
                break
    return found


async def test_since_reaches_the_ssh_stream_which_catches_up_from_it() -> None:
    events = fixture_events()
    async with GerritStandIn() as gerrit:
        gerrit.history.extend(events)  # happened while the bot was down
        overrides = gerrit.settings("review", resume="events-log").model_dump()
        settings = load_settings(gerrit=[overrides])
        since = float(events[4]["eventCreatedOn"])
        [(source, accounts)] = sources_from(settings, {"review": since, "other": 0.0})
        caught = await take(source, len(events) - 4)
    assert accounts == ["zuul"]
    assert [e.data["eventCreatedOn"] for e in caught] == [
        e["eventCreatedOn"] for e in events if e["eventCreatedOn"] >= since - 60
    ]
    assert gerrit.events_log_requests
    assert source.status.connected is False  # closed with the consumer
    assert source.status.events == len(caught)


async def test_since_reaches_the_rest_poller_whose_first_poll_reaches_back_to_it() -> None:
    now = time.time()
    async with GerritRestStandIn() as gerrit:
        gerrit.changes = [change(912345, [message(ZUUL, REPORT, now - 20 * 3600, 3)])]
        server = {"name": "review", "host": "h", "user": USER, "source": "rest"}
        server |= {"http_url": gerrit.url, "http_password": SecretStr(PASSWORD)}
        settings = load_settings(gerrit=[server])
        [(source, _)] = sources_from(settings, {"review": now - 21 * 3600})
        [event] = await take(source, 1)
    assert event.data["eventCreatedOn"] == int(now - 20 * 3600)
    age = int(gerrit.requests[0]["q"][0].removeprefix("-age:").split("s ", 1)[0])
    assert 21 * 3600 + OVERLAP <= age <= 21 * 3600 + OVERLAP + 5
    assert source.status.last_created == int(now - 20 * 3600)


async def test_a_source_that_cannot_connect_says_so_in_its_status(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = every_kind(tmp_path, port=port, reconnect_max_delay=0.05)
    source, _ = sources_from(settings)[0]
    task = asyncio.create_task(take(source, 1))
    try:
        await until(lambda: source.status.failures >= 2, "two refused connections")
        assert not source.status.connected
        assert source.status.last_error is not None
        assert "ConnectionRefusedError" in source.status.last_error
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# -- to_failed_build -------------------------------------------------------------------------


def test_each_kind_goes_to_its_parser() -> None:
    event = sample("zuul_gate_failed.json")
    gerrit = RawEvent("opendev", event)
    built = to_failed_build(gerrit, ["zuul"])
    assert isinstance(built, FailedBuild)
    assert built == parse_event(gerrit, ci_accounts=["zuul"])
    # The accounts are the caller's: the same comment by an account it does not trust is not.
    assert isinstance(to_failed_build(gerrit, ["jenkins"]), Skip)
    mqtt = RawEvent("zuul", zuul_report(), kind="zuul-mqtt")
    assert to_failed_build(mqtt, []) == parse_mqtt_message(mqtt)
    assert isinstance(to_failed_build(mqtt, []), FailedBuild)
    assert set(PARSERS) == {"gerrit", "zuul-mqtt"}


@pytest.mark.parametrize("kind", ["gerrit-rest", "", "GERRIT"])
def test_an_unknown_kind_is_a_skip_that_says_so(kind: str) -> None:
    event = sample("zuul_gate_failed.json")
    result = to_failed_build(RawEvent("opendev", event, kind=kind), ["zuul"])
    assert result == Skip(f"no parser for events of kind {kind!r} (known: gerrit, zuul-mqtt)")
