"""What people meet on a first real run on IRC, against a real ngIRCd: private messages and
whispers, the state of each channel in the health, the operator's log lines, and a TLS setting
that does not match the port (ngIRCd listens with TLS here, on a throwaway certificate)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import irc.client
import pytest

from bot.transports.base import Room, Text, Whispering
from tests.support.peers import IRC_TIMEOUT as TIMEOUT
from tests.support.peers import IrcBots, IrcPeers, irc_settings, joined, unique
from tests.support.polling import until

if TYPE_CHECKING:
    from tests.support.servers import IrcServer


async def test_a_query_is_private_and_a_whisper_is_a_privmsg_to_the_nick(
    irc_server: IrcServer, irc_bots: IrcBots, irc_peers: IrcPeers
) -> None:
    channel = unique("#t-")
    bot = await irc_bots(irc_settings(irc_server), channel)
    peer = await irc_peers(irc_server, channel)
    await joined(bot, peer, channel)
    messages = bot.incoming()

    peer.conn.privmsg(channel, "!query 1234")
    in_channel = await asyncio.wait_for(anext(messages), TIMEOUT)
    assert (in_channel.room, in_channel.private) == (Room("irc", channel), False)
    assert isinstance(bot, Whispering)
    await bot.whisper(in_channel, Text("only for you", irc="\x02only\x02 for you"))
    whisper = await peer.expect("privmsg")
    # To the nick, not the channel, and without the "nick: " a reply in a channel has.
    assert (whisper.target, whisper.arguments[0]) == (peer.nick, "\x02only\x02 for you")
    assert irc.client.NickMask(whisper.source).nick == bot.settings.nick

    peer.conn.privmsg(bot.settings.nick, "!help")
    query = await asyncio.wait_for(anext(messages), TIMEOUT)
    assert (query.room, query.private, query.thread_id) == (Room("irc", peer.nick), True, None)
    await bot.whisper(query, Text.of("commands: ..."))
    assert (await peer.expect("privmsg")).arguments[0] == "commands: ..."


async def test_health_says_how_the_bot_is_in_each_channel(
    irc_server: IrcServer, irc_bots: IrcBots, irc_peers: IrcPeers
) -> None:
    open_channel, closed_channel = unique("#t-"), unique("#t-")
    peer = await irc_peers(irc_server, open_channel, closed_channel)  # first in: operator
    peer.conn.mode(closed_channel, "+i")
    await peer.expect("mode", lambda e: e.target == closed_channel)
    bot = await irc_bots(irc_settings(irc_server), open_channel, closed_channel)
    await joined(bot, peer, open_channel)

    def state(channel: str) -> str:
        return dict(bot.health().rooms).get(channel, "missing")

    await until(lambda: state(closed_channel) != "joining", "the refusal", TIMEOUT)
    assert state(open_channel) == "joined"
    assert state(closed_channel).startswith("not joined: ")
    assert "+i" in state(closed_channel)  # ngIRCd: "Cannot join channel (+i) ..."

    peer.conn.kick(open_channel, bot.settings.nick, "tidying up")
    await until(lambda: state(open_channel) != "joined", "the kick", TIMEOUT)
    assert state(open_channel) == f"not joined: kicked by {peer.nick} (tidying up)"

    await bot.close()
    assert bot.health().rooms == (
        (open_channel, "not joined: not connected"),
        (closed_channel, "not joined: not connected"),
    )


async def test_connects_joins_kicks_and_disconnects_are_logged(
    irc_server: IrcServer,
    irc_bots: IrcBots,
    irc_peers: IrcPeers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.transports.irc")
    channel = unique("#t-")
    peer = await irc_peers(irc_server, channel)
    bot = await irc_bots(irc_settings(irc_server, regain_interval=60.0), channel)
    await joined(bot, peer, channel)
    nick, where = bot.settings.nick, f"{irc_server.host}:{irc_server.port}"
    peer.conn.kick(channel, nick, "out")
    await until(lambda: "irc: kicked from" in caplog.text, "the kick logged", TIMEOUT)
    await bot.close()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert ("INFO", f"irc: connected to {where} as {nick}") in lines
    assert ("INFO", f"irc: joined {channel}") in lines
    assert ("WARNING", f"irc: kicked from {channel} by {peer.nick} (out); rejoining later") in lines
    assert ("INFO", f"irc: disconnected from {where} (shutting down)") in lines


async def test_tls_on_a_plain_text_port_says_what_to_change(
    irc_server: IrcServer, irc_bots: IrcBots, caplog: pytest.LogCaptureFixture
) -> None:
    """``tls: true`` against ngIRCd's plain-text port: the handshake gets no answer (ngIRCd
    waits for an IRC line), which used to show as a bare "timed out"."""
    caplog.set_level(logging.INFO, logger="bot.transports.irc")
    bot = await irc_bots(irc_settings(irc_server, tls=True, connect_timeout=2.0))
    where = f"{irc_server.host}:{irc_server.port}"
    detail = bot.health().detail
    assert not bot.health().connected
    assert detail.startswith(f"TLS handshake with {where} failed (")
    assert detail.endswith("is this a plain-text port? try tls: false, or port 6697")
    assert f"irc: cannot connect to {where}: {detail}" in caplog.text


async def test_plain_text_on_a_tls_port_says_what_to_change(
    irc_server_factory: Callable[..., IrcServer],
    irc_bots: IrcBots,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``tls: false`` against ngIRCd's TLS port: the server answers our plain text with a TLS
    alert (or hangs up), which used to show as "connection lost"."""
    caplog.set_level(logging.INFO, logger="bot.transports.irc")
    server = irc_server_factory(tls=True)
    bot = await irc_bots(irc_settings(server, tls=False, connect_timeout=2.0))
    where = f"{server.host}:{server.port}"
    detail = bot.health().detail
    assert not bot.health().connected
    assert detail.startswith(f"{where} ")
    assert "TLS" in detail
    assert detail.endswith("try tls: true, or port 6667 for plain text")
    assert f"irc: cannot connect to {where}: {detail}" in caplog.text

    # The same server is fine with the right setting, on either port.
    tls = await irc_bots(irc_settings(server, tls=True, ca_file=server.cert))
    plain = await irc_bots(irc_settings(server, port=server.plain_port))
    assert tls.health().connected, tls.health().detail
    assert plain.health().connected, plain.health().detail


async def test_an_untrusted_certificate_says_to_set_ca_file(
    irc_server_factory: Callable[..., IrcServer], irc_bots: IrcBots
) -> None:
    server = irc_server_factory(tls=True)
    bot = await irc_bots(irc_settings(server, tls=True))
    detail = bot.health().detail
    assert "CERTIFICATE_VERIFY_FAILED" in detail
    assert detail.endswith(
        "the server's certificate did not verify; set ca_file to the CA that signed it"
    )
    assert "plain-text port" not in detail
