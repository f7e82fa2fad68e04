"""Chat commands on a real network: the whole bot on ngIRCd, asked by a second client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import irc.client
import pytest

from bot.config import SearchSettings
from bot.transports.ircformat import strip_formatting
from tests.support.peers import IrcPeer, irc_settings, unique
from tests.support.scenario import Scenario, scenario
from tests.support.servers import IrcServer


@pytest.fixture
async def run(tmp_path: Path, search_settings: SearchSettings) -> AsyncIterator[Scenario]:
    async with scenario(tmp_path, search_settings.url) as started:
        yield started


async def answer(peer: IrcPeer, channel: str, text: str, *, last: str) -> list[str]:
    """What the bot says in ``channel`` to ``text``, up to the line starting with ``last``."""
    peer.conn.privmsg(channel, text)
    lines: list[str] = []
    while not lines or not lines[-1].startswith(last):
        event = await peer.expect("pubmsg", lambda e: e.target == channel)
        lines.append(strip_formatting(event.arguments[0]).removeprefix(f"{peer.nick}: "))
    return lines


async def test_status_names_the_transport_and_unknown_commands_are_answered(
    run: Scenario, irc_server: IrcServer
) -> None:
    channel, nick = unique("#qa"), unique("rb")
    run.irc = irc_settings(irc_server, nick=nick).model_dump()
    run.channels = {channel: {"projects": ["nova"], "events": ["positive"]}}
    bob = await IrcPeer(irc_server).connect()
    await bob.join(channel)
    await run.start()
    await bob.expect("join", lambda e: irc.client.NickMask(e.source).nick == nick)

    status = await answer(bob, channel, "!status", last="dashboard: ")
    (irc_line,) = [line for line in status if line.startswith("irc ")]
    assert irc_line.startswith(f"irc connected ({irc_server.host}:{irc_server.port} as {nick}): ")

    assert await answer(bob, channel, "!nosuch", last="unknown") == [
        "unknown command !nosuch; !help lists them"
    ]
    bob.close()
