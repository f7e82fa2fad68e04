"""Every server the bot talks to goes away during one run and comes back; no event is lost and
no room hears anything twice.

In turn: the search server (a TCP relay in front of osmem, stopped and started on the same port:
the circuit breaker opens, ``!status`` and ``/healthz`` say so, then judging resumes), ngIRCd
(restarted: its announcement waits while Matrix gets its own), Synapse (the same the other way
round) and Gerrit (an outage: the event published meanwhile comes back through events-log).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot.app.process import App
from bot.demo.data import DemoBuildset, gerrit_event
from bot.transports.ircformat import strip_formatting
from tests.support.botproc import IrcWatcher, matrix_notices, until
from tests.support.peers import MatrixPeer, irc_settings, matrix_bot, unique
from tests.support.scenario import Scenario, scenario
from tests.support.servers import IrcServer, SynapseServer, free_port


class TcpRelay:
    """127.0.0.1:<port> → target; ``stop()`` refuses and cuts connections, ``start()`` reopens
    on the same port: a server going away and coming back, as its clients see it."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._open |= {writer, up_writer}
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._open -= {writer, up_writer}
            for end in (writer, up_writer):
                end.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()


@pytest.fixture
async def relay(osmem_url: str) -> AsyncIterator[TcpRelay]:
    relay = TcpRelay(osmem_url)
    await relay.start()
    yield relay
    await relay.stop()


@pytest.fixture
async def run(tmp_path: Path, relay: TcpRelay) -> AsyncIterator[Scenario]:
    async with scenario(tmp_path, relay.url) as started:
        yield started


class Rooms:
    """What the IRC channel and the Matrix room heard, per build."""

    def __init__(self, watcher: IrcWatcher, alice: MatrixPeer, channel: str, room: str) -> None:
        self.watcher, self.alice, self.channel, self.room = watcher, alice, channel, room

    async def counts(self, build: DemoBuildset) -> tuple[int, int]:
        bodies = await matrix_notices(self.alice.client, self.room)
        return self.watcher.count(self.channel, build.change), sum(
            build.change in body for body in bodies
        )

    async def wait(self, build: DemoBuildset, irc: int, matrix: int) -> None:
        async def reached() -> bool:
            got = await self.counts(build)
            return got[0] >= irc and got[1] >= matrix

        async with asyncio.timeout(60):
            while not await reached():  # noqa: ASYNC110 (servers' state, polled)
                await asyncio.sleep(0.2)


async def publish(run: Scenario, build: DemoBuildset) -> None:
    """Report ``build`` now (the demo dates reports an hour after the start; events-log
    catch-up looks back from the last event seen, so the reports must come in time order)."""
    await run.gerrit.publish(gerrit_event(build) | {"eventCreatedOn": int(time.time())})


async def health(app: App, predicate: Callable[[dict[str, Any]], bool], what: str) -> None:
    await until(
        lambda: app.vitals is not None and predicate(app.vitals.health()), f"health: {what}"
    )


async def test_no_event_is_lost_while_each_server_restarts(
    run: Scenario,
    relay: TcpRelay,
    irc_server_factory: Callable[..., IrcServer],
    synapse_server: SynapseServer,
) -> None:
    irc = irc_server_factory()
    channel = unique("#nova")
    matrix = matrix_bot(synapse_server)
    alice = await MatrixPeer(synapse_server).login()
    room = await alice.create_room(matrix["user_id"])
    # The bot reaches ngIRCd through a relay, so that after the restart our second client is
    # back in the channel before the bot is (else it could miss the notice it must count).
    irc_relay = TcpRelay(f"irc://{irc.host}:{irc.port}")
    await irc_relay.start()
    run.irc = irc_settings(irc, nick=unique("rb"), port=irc_relay.port).model_dump()
    run.matrix = matrix
    run.channels = {
        channel: {"projects": ["nova"], "events": ["positive"]},
        "m": {"transport": "matrix", "room": room, "projects": ["nova"], "events": ["positive"]},
    }
    gerrit = run.gerrit.settings("opendev", ci_usernames=["zuul"], resume="events-log")
    run.extra = {
        "gerrit": [gerrit.model_copy(update={"reconnect_max_delay": 1.0})],
        "search": {"url": relay.url, "timeout": 5, "retries": 0}
        | {"breaker_failures": 2, "breaker_cooldown": 1.0},
    }
    builds = [run.buildset("openstack/nova", "tempest-full-py3", "1541364") for _ in range(5)]
    await run.index_logs(*builds)
    watcher = await IrcWatcher(irc, channel).connect()
    rooms = Rooms(watcher, alice, channel, room)
    app = await run.start()

    await publish(run, builds[0])
    await rooms.wait(builds[0], 1, 1)

    # The search server goes away: the breaker opens and says so; the build waits, then goes.
    await relay.stop()
    await publish(run, builds[1])
    await health(app, lambda h: h["search"]["state"] != "closed", "search circuit open")
    assert watcher.peer is not None
    watcher.peer.conn.privmsg(channel, "!status")
    reply = await watcher.peer.expect("pubmsg", lambda e: e.target == channel)
    assert "search: unreachable: search " in strip_formatting(reply.arguments[0])
    await relay.start()
    await rooms.wait(builds[1], 1, 1)
    await health(app, lambda h: h["search"]["state"] == "closed", "search circuit closed")

    # ngIRCd restarts: Matrix hears at once, IRC once it is back.
    watcher.close()
    await irc_relay.stop()
    irc.stop()
    await health(app, lambda h: not h["transports"]["irc"], "irc down")
    await publish(run, builds[2])
    await rooms.wait(builds[2], 0, 1)
    irc.start()
    await watcher.connect()
    await irc_relay.start()
    await rooms.wait(builds[2], 1, 1)

    # Synapse restarts: the other way round.
    synapse_server.stop()
    await health(app, lambda h: not h["transports"]["matrix"], "matrix down")
    await publish(run, builds[3])
    await until(lambda: watcher.count(channel, builds[3].change) == 1, "IRC announcement")
    synapse_server.start()
    await rooms.wait(builds[3], 1, 1)

    # Gerrit goes away; what it reports meanwhile is caught up from events-log.
    await run.gerrit.disconnect(outage=True)
    await publish(run, builds[4])
    run.gerrit.end_outage()
    await rooms.wait(builds[4], 1, 1)

    await asyncio.sleep(1)  # room for a duplicate to show up, were there one
    assert [await rooms.counts(build) for build in builds] == [(1, 1)] * 5
    assert app.parts is not None
    assert app.parts.pipeline.pending == 0
    assert app.parts.pipeline.given_up == 0
    watcher.close()
    await irc_relay.stop()
    await alice.client.close()
