"""SIGKILL the bot mid-classification and mid-delivery; after a restart every room has heard about
every build exactly once.

The bot is a real process (``recheckbot run``) against the Gerrit SSH stand-in, osmem (through a
proxy that can hold the classification request), ngIRCd and Synapse; a second client on each
network counts the notices. What "exactly once" means, and the one window where it is "at most
once", is written in :mod:`bot.state`; these tests kill the bot where the journal must make it
exactly once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.demo.data import DemoBuildset, DemoJob
from tests.support.botproc import (
    BotProcess,
    IrcWatcher,
    finished,
    irc_config,
    journal,
    matrix_notices,
    matrix_settings,
    secret_file,
    until,
    write_config,
)
from tests.support.gerrit import GerritStandIn
from tests.support.http import ForwardingProxy
from tests.support.peers import MatrixPeer, unique
from tests.support.scenario import Scenario
from tests.support.servers import IrcServer, SynapseServer


class HoldingProxy(ForwardingProxy):
    """Forwards to osmem, but holds classification requests for a marked change until told."""

    def __init__(self, target_url: str) -> None:
        super().__init__(target_url)
        self.marker: bytes | None = None
        self.held = 0
        self.release = asyncio.Event()

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()  # cached: the parent reads it again
        # A classification body has the query filters ("q"); a readiness body has none.
        if self.marker and self.marker in body and b'"q":' in body:
            self.held += 1
            await self.release.wait()
        return await super()._forward(request)


@dataclass
class Setup:
    run: Scenario
    bot: BotProcess
    proxy: HoldingProxy
    irc: IrcServer
    watcher: IrcWatcher
    alice: MatrixPeer
    channel: str
    room: str

    @property
    def state(self) -> Path:
        return self.run.workdir / "state.sqlite"

    def buildset(self) -> DemoBuildset:
        return self.run.buildset("openstack/nova", "tempest-full-py3", "1541364")

    async def counts(self, change: str) -> tuple[int, int]:
        matrix = sum(change in body for body in await matrix_notices(self.alice.client, self.room))
        return self.watcher.count(self.channel, change), matrix


@pytest.fixture
async def setup(
    tmp_path: Path,
    osmem_url: str,
    irc_server_factory: Callable[..., IrcServer],
    synapse_server: SynapseServer,
) -> AsyncIterator[Setup]:
    irc = irc_server_factory()
    channel = unique("#nova")
    name = unique("recheckbot")
    user_id = synapse_server.register(name, f"pw-{name}")
    alice = await MatrixPeer(synapse_server).login()
    room = await alice.create_room(user_id)
    async with GerritStandIn() as gerrit, HoldingProxy(osmem_url) as proxy:
        run = Scenario(tmp_path, gerrit, osmem_url)
        channels: dict[str, Any] = {
            channel: {"projects": ["nova"], "events": ["positive"]},
            "m": {
                "transport": "matrix",
                "room": room,
                "projects": ["nova"],
                "events": ["positive"],
            },
        }
        password = secret_file(tmp_path, "matrix_password", f"pw-{name}")
        config = write_config(
            tmp_path,
            search_url=proxy.url,
            gerrit=gerrit,
            channels=channels,
            queries=run.queries,
            irc={"server": irc.host, "port": irc.port, "tls": False, "nick": unique("rb")}
            | {"send_interval": 0.01, "reconnect_max_delay": 1.0, "connect_timeout": 5.0},
            matrix=matrix_settings(synapse_server, user_id, password),
        )
        watcher = await IrcWatcher(irc, channel).connect()
        bot = BotProcess(config, tmp_path / "bot.log")
        try:
            yield Setup(run, bot, proxy, irc, watcher, alice, channel, room)
        finally:
            bot.kill()
            watcher.close()
            await alice.client.close()


async def start(setup: Setup) -> None:
    await setup.bot.start()
    await setup.run.gerrit.wait_for_streams(setup.bot.starts, seconds=30)
    await setup.bot.wait_health(lambda h: all(h.get("transports", {}).values()), "connected")


async def wait_finished(setup: Setup, change: str) -> None:
    await until(lambda: finished(setup.state, change), f"build {change} finished in the journal")
    # Anything said twice would have been said by now: the journal is written after the wire.
    await asyncio.sleep(1)


async def test_killed_mid_classification_announces_once_after_restart(setup: Setup) -> None:
    known = setup.buildset()
    await setup.run.index_logs(known)
    setup.proxy.marker = f'"{known.change}"'.encode()
    await start(setup)

    await setup.run.publish(known)
    await until(lambda: setup.proxy.held >= 1, "the classification request in flight")
    setup.bot.kill()
    assert await setup.counts(known.change) == (0, 0)
    rows = journal(setup.state, "SELECT verdict, done FROM builds")
    assert rows == [(None, None)]  # journaled on receipt; neither judged nor finished

    setup.proxy.marker = None
    setup.proxy.release.set()
    await start(setup)
    await wait_finished(setup, known.change)
    assert await setup.counts(known.change) == (1, 1)
    assert await setup.bot.stop() == 0


async def test_killed_mid_delivery_announces_once_after_restart(setup: Setup) -> None:
    known = setup.buildset()
    await setup.run.index_logs(known)
    await start(setup)

    setup.watcher.close()
    setup.irc.stop()  # IRC is down: its announcement waits, Matrix gets its own at once
    await setup.bot.wait_health(
        lambda h: h["transports"] == {"irc": False, "matrix": True}, "irc down"
    )
    await setup.run.publish(known)
    await until(
        lambda: (
            journal(setup.state, "SELECT status FROM deliveries WHERE room LIKE 'matrix:%'")
            == [("sent",)]
        ),
        "the Matrix delivery journaled",
    )
    assert journal(setup.state, "SELECT COUNT(*) FROM deliveries WHERE room LIKE 'irc:%'") == [
        (0,)
    ]  # never handed to the disconnected transport, so nothing to lose in it
    setup.bot.kill()

    setup.irc.start()
    setup.watcher = await IrcWatcher(setup.irc, setup.channel).connect()
    await start(setup)
    await wait_finished(setup, known.change)
    assert await setup.counts(known.change) == (1, 1)
    assert await setup.bot.stop() == 0


# --- killed in the middle of a long, paced IRC announcement ----------------------------------

#: Long job names, so that the unrecognized-error announcement takes several IRC lines.
LONG_JOBS = [f"tempest-integrated-compute-{'multinode-' * 6}{n:02d}" for n in range(12)]


def many_failed_jobs() -> DemoBuildset:
    jobs = tuple(
        DemoJob(name, uuid.uuid4().hex, "FAILURE", extra={"message": f"ERROR {uuid.uuid4().hex}"})
        for name in LONG_JOBS
    )
    return DemoBuildset(
        project="openstack/nova",
        change=str(800000 + uuid.uuid4().int % 99999),
        patchset="1",
        queue="gate",
        started=datetime.now(UTC) - timedelta(minutes=5),
        jobs=jobs,
    )


@pytest.fixture
async def paced(
    tmp_path: Path, osmem_url: str, irc_server: IrcServer
) -> AsyncIterator[tuple[Scenario, BotProcess, IrcWatcher, str]]:
    """The bot on IRC only, one line per second: a long announcement takes seconds to send."""
    channel = unique("#paced")
    async with GerritStandIn() as gerrit:
        run = Scenario(tmp_path, gerrit, osmem_url)
        config = irc_config(
            run, irc_server, channel, "negative", send_burst=1, send_interval=1.0,
            reconnect_max_delay=1.0, connect_timeout=5.0,
        )  # fmt: skip
        watcher = await IrcWatcher(irc_server, channel).connect()
        bot = BotProcess(config, tmp_path / "bot.log")
        try:
            yield run, bot, watcher, channel
        finally:
            bot.kill()
            watcher.close()


async def test_killed_mid_paced_send_loses_at_most_the_line_in_flight(
    paced: tuple[Scenario, BotProcess, IrcWatcher, str],
) -> None:
    run, bot, watcher, channel = paced
    state = run.workdir / "state.sqlite"
    build = many_failed_jobs()
    await run.index_logs(build)
    await bot.start()
    await run.gerrit.wait_for_streams(1, seconds=30)
    await bot.wait_health(lambda h: h.get("transports", {}).get("irc") is True, "irc connected")

    await run.publish(build)
    await until(lambda: bool(watcher.notices[channel]), "the first line of the announcement")
    bot.kill()  # a line a second: the rest of the announcement is still to come
    before = len(watcher.notices[channel])

    await bot.start()
    await run.gerrit.wait_for_streams(2, seconds=30)
    await until(lambda: finished(state, build.change), f"build {build.change} finished")
    await asyncio.sleep(1)  # anything said twice would have been said by now

    units = journal(
        state,
        "SELECT build_key, status, reason FROM deliveries WHERE build_key LIKE ? ORDER BY sent",
        f"%/{build.change},%#%",
    )
    whole = journal(state, "SELECT status FROM deliveries WHERE build_key NOT LIKE '%#%'")
    lines = watcher.notices[channel]
    assert whole == [("sent",)]
    assert 1 <= before < len(units)  # killed mid-message
    lost = [row for row in units if row[1] != "sent"]
    assert len(lost) <= 1  # at most the line in flight at the kill
    assert all(reason and "interrupted" in reason for _, _, reason in lost)
    sent = len(units) - len(lost)
    assert sent <= len(lines) <= len(units)  # every line journaled sent reached the channel
    assert len(set(lines)) == len(lines)  # none twice
    assert "with an unrecognized error" in lines[-1]  # the end came after the restart
