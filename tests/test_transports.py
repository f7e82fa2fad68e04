"""What every transport shares: the queues, the optional capabilities, health from a link, and
the registry that routing, the ACL and the app ask about transports. No server needed."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from bot.config import IrcSettings, MatrixSettings, Settings
from bot.config.chat import Principals
from bot.core.retry import Link
from bot.transports.base import (
    Cutting,
    Flushable,
    Health,
    ImageSender,
    Incoming,
    Reconnecting,
    Room,
    Text,
    User,
    link_health,
)
from bot.transports.console import ConsoleTransport
from bot.transports.irc import IrcTransport
from bot.transports.ircformat import BOLD, RED, color_code, line_budget, split_message
from bot.transports.matrix import MatrixTransport
from bot.transports.queues import Inbox, Outbox, OutboxFull
from bot.transports.registry import TRANSPORTS, kind_of, transports_from

TIMEOUT = 5.0
IRC = IrcSettings(server="irc.example", nick="bot")
MATRIX = MatrixSettings(homeserver="https://m.example", user_id="@bot:m.example", password="x")


def message(text: str, who: str = "alice") -> Incoming:
    return Incoming(Room("irc", "#qa"), User("irc", f"{who}!a@h", who), text)


# --- the inbox -----------------------------------------------------------------------------


async def test_inbox_hands_messages_over_in_order_until_closed() -> None:
    inbox = Inbox("IRC")
    reader = inbox.messages()
    inbox.put(message("one"))
    inbox.put(message("two"))
    assert [(await anext(reader)).text, (await anext(reader)).text] == ["one", "two"]
    inbox.close()
    inbox.put(message("after close"))
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(reader), TIMEOUT)


async def test_closing_the_inbox_ends_every_reader_now_and_later() -> None:
    inbox = Inbox("Matrix")
    waiting = [asyncio.ensure_future(anext(inbox.messages())) for _ in range(2)]
    await asyncio.sleep(0)
    inbox.close()
    for reader in waiting:
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(reader, TIMEOUT)
    assert [m async for m in inbox.messages()] == []


async def test_a_full_inbox_drops_new_messages_with_a_warning_and_still_closes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    inbox = Inbox("IRC", maxsize=2)
    for text in ("1", "2", "3"):
        inbox.put(message(text, who="flooder"))
    assert "IRC: incoming queue full; dropped a message from flooder!a@h" in caplog.text
    inbox.close()  # the end mark takes the place of the oldest unread message
    assert [m.text async for m in inbox.messages()] == ["2"]


# --- the outbox ----------------------------------------------------------------------------


async def test_outbox_keeps_an_item_until_done_and_flush_waits_for_all() -> None:
    outbox: Outbox[str] = Outbox()
    await asyncio.wait_for(outbox.flush(), TIMEOUT)  # nothing queued: at once
    outbox.put("a")
    outbox.put("b")
    flushed = asyncio.ensure_future(outbox.flush())
    first = await outbox.oldest()
    assert (first, await outbox.oldest(), len(outbox)) == ("a", "a", 2)  # not taken yet
    outbox.done(first)
    assert await outbox.oldest() == "b"
    await asyncio.sleep(0)
    assert not flushed.done()
    outbox.done("b")
    await asyncio.wait_for(flushed, TIMEOUT)
    assert len(outbox) == 0


async def test_oldest_waits_for_an_item() -> None:
    outbox: Outbox[str] = Outbox()
    waiting = asyncio.ensure_future(outbox.oldest())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    outbox.put("late")
    assert await asyncio.wait_for(waiting, TIMEOUT) == "late"


async def test_a_full_outbox_refuses_and_never_drops_a_queued_item() -> None:
    outbox: Outbox[str] = Outbox(maxlen=2)
    outbox.put("1")
    outbox.put("2")
    with pytest.raises(OutboxFull):
        outbox.put("3")
    with pytest.raises(OutboxFull, match="stayed full"):
        await outbox.put_all(["3"], within=0.01)
    with pytest.raises(OutboxFull, match="never fit"):
        await outbox.put_all(["a", "b", "c"], within=TIMEOUT)
    assert len(outbox) == 2
    assert [await taken(outbox), await taken(outbox)] == ["1", "2"]  # both still there


async def test_put_all_waits_for_room_for_all_of_its_items() -> None:
    outbox: Outbox[str] = Outbox(maxlen=3)
    outbox.put("1")
    outbox.put("2")
    waiting = asyncio.ensure_future(outbox.put_all(["3", "4"], within=TIMEOUT))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    assert len(outbox) == 2  # not one of them queued while only one fits
    assert await taken(outbox) == "1"
    await asyncio.wait_for(waiting, TIMEOUT)
    assert [await taken(outbox) for _ in range(3)] == ["2", "3", "4"]


async def test_flush_waits_for_what_was_queued_before_it_only() -> None:
    outbox: Outbox[str] = Outbox()
    outbox.put("a")
    flushed = asyncio.ensure_future(outbox.flush())
    await asyncio.sleep(0)  # the flush has started
    outbox.put("b")  # a later item: a busy queue must not hold up an earlier flush
    assert await taken(outbox) == "a"
    await asyncio.wait_for(flushed, TIMEOUT)
    assert len(outbox) == 1


async def taken(outbox: Outbox[str]) -> str:
    """The oldest item, sent (done)."""
    item = await outbox.oldest()
    outbox.done(item)
    return item


# --- capabilities and health ---------------------------------------------------------------


def test_capabilities_are_declared_by_the_methods_a_transport_has() -> None:
    irc, matrix, console = IrcTransport(IRC), MatrixTransport(MATRIX), ConsoleTransport()
    assert isinstance(irc, Flushable)
    assert not isinstance(irc, ImageSender)
    assert isinstance(matrix, Flushable)
    assert isinstance(matrix, ImageSender)
    assert not isinstance(console, Flushable)
    assert not isinstance(console, ImageSender)
    assert isinstance(irc, Reconnecting)
    assert isinstance(matrix, Reconnecting)
    assert not isinstance(console, Reconnecting)
    assert isinstance(irc, Cutting)
    assert not isinstance(matrix, Cutting)
    assert not isinstance(console, Cutting)


def test_irc_cuts_a_long_announcement_into_the_lines_it_sends() -> None:
    room = Room("irc", "#openstack-nova")
    words = [f"job-{n:03d}" for n in range(150)]
    irc = f"{BOLD}nova{BOLD} failed: {color_code(RED)}" + " ".join(words)
    text = Text("nova failed: " + " ".join(words), irc=irc)
    units = IrcTransport(IRC).cut(room, text)
    assert len(units) > 2
    assert " ".join(unit.plain for unit in units).split()[2:] == words
    # Each unit goes out as one line, whatever user@host the server gives the bot.
    widest = line_budget("NOTICE", room.id, "bot__", "u" * 10, "h" * 63)
    assert all(split_message(unit.irc or "", widest) == [unit.irc] for unit in units)
    assert all(unit.irc and unit.irc.startswith(color_code(RED)) for unit in units[1:])
    # The same cut in another process (a restart), and a short message stays whole.
    assert IrcTransport(IRC).cut(room, text) == units
    assert IrcTransport(IRC).cut(room, Text("short", irc="short")) == [Text("short", irc="short")]


def test_link_health_says_where_when_up_else_the_last_error() -> None:
    link = Link()
    where = "irc.example:6697 as bot"
    assert link_health(link, where, closed=False) == Health(False, "not connected")
    link.up()
    assert link_health(link, where, closed=False) == Health(True, where)
    link.down("ConnectionResetError: reset by peer")
    reset = Health(False, "ConnectionResetError: reset by peer")
    assert link_health(link, where, closed=False) == reset
    assert link_health(link, where, closed=True) == Health(False, "closed")


# --- the registry --------------------------------------------------------------------------


def test_the_registry_names_every_transport() -> None:
    assert list(TRANSPORTS) == ["console", "irc", "matrix"]
    assert all(kind.name == name for name, kind in TRANSPORTS.items())
    assert kind_of("matrix") is TRANSPORTS["matrix"]
    with pytest.raises(ValueError, match="unknown transport 'slack'; known: console, irc, matrix"):
        kind_of("slack")


def test_transports_from_builds_what_the_settings_configure_without_connecting() -> None:
    assert transports_from(Settings()) == {}
    built = transports_from(Settings(irc=IRC, matrix=MATRIX, console=True))
    assert list(built) == ["console", "irc", "matrix"]
    assert isinstance(built["irc"], IrcTransport)
    assert built["irc"].settings is IRC
    assert isinstance(built["matrix"], MatrixTransport)
    assert built["matrix"].settings is MATRIX
    assert isinstance(built["console"], ConsoleTransport)
    assert not any(t.health().connected for t in built.values())
    assert built["irc"].health().detail == "not connected"


@pytest.mark.parametrize(
    ("transport", "name", "configured", "room"),
    [
        ("irc", "openstack-qa", None, "#openstack-qa"),
        ("irc", "#openstack-qa", None, "#openstack-qa"),
        ("irc", "&local", None, "&local"),
        ("irc", "qa", "#elsewhere", "#elsewhere"),
        ("matrix", "qa", "!abc:example.org", "!abc:example.org"),
        ("matrix", "qa", "#qa:example.org", "#qa:example.org"),
        ("console", "console", None, "console"),
        ("console", "qa", "here", "here"),
    ],
)
def test_room_ids_from_channels_yaml(
    transport: str, name: str, configured: str | None, room: str
) -> None:
    kind = kind_of(transport)
    assert kind.room_id(name, configured) == room
    assert kind.room(name, configured) == Room(transport, room)


@pytest.mark.parametrize(
    ("transport", "name", "configured", "problem"),
    [
        ("irc", "two words", None, "not an IRC channel: '#two words'"),
        ("irc", "qa", "no-hash", "not an IRC channel: 'no-hash'"),
        ("matrix", "qa", None, "a matrix channel needs room"),
        ("matrix", "qa", "@user:example.org", "a matrix channel needs room"),
    ],
)
def test_rooms_a_transport_cannot_have_are_refused(
    transport: str, name: str, configured: str | None, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        kind_of(transport).room_id(name, configured)


@pytest.mark.parametrize(
    ("transport", "pattern", "value", "matches"),
    [
        ("irc", "#OpenStack-*", "#openstack-qa", True),
        ("irc", "OPS[away]!*@*", "ops{AWAY}!x@y", True),  # RFC 1459 case, [ literal
        ("irc", "alice[m]!*@*", "alicem!x@y", False),
        ("irc", "bob?!*@*", "bob!x@y", False),
        ("irc", "*!*@trusted.host", "n!u@trusted.host.evil.com", False),
        ("matrix", "@*:admins.example", "@bob:admins.example", True),
        ("matrix", "@Alice:example.org", "@alice:example.org", False),  # exact case
        ("matrix", "#ops:*", "#ops:example.org", True),
        ("console", "console", "console", True),
    ],
)
def test_globs_match_as_names_compare_on_the_transport(
    transport: str, pattern: str, value: str, matches: bool
) -> None:
    assert kind_of(transport).matches(pattern, value) is matches


ADMINS = Principals(
    irc_masks=("*!*@trusted.host",),
    irc_accounts=("infra-root",),
    matrix_users=("@*:admins.example",),
)


@pytest.mark.parametrize(
    ("user", "admin"),
    [
        (User("irc", "anyone!~x@trusted.host", "anyone"), True),
        (User("irc", "anyone!~x@elsewhere.net", "anyone", "Infra-Root"), True),
        (User("irc", "anyone!~x@elsewhere.net", "anyone", "someone"), False),
        (User("irc", "trusted.host", "trusted.host"), False),  # a bare nick is no mask
        (User("matrix", "@bob:admins.example", "bob"), True),
        (User("matrix", "@mallory:evil.example", "@bob:admins.example"), False),  # display name
        (User("matrix", "x!y@trusted.host", "x"), False),  # an IRC-looking id on Matrix
        (User("console", "console", "you"), True),
    ],
)
def test_principals_match_by_the_identities_of_the_users_transport(user: User, admin: bool) -> None:
    assert kind_of(user.transport).is_principal(ADMINS, user) is admin


def test_the_console_can_be_untrusted() -> None:
    you = User("console", "console", "you")
    assert not kind_of("console").is_principal(Principals(console=False), you)


def test_user_keys_follow_accounts_and_tell_users_apart() -> None:
    irc = kind_of("irc")

    def key(ident: str, account: str | None = None) -> str:
        return irc.user_key(User("irc", ident, ident.partition("!")[0], account))

    # Without an account: nick and host, folded the CASEMAPPING=rfc1459 way; the ident does
    # not count. Two people behind one host (a gateway, a bouncer) are two keys.
    assert key("Al[1]!~a@Host.example") == key("al{1}!b@host.EXAMPLE") == "irc:al{1}@host.example"
    assert key("a!~a@host.example") != key("b!~a@host.example")
    assert key("a!~a@host", "Acct[1]") == key("z!~z@other", "ACCT{1}") == "irc:account:acct{1}"
    assert key("barenick") == "irc:barenick"
    matrix = kind_of("matrix")
    alice, bob = User("matrix", "@a:x", "same"), User("matrix", "@b:x", "same")
    assert matrix.user_key(alice) == "matrix:@a:x" != matrix.user_key(bob)
    assert kind_of("console").user_key(User("console", "console", "you")) == "console:console"


def test_routing_and_the_acl_never_load_the_chat_libraries() -> None:
    # The registry imports transport modules only to build one: a bot without IRC never
    # loads the irc library, routing and the ACL load neither.
    script = (
        "import sys; from bot.transports.registry import kind_of; "
        "kind_of('irc').room_id('qa'); "
        "print(sorted(m for m in ('irc', 'nio') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
