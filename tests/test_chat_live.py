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
    assert irc_line == (
        f"irc connected ({irc_server.host}:{irc_server.port} as {nick}): {channel} joined"
    )

    assert await answer(bob, channel, "!nosuch", last="unknown") == [
        "unknown command !nosuch; !help lists them"
    ]
    bob.close()


async def test_a_private_message_needs_no_prefix_and_the_full_uncat_goes_apart(
    run: Scenario, irc_server: IrcServer
) -> None:
    channel, nick = unique("#qa"), unique("rb")
    run.irc = irc_settings(irc_server, nick=nick).model_dump()
    run.channels = {channel: {"projects": ["nova"], "events": ["positive"]}}
    await run.index_logs(run.buildset("openstack/nova", "tempest-full-py3", None))  # unknown error
    bob = await IrcPeer(irc_server).connect()
    await bob.join(channel)
    await run.start()
    await bob.expect("join", lambda e: irc.client.NickMask(e.source).nick == nick)

    bob.conn.privmsg(nick, "status")  # a query: no prefix needed
    private = await bob.expect("privmsg", lambda e: irc.client.NickMask(e.source).nick == nick)
    assert strip_formatting(private.arguments[0]).startswith("up ")

    # In the channel: a summary that points to --all; --all answers in private, not in the room.
    summary = await answer(bob, channel, "!uncat", last="top jobs")
    assert summary[0].startswith("1 of 1 failed gate builds in the last 7 d are uncategorized")
    assert summary[1] == (
        "top jobs: tempest-full-py3 (1) · the full list: !uncat --all (sent to you apart)"
    )
    in_room = sum(f" PRIVMSG {channel} :" in line for line in bob.raw)
    bob.conn.privmsg(channel, "!uncat --all")
    apart = await bob.expect("privmsg", lambda e: irc.client.NickMask(e.source).nick == nick)
    assert strip_formatting(apart.arguments[0]).startswith("1 of 1 failed gate builds")
    assert sum(f" PRIVMSG {channel} :" in line for line in bob.raw) == in_room
    bob.close()
