"""The chat dispatcher, through the in-process chat harness (tests/support/chat.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.chat.command import CommandError, Context, Rejected
from bot.chat.dispatcher import Dispatcher
from bot.chat.invocation import parse_invocation, text_problem
from bot.config.chat import RateLimit
from bot.transports.base import Incoming, Room, Text
from bot.transports.ircformat import strip_formatting
from tests.support.chat import (
    ALICE,
    CHANNEL,
    CONSOLE,
    MATRIX_ADMIN,
    MATRIX_ROOM,
    OPS,
    SETTINGS,
    ChatHarness,
    FakeServices,
    spec,
    with_commands,
)

# --- recognising commands ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "args", "by_name"),
    [
        ("!query message:foo --days 3", "query", "message:foo --days 3", False),
        ("  !HELP  ", "help", "", False),
        ("recheckbot: uncat tempest-*", "uncat", "tempest-*", True),
        ("recheckbot, status", "status", "", True),
        ("RecheckBot: !bug 1400905", "bug", "1400905", True),
    ],
)
def test_parse_invocation(text: str, name: str, args: str, by_name: bool) -> None:
    found = parse_invocation(text, "!", ["recheckbot"])
    assert found is not None
    assert (found.name, found.args, found.by_name) == (name, args, by_name)


@pytest.mark.parametrize(
    "text", ["hello", "!!!", "! help", "!=x", "recheckbotx: help", "recheckbot:", "see !help?"]
)
def test_not_for_the_bot(text: str) -> None:
    assert parse_invocation(text, "!", ["recheckbot"]) is None


@pytest.mark.parametrize(
    ("text", "name", "args", "bare"),
    [
        ("help", "help", "", True),
        ("  Query 1810526 --days 3", "query", "1810526 --days 3", True),
        ("!help uncat", "help", "uncat", False),
        ("recheckbot: status", "status", "", False),
        ("thanks", "thanks", "", True),  # a word: the dispatcher decides whether it is a command
    ],
)
def test_parse_invocation_in_private(text: str, name: str, args: str, bare: bool) -> None:
    found = parse_invocation(text, "!", ["recheckbot"], private=True)
    assert found is not None
    assert (found.name, found.args, found.bare) == (name, args, bare)
    assert parse_invocation(text, "!", ["recheckbot"]) is None or not bare


@pytest.mark.parametrize("text", ["hello, how are you?", "thanks!", "!!!", "", ":)", "1810526"])
def test_private_chatter_is_no_command(text: str) -> None:
    assert parse_invocation(text, "!", ["recheckbot"], private=True) is None


def test_irc_formatting_is_stripped_and_controls_refused() -> None:
    assert strip_formatting("\x02!help\x02 \x0304,01red\x03") == "!help red"
    assert text_problem("!help", 100) is None
    assert "U+0007" in (text_problem("!help \x07", 100) or "")
    assert "too long" in (text_problem("!help " + "x" * 200, 100) or "")
    assert text_problem('!query message:"👨\u200d👩\u200d👧"', 100) is None  # ZWJ emoji


# --- the dispatcher ----------------------------------------------------------------------------


async def test_help_by_prefix_and_by_name(chat: ChatHarness) -> None:
    (by_prefix,) = await chat.run_command("!help")
    (by_name,) = await chat.run_command("recheckbot: help")
    assert by_prefix == by_name
    assert "!query" in by_prefix
    assert "!refresh/!graph (admins)" in by_prefix


async def test_replies_go_to_the_room_threaded_under_the_message(chat: ChatHarness) -> None:
    await chat.run("!help", room=MATRIX_ROOM)
    room, _, reply_to = chat.sent[-1]
    assert room == MATRIX_ROOM
    assert reply_to is not None
    assert reply_to.event_id == "$event"


async def test_unknown_command_hints_the_closest_name(chat: ChatHarness) -> None:
    assert await chat.run_command("!qeury message:foo") == [
        "unknown command !qeury — did you mean !query?"
    ]
    assert await chat.run_command("recheckbot: frobnicate") == [
        "unknown command !frobnicate; !help lists them"
    ]
    assert await chat.run_command("!nosuch") == ["unknown command !nosuch; !help lists them"]
    assert (await chat.audit())[-1][2:] == ("!nosuch", "rejected: unknown command")


@pytest.mark.parametrize("private", [False, True])
@pytest.mark.parametrize("room", [CHANNEL, MATRIX_ROOM, CONSOLE])
async def test_unknown_commands_are_answered_everywhere(
    chat: ChatHarness, room: Room, private: bool
) -> None:
    assert await chat.run_command("!nosuch", room=room, private=private) == [
        "unknown command !nosuch; !help lists them"
    ]


@pytest.mark.parametrize("text", ["!!!", "!1", "! hi", "!", "!=x", "!! help", "!?"])
async def test_a_prefix_with_nothing_command_like_after_it_gets_no_answer(
    chat: ChatHarness, text: str
) -> None:
    assert await chat.run_command(text) == []
    assert await chat.run_command(text, private=True) == []
    assert await chat.audit() == []  # not even noted: it was not for the bot


async def test_answers_to_unknown_commands_are_rate_limited(services: FakeServices) -> None:
    settings = SETTINGS.model_copy(update={"user_rate": RateLimit(burst=2, per_minute=1)})
    chat = ChatHarness(services, settings)
    replies = [await chat.run_command("!nosuch") for _ in range(6)]
    assert replies[:2] == [["unknown command !nosuch; !help lists them"]] * 2
    assert replies[2] == ["please wait 60 s before your next command"]
    assert replies[3:] == [[], [], []]


# --- private messages --------------------------------------------------------------------------


async def test_in_a_private_message_the_prefix_is_optional(chat: ChatHarness) -> None:
    (by_word,) = await chat.run_command("help", private=True)
    (by_prefix,) = await chat.run_command("!help", private=True)
    assert by_word == by_prefix
    assert by_word.startswith("commands: ")
    (query,) = await chat.run_command("query 1400905 --days 3", private=True)
    assert query.startswith("bug 1400905 over 3 d: ")
    assert (await chat.audit())[-1][2:] == ("!query 1400905 --days 3", "ok")
    # In a room the prefix is still needed: "help" there is conversation.
    assert await chat.run_command("help") == []


async def test_private_chatter_gets_no_answer_but_a_near_miss_does(chat: ChatHarness) -> None:
    for chatter in ("thanks", "hello there", "ok cool", "lol"):
        assert await chat.run_command(chatter, private=True) == [], chatter
    assert await chat.run_command("qurey 1400905", private=True) == [
        "unknown command qurey — did you mean !query?"
    ]
    # With the prefix it was meant as a command: answered, near or not.
    assert await chat.run_command("!frobnicate", private=True) == [
        "unknown command !frobnicate; !help lists them"
    ]
    assert [row[2] for row in await chat.audit()] == ["!qurey 1400905", "!frobnicate"]


# --- answering apart from the room ---------------------------------------------------------------


async def whisperer(ctx: Context) -> Text:
    await ctx.whisper(Text.of(f"just for you, {ctx.user.name}"))
    return Text.of("done")


async def test_whisper_goes_apart_from_the_room(services: FakeServices) -> None:
    chat = ChatHarness(services, registry=with_commands(spec("psst", whisperer)))
    assert await chat.run_command("!psst") == ["done"]
    ((to, text),) = chat.whispered
    assert (to.user, to.room, to.event_id) == (ALICE, CHANNEL, "$event")
    assert text.plain == "just for you, alice"


async def test_whisper_without_the_capability_is_a_reply(services: FakeServices) -> None:
    registry = with_commands(spec("psst", whisperer))
    chat = ChatHarness(services, registry=registry, whispering=False)
    assert await chat.run_command("!psst") == ["just for you, alice", "done"]
    # In a private message the answer is apart already: a plain reply, not a whisper.
    chat = ChatHarness(services, registry=registry)
    assert await chat.run_command("psst", private=True) == ["just for you, alice", "done"]
    assert chat.whispered == []


class WhisperingTransport:
    """Just enough of a transport for :meth:`Dispatcher.serve`: two messages in, and what it is
    asked to send and whisper."""

    name = "irc"

    def __init__(self, *messages: Incoming) -> None:
        self.messages = messages
        self.sent: list[Text] = []
        self.whispered: list[tuple[Incoming, Text]] = []

    async def incoming(self) -> AsyncIterator[Incoming]:
        for message in self.messages:
            yield message

    async def send(self, room: Room, text: Text, *, reply_to: Incoming | None = None) -> None:
        self.sent.append(text)

    async def whisper(self, to: Incoming, text: Text) -> None:
        self.whispered.append((to, text))


async def test_serve_whispers_through_the_transport_with_secrets_masked(
    services: FakeServices,
) -> None:
    async def leaky(ctx: Context) -> Text:
        await ctx.whisper(Text.of("the URL is https://user:hunter2@search.example/"))
        return Text.of("sent")

    dispatcher = Dispatcher(services, SETTINGS, registry=with_commands(spec("leaky", leaky)))
    transport = WhisperingTransport(Incoming(CHANNEL, ALICE, "!leaky"))
    await dispatcher.serve(transport)  # the command runs on in the background
    for _ in range(500):
        if transport.sent:
            break
        await asyncio.sleep(0.01)
    await dispatcher.close()
    assert [t.plain for t in transport.sent] == ["sent"]
    ((to, text),) = transport.whispered
    assert to.user == ALICE
    assert "hunter2" not in text.plain


async def test_a_failing_command_is_reported_and_the_bot_goes_on(services: FakeServices) -> None:
    async def boom(ctx: Context) -> Text:
        raise ValueError("kaboom\nsecond line")

    async def broken(ctx: Context) -> Text:
        raise CommandError("the tracker said no")

    registry = with_commands(spec("boom", boom), spec("broken", broken))
    chat = ChatHarness(services, registry=registry)
    assert await chat.run_command("!boom") == ["sorry, !boom failed: ValueError: kaboom"]
    assert await chat.run_command("!broken") == ["sorry, !broken failed: the tracker said no"]
    assert "commands:" in (await chat.run_command("!help"))[0]
    results = [row[3] for row in await chat.audit()]
    assert results == [
        "error: ValueError: kaboom",
        "error: the tracker said no",
        "ok",
    ]


async def test_a_slow_command_times_out(services: FakeServices) -> None:
    async def slow(ctx: Context) -> Text:
        await asyncio.sleep(30)
        return Text.of("never")

    chat = ChatHarness(services, registry=with_commands(spec("slow", slow, timeout=0.05)))
    assert await chat.run_command("!slow") == ["sorry, !slow timed out after 0.05 s"]
    assert (await chat.audit())[-1][3] == "error: timeout"


async def test_rejections_are_replied_and_audited(chat: ChatHarness) -> None:
    assert await chat.run_command("!bug") == ["usage: !bug <bug id> [--days N]"]
    row = (await chat.audit())[-1]
    assert row == (
        ALICE.id,
        "irc:#openstack-qa",
        "!bug",
        "rejected: usage: !bug <bug id> [--days N]",
    )


async def test_a_failing_transport_does_not_break_the_dispatcher(services: FakeServices) -> None:
    chat = ChatHarness(services)

    async def broken_send(room: Room, text: Text, *, reply_to: Incoming | None = None) -> None:
        raise ConnectionError("socket closed")

    await chat.dispatcher.handle(Incoming(CHANNEL, ALICE, "!help"), broken_send)
    assert (await chat.audit())[-1][3] == "ok"
    assert len(await chat.run_command("!help")) == 1


async def test_dispatch_runs_in_the_background_and_close_cancels(services: FakeServices) -> None:
    started = asyncio.Event()

    async def hang(ctx: Context) -> Text:
        started.set()
        await asyncio.sleep(60)
        return Text.of("never")

    chat = ChatHarness(services, registry=with_commands(spec("hang", hang)))
    chat.dispatcher.dispatch(Incoming(CHANNEL, ALICE, "!hang"), chat.send)
    chat.dispatcher.dispatch(Incoming(CHANNEL, ALICE, "!help"), chat.send)
    await asyncio.wait_for(started.wait(), 5)
    for _ in range(50):
        if chat.sent:
            break
        await asyncio.sleep(0.02)
    assert "commands:" in chat.sent[0][1].plain
    await asyncio.wait_for(chat.dispatcher.close(), 5)


async def test_a_rejected_handler_reply_is_its_reason(services: FakeServices) -> None:
    async def picky(ctx: Context) -> Text:
        raise Rejected(f"no thanks, {ctx.user.name}")

    chat = ChatHarness(services, registry=with_commands(spec("picky", picky)))
    assert await chat.run_command("!picky") == ["no thanks, alice"]


async def test_names_can_be_turned_off(services: FakeServices) -> None:
    chat = ChatHarness(services, SETTINGS.model_copy(update={"address_by_name": False}))
    assert await chat.run_command("recheckbot: help") == []


async def test_matrix_refresh_posts_the_chart(chat: ChatHarness) -> None:
    chat.services.png = b"\x89PNG fake"
    replies = await chat.run_command("!graph", user=MATRIX_ADMIN, room=MATRIX_ROOM)
    assert replies[-1].startswith("dashboard refreshed")
    assert chat.images == [(MATRIX_ROOM, "top-bugs.png", b"\x89PNG fake")]
    await chat.run_command("!refresh", user=OPS)  # IRC: no image
    assert len(chat.images) == 1


async def test_a_command_waiting_too_long_for_a_slot_times_out(services: FakeServices) -> None:
    started = asyncio.Event()

    async def hog(ctx: Context) -> Text:
        started.set()
        await asyncio.sleep(60)
        return Text.of("never")

    async def quick(ctx: Context) -> Text:
        return Text.of("done")

    registry = with_commands(spec("hog", hog), spec("quick", quick, timeout=0.1))
    settings = SETTINGS.model_copy(update={"max_concurrent": 1})
    chat = ChatHarness(services, settings, registry=registry)
    chat.dispatcher.dispatch(Incoming(CHANNEL, OPS, "!hog"), chat.send)
    await asyncio.wait_for(started.wait(), 5)
    assert await chat.run_command("!quick") == ["sorry, !quick timed out after 0.1 s"]
    await chat.dispatcher.close()
    assert await chat.run_command("!quick") == ["done"]


async def test_matrix_names_and_no_image_support(services: FakeServices) -> None:
    services.png = b"\x89PNG"
    dispatcher = Dispatcher(services, SETTINGS, names=("recheckbot", "@recheckbot:example.org"))
    sent: list[Text] = []

    async def send(room: Room, text: Text, *, reply_to: Incoming | None = None) -> None:
        sent.append(text)

    message = Incoming(MATRIX_ROOM, MATRIX_ADMIN, "@recheckbot:example.org: refresh")
    await dispatcher.handle(message, send)  # no send_image: the chart is skipped, not an error
    assert sent[-1].plain.startswith("dashboard refreshed")


# --- the registry ------------------------------------------------------------------------------
