"""Rate limits as people meet them, with the default settings: a handful of lookups in a row,
typos that cost next to nothing, floods that are stopped. Through the real dispatcher and
commands on a real osmem server; time is a clock the test moves."""

from __future__ import annotations

import asyncio

import pytest

from bot.chat.command import Context, load_commands
from bot.chat.ratelimit import RateLimiter
from bot.config.chat import ChatSettings
from bot.transports.base import Incoming, Text, User
from tests.support.chat import (
    ALICE,
    CHANNEL,
    SETTINGS,
    ChatHarness,
    FakeServices,
    spec,
    with_commands,
)
from tests.support.clock import FakeClock

DEFAULTS = ChatSettings(admins=SETTINGS.admins)  # the shipped limits; only the admins set


def harness(services: FakeServices, clock: FakeClock, **kw: object) -> ChatHarness:
    limiter = RateLimiter(DEFAULTS.user_rate, DEFAULTS.room_rate, clock)
    return ChatHarness(services, DEFAULTS, limiter=limiter, **kw)


async def test_a_session_of_lookups_a_typo_and_an_unknown_command(services: FakeServices) -> None:
    """The issue's session: a malformed query, an unknown command, then five !query in a row.
    Every one is answered; the refusals cost a token each, not a lookup's price."""
    chat = harness(services, FakeClock(1000.0))
    (refused,) = await chat.run_command("!query message:*rror")
    assert refused.startswith("bad query: ")
    assert "wildcard" in refused
    assert await chat.run_command("!nosuch") == ["unknown command !nosuch; !help lists them"]
    for _ in range(5):
        (answer,) = await chat.run_command("!query 1400905")
        assert answer.startswith("bug 1400905 over 7 d: ")
    # 12 tokens: two refusals at 1 and five lookups at 2. The next lookup waits for its 2
    # tokens at 10 a minute.
    assert await chat.run_command("!query 1400905") == ["please wait 12 s before your next command"]
    results = [row[3] for row in await chat.audit()]
    assert results[0].startswith("rejected: bad query: ")
    assert results[1:] == ["rejected: unknown command", *["ok"] * 5, "rate-limited: wait 12 s"]


async def test_five_lookups_a_minute_go_on_minute_after_minute(services: FakeServices) -> None:
    clock = FakeClock(1000.0)
    chat = harness(services, clock)
    lookups = ("!query 1400905", "!bug 1400905", "!uncat", "!query 1541364", "!bug 1541364")
    for minute in range(3):
        for n, lookup in enumerate(lookups):
            clock.now = 1000.0 + minute * 60 + n * 12
            replies = await chat.run_command(lookup)
            assert len(replies) == 1, (minute, lookup)
            assert not replies[0].startswith("please wait"), (minute, lookup, replies)


async def test_a_flood_of_refusals_is_still_stopped(services: FakeServices) -> None:
    chat = harness(services, FakeClock(1000.0))
    replies = [await chat.run_command("!query message:*rror") for _ in range(30)]
    spoken = [reply for reply in replies if reply]
    # 11 refusals at a token each; the 12th finds 1 token where running !query needs its 2:
    # "please wait", then silence.
    assert len(spoken) == 12
    assert all(reply[0].startswith("bad query: ") for reply in spoken[:11])
    assert spoken[-1] == ["please wait 6 s before your next command"]
    # The flood spent alice's bucket, nobody else's.
    bob = User("irc", "bob!~bob@elsewhere.example", "bob")
    assert (await chat.run_command("!query 1400905", user=bob))[0].startswith("bug 1400905")


async def test_three_people_looking_things_up_share_a_room(services: FakeServices) -> None:
    chat = harness(services, FakeClock(1000.0))
    people = [User("irc", f"p{n}!~p@host{n}.example", f"p{n}") for n in range(3)]
    for _ in range(5):
        for person in people:
            (answer,) = await chat.run_command("!bug 1400905", user=person)
            assert answer.startswith("bug 1400905"), answer


async def test_commands_running_at_once_cannot_overdraw(services: FakeServices) -> None:
    """The price is taken before a command runs: ten lookups sent at once do not all pass the
    check before any of them is charged."""
    started = asyncio.Event()
    release = asyncio.Event()

    async def lookup(ctx: Context) -> Text:
        started.set()
        await release.wait()
        return Text.of("looked up")

    registry = with_commands(spec("look", lookup, rate=2))
    chat = harness(services, FakeClock(1000.0), registry=registry)
    for _ in range(10):
        chat.dispatcher.dispatch(Incoming(CHANNEL, ALICE, "!look"), chat.send)
    await asyncio.wait_for(started.wait(), 5)
    release.set()
    for _ in range(500):
        if len(chat.sent) >= 7:
            break
        await asyncio.sleep(0.01)
    await chat.dispatcher.close()
    texts = sorted(text.plain for _, text, _ in chat.sent)
    assert texts.count("looked up") == 6  # 12 tokens, 2 each
    assert texts.count("please wait 12 s before your next command") == 1


@pytest.mark.parametrize(
    ("command", "cost"),
    [
        ("query", 2),
        ("uncat", 2),
        ("bug", 2),
        ("help", 1),
        ("status", 1),
        ("suggest", 3),
        ("top", 1),
    ],
)
def test_what_each_command_costs(command: str, cost: float) -> None:
    """docs/chat.md lists these; a change here is a change there."""
    found = load_commands().get(command)
    assert found is not None
    assert found.rate == cost


def test_the_default_limits() -> None:
    assert (DEFAULTS.user_rate.burst, DEFAULTS.user_rate.per_minute) == (12, 10)
    assert (DEFAULTS.room_rate.burst, DEFAULTS.room_rate.per_minute) == (30, 30)
    assert DEFAULTS.refusal_cost == 1
