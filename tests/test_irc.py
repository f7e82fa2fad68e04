"""IrcTransport against a real ngIRCd: a second client (the irc library) watches and talks."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import irc.client
import pytest

from bot.config import IrcSettings
from bot.transports.base import Incoming, Room, Text, User
from bot.transports.irc import IrcTransport
from bot.transports.ircformat import BOLD, LINE_LIMIT, RESET, color
from tests.support.ircd import IrcStandIn
from tests.support.peers import IRC_TIMEOUT as TIMEOUT
from tests.support.peers import IrcPeer, irc_settings, joined, unique
from tests.support.polling import until

if TYPE_CHECKING:
    from tests.support.servers import IrcServer


Factory = Callable[..., Awaitable[Any]]


async def test_announcement_is_a_notice_with_irc_formatting(
    irc_server: IrcServer, irc_bots: Factory, irc_peers: Factory
) -> None:
    channel = unique("#t-")
    bot = await irc_bots(irc_settings(irc_server), channel)
    peer = await irc_peers(irc_server, channel)
    await joined(bot, peer, channel)
    formatted = f"{BOLD}nova{BOLD} change failed: {color('tempest-full', 4)}{RESET}"
    await bot.send(Room("irc", channel), Text("nova change failed: tempest-full", irc=formatted))
    notice = await peer.expect("pubnotice")
    assert notice.arguments[0] == formatted
    assert notice.target == channel
    assert irc.client.NickMask(notice.source).nick == bot.settings.nick
    assert bot.health().connected


async def test_plain_text_when_no_irc_rendering(
    irc_server: IrcServer, irc_bots: Factory, irc_peers: Factory
) -> None:
    channel = unique("#t-")
    bot = await irc_bots(irc_settings(irc_server), channel)
    peer = await irc_peers(irc_server, channel)
    await joined(bot, peer, channel)
    await bot.send(Room("irc", channel), Text("just plain", html="<b>not for irc</b>"))
    assert await peer.texts("pubnotice", 1) == ["just plain"]


async def test_commands_reach_incoming_and_replies_are_privmsgs(
    irc_server: IrcServer, irc_bots: Factory, irc_peers: Factory
) -> None:
    channel = unique("#t-")
    bot = await irc_bots(irc_settings(irc_server), channel)
    peer = await irc_peers(irc_server, channel)
    await joined(bot, peer, channel)
    messages = bot.incoming()
    peer.conn.privmsg(channel, f"{BOLD}!query{BOLD} 1234")
    got = await asyncio.wait_for(anext(messages), TIMEOUT)
    user = User("irc", f"{peer.nick}!~{peer.nick}@127.0.0.1", peer.nick, None)
    assert got == Incoming(Room("irc", channel), user, "!query 1234")

    await bot.send(got.room, Text.of("1234: 3 hits"), reply_to=got)
    reply = await peer.expect("pubmsg")
    # In a channel the reply names the asker; in private it does not.
    assert (reply.target, reply.arguments[0]) == (channel, f"{peer.nick}: 1234: 3 hits")

    peer.conn.privmsg(bot.settings.nick, "!help")
    private = await asyncio.wait_for(anext(messages), TIMEOUT)
    assert private == Incoming(Room("irc", peer.nick), user, "!help", private=True)
    await bot.send(private.room, Text.of("commands: ..."), reply_to=private)
    assert (await peer.expect("privmsg")).arguments[0] == "commands: ..."


async def test_a_long_message_is_split_at_words_in_order(
    irc_server: IrcServer, irc_bots: Factory, irc_peers: Factory
) -> None:
    channel = unique("#t-")
    bot = await irc_bots(irc_settings(irc_server), channel)
    peer = await irc_peers(irc_server, channel)
    await joined(bot, peer, channel)
    words = [f"job-{i:03d}-fäiled" for i in range(120)]
    await bot.send(Room("irc", channel), Text.of(" ".join(words)))
    lines: list[str] = []
    while len(" ".join(lines).split()) < len(words):
        lines += await peer.texts("pubnotice", 1)
    assert len(lines) >= 4
    assert " ".join(lines).split() == words
    relayed = [line for line in peer.raw if " NOTICE " in line and channel in line]
    assert all(len(line.encode()) + 2 <= LINE_LIMIT for line in relayed)


async def test_each_unit_of_a_cut_announcement_is_one_notice(
    irc_server: IrcServer, irc_bots: Factory, irc_peers: Factory
) -> None:
    channel = unique("#t-")
    bot = await irc_bots(irc_settings(irc_server), channel)
    peer = await irc_peers(irc_server, channel)
    await joined(bot, peer, channel)
    words = [f"job-{i:03d}-fäiled" for i in range(120)]
    units = bot.cut(Room("irc", channel), Text.of(" ".join(words)))
    assert len(units) >= 4
    for unit in units:
        await bot.send(Room("irc", channel), unit)
    assert await peer.texts("pubnotice", len(units)) == [unit.plain for unit in units]
    assert " ".join(unit.plain for unit in units).split() == words


async def test_flood_queue_delivers_30_messages_in_order_at_a_pace(
    irc_server: IrcServer, irc_bots: Factory, irc_peers: Factory
) -> None:
    channel = unique("#t-")
    bot = await irc_bots(irc_settings(irc_server, send_burst=5, send_interval=0.05), channel)
    peer = await irc_peers(irc_server, channel)
    await joined(bot, peer, channel)
    started = time.monotonic()
    for i in range(30):
        await bot.send(Room("irc", channel), Text.of(f"message {i}"))
    assert await peer.texts("pubnotice", 30) == [f"message {i}" for i in range(30)]
    assert time.monotonic() - started >= 25 * 0.05 * 0.9  # burst of 5, then 20/s


async def test_nick_collision_takes_an_alternative_and_regains(
    irc_server: IrcServer, irc_bots: Factory, irc_peers: Factory
) -> None:
    channel = unique("#t-")
    first_settings = irc_settings(irc_server)
    nick = first_settings.nick
    first = await irc_bots(first_settings, channel)
    second = await irc_bots(first_settings.model_copy(), channel)
    peer = await irc_peers(irc_server, channel)
    await bot_says(second, peer, channel, "hello", expected_nick=f"{nick}_")
    assert second.health().connected
    await first.close()  # the QUIT frees the nick; the second takes it at once
    await peer.expect("nick", lambda e: e.target == nick)
    await bot_says(second, peer, channel, "regained", expected_nick=nick)


async def bot_says(
    bot: IrcTransport, peer: IrcPeer, channel: str, text: str, expected_nick: str
) -> None:
    await bot.send(Room("irc", channel), Text.of(text))
    notice = await peer.expect("pubnotice", lambda e: e.arguments[0] == text)
    assert irc.client.NickMask(notice.source).nick == expected_nick


async def test_server_restart_reconnects_rejoins_and_keeps_queued_lines(
    irc_server_factory: Callable[..., IrcServer],
    irc_bots: Factory,
    irc_peers: Factory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.transports.irc")
    server = irc_server_factory()
    channel = unique("#t-")
    bot = await irc_bots(irc_settings(server, reconnect_max_delay=3.0), channel)
    await until(lambda: bot.health().connected, "the bot connected", TIMEOUT)
    server.stop()
    # After the first refused retry the bot sleeps for at least 1 s: time for the peer to be
    # in the channel before the bot comes back, so the queued line is seen.
    await until(lambda: "Refused" in bot.health().detail, "the refused reconnection", TIMEOUT)
    await bot.send(Room("irc", channel), Text.of("queued while down"))
    server.start()
    peer = await irc_peers(server, channel)
    assert await peer.texts("pubnotice", 1) == ["queued while down"]
    assert bot.health().connected
    await joined(bot, peer, channel)  # rejoined, not merely talking from outside
    await bot.send(Room("irc", channel), Text.of("after the restart"))
    assert await peer.texts("pubnotice", 1) == ["after the restart"]
    where = f"{server.host}:{server.port}"
    assert f"irc: disconnected from {where}: " in caplog.text  # the session that was up
    assert f"irc: cannot connect to {where}: ConnectionRefusedError" in caplog.text  # while down
    assert f"irc: reconnecting to {where} in " in caplog.text


async def test_server_password_works_and_never_reaches_the_logs(
    irc_server_factory: Callable[..., IrcServer],
    irc_bots: Factory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = irc_server_factory(password="s3cret-pass")
    caplog.set_level(logging.DEBUG)
    bot = await irc_bots(irc_settings(server, server_password="s3cret-pass"))
    assert bot.health().connected, bot.health().detail
    assert "PASS ***" in caplog.text
    assert "s3cret-pass" not in caplog.text

    wrong = await irc_bots(irc_settings(server, server_password="wrong"))
    assert not wrong.health().connected
    assert "assword" in wrong.health().detail  # "Password mismatch" or the like


async def test_tls_verifies_the_server_certificate(
    irc_server_factory: Callable[..., IrcServer], irc_bots: Factory, irc_peers: Factory
) -> None:
    server = irc_server_factory(tls=True)
    trusted = await irc_bots(irc_settings(server, tls=True, ca_file=server.cert))
    assert trusted.health().connected, trusted.health().detail
    untrusted = await irc_bots(irc_settings(server, tls=True))
    assert not untrusted.health().connected
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.health().detail


async def test_without_sasl_on_the_server_auto_falls_back_and_sasl_refuses(
    irc_server: IrcServer, irc_bots: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    auto = await irc_bots(irc_settings(irc_server, password="acct-pass"))
    assert auto.health().connected  # ngIRCd has no SASL; NickServ IDENTIFY was tried instead
    assert "offers no SASL PLAIN; going on without SASL" in caplog.text
    assert "identifying to NickServ" in caplog.text
    strict = await irc_bots(irc_settings(irc_server, password="acct-pass", auth="sasl"))
    assert not strict.health().connected
    assert "SASL" in strict.health().detail
    assert "acct-pass" not in caplog.text


async def test_kicked_bot_rejoins(
    irc_server: IrcServer, irc_bots: Factory, irc_peers: Factory
) -> None:
    channel = unique("#t-")
    peer = await irc_peers(irc_server, channel)  # first in: channel operator
    bot = await irc_bots(irc_settings(irc_server, regain_interval=0.2), channel)
    await joined(bot, peer, channel)
    peer.conn.kick(channel, bot.settings.nick, "out")
    await peer.expect("join", lambda e: irc.client.NickMask(e.source).nick == bot.settings.nick)
    await bot.send(Room("irc", channel), Text.of("back"))
    assert await peer.texts("pubnotice", 1) == ["back"]


async def test_close_ends_incoming_and_health(irc_server: IrcServer, irc_bots: Factory) -> None:
    bot = await irc_bots(irc_settings(irc_server))
    assert bot.health().connected
    messages = bot.incoming()
    await bot.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(messages), TIMEOUT)
    assert not bot.health().connected
    assert bot.health().detail == "closed"


async def test_sasl_plain_login_and_account_tags(irc_bots: Factory) -> None:
    server = await IrcStandIn("acct-pass").start()
    try:
        settings = IrcSettings(
            server="127.0.0.1",
            port=server.port,
            tls=False,
            nick="saslbot",
            account="acct",
            password="acct-pass",
            auth="sasl",
            connect_timeout=5.0,
            reconnect_max_delay=1.0,
        )
        bot = await irc_bots(settings, "#sasl")
        assert bot.health().connected, bot.health().detail
        got = await asyncio.wait_for(anext(bot.incoming()), TIMEOUT)
        assert got.user == User("irc", "alice!a@h", "alice", "alice")
        assert server.received[:2] == ["CAP LS 302", "NICK saslbot"]
        assert not any("NickServ" in line for line in server.received)
    finally:
        await server.stop()


async def test_sasl_failure_with_auth_sasl_keeps_the_bot_off(irc_bots: Factory) -> None:
    server = await IrcStandIn("the-right-one").start()
    try:
        settings = IrcSettings(
            server="127.0.0.1",
            port=server.port,
            tls=False,
            nick="saslbot",
            account="acct",
            password="a-wrong-one",
            auth="sasl",
            connect_timeout=5.0,
            reconnect_max_delay=1.0,
        )
        bot = await irc_bots(settings)
        assert not bot.health().connected
        assert "SASL login failed" in bot.health().detail
    finally:
        await server.stop()


async def test_a_silent_server_is_dropped_and_dialled_again(irc_bots: Factory) -> None:
    server = await IrcStandIn().start()
    try:
        settings = IrcSettings(
            server="127.0.0.1",
            port=server.port,
            tls=False,
            nick="quietbot",
            ping_interval=0.2,
            ping_timeout=0.2,
            connect_timeout=5.0,
            reconnect_max_delay=0.5,
        )
        bot = await irc_bots(settings)
        assert bot.health().connected
        await until(lambda: server.connections >= 2, "a second connection", TIMEOUT)
        assert any(line.startswith("PING ") for line in server.received)
        assert "no data from the server" in bot.health().detail or bot.health().connected
    finally:
        await server.stop()


def test_settings_check_auth_and_nick() -> None:
    with pytest.raises(ValueError, match="auth: sasl needs a password"):
        IrcSettings(server="irc.example", auth="sasl")
    with pytest.raises(ValueError, match="nick"):
        IrcSettings(server="irc.example", nick="two words")
    assert IrcSettings(server="irc.example", password="x").auth == "auto"
