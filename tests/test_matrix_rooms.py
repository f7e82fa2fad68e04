"""What people meet on a first real run on Matrix, against a real Synapse: threads, whispers,
direct chats, and how the bot is in each configured room (health and log lines)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import nio
import pytest

from bot.transports.base import Room, Text, Whispering
from tests.support.peers import MATRIX_TIMEOUT as TIMEOUT
from tests.support.peers import MatrixBots, MatrixPeer, MatrixPeers, bot_and_room
from tests.support.polling import until

if TYPE_CHECKING:
    from tests.support.servers import SynapseServer


def relation(event: Any) -> dict[str, Any]:
    return dict(event.source["content"].get("m.relates_to", {}))


async def test_a_command_in_a_thread_is_answered_in_that_thread(
    matrix_bots: MatrixBots, matrix_peers: MatrixPeers
) -> None:
    bot, peer, room_id = await bot_and_room(matrix_bots, matrix_peers)
    messages = bot.incoming()
    root = await peer.say(room_id, "the gate is red again")
    command = await peer.say(room_id, "!query 1234", thread=root)
    said = await asyncio.wait_for(anext(messages), TIMEOUT)
    got = await asyncio.wait_for(anext(messages), TIMEOUT)
    assert (said.event_id, said.thread_id) == (root, None)  # the root itself is in no thread
    assert (got.event_id, got.thread_id, got.private) == (command, root, False)

    await bot.send(got.room, Text.of("1234: 3 hits"), reply_to=got)
    [(_, reply)] = await peer.notices(1)
    assert relation(reply) == {
        "rel_type": "m.thread",
        "event_id": root,
        "is_falling_back": True,
        "m.in_reply_to": {"event_id": command},
    }


async def test_threads_always_puts_every_reply_in_a_thread_under_the_command(
    matrix_bots: MatrixBots, matrix_peers: MatrixPeers
) -> None:
    bot, peer, room_id = await bot_and_room(matrix_bots, matrix_peers, threads="always")
    messages = bot.incoming()
    command = await peer.say(room_id, "!help")
    got = await asyncio.wait_for(anext(messages), TIMEOUT)
    assert got.thread_id is None
    await bot.send(got.room, Text.of("commands: ..."), reply_to=got)
    [(_, reply)] = await peer.notices(1)
    assert (relation(reply)["rel_type"], relation(reply)["event_id"]) == ("m.thread", command)


async def test_a_whisper_goes_in_a_thread_under_the_command(
    matrix_bots: MatrixBots, matrix_peers: MatrixPeers
) -> None:
    bot, peer, room_id = await bot_and_room(matrix_bots, matrix_peers)
    messages = bot.incoming()
    command = await peer.say(room_id, "!query 1234 --days 30")
    got = await asyncio.wait_for(anext(messages), TIMEOUT)
    assert isinstance(bot, Whispering)
    await bot.whisper(got, Text.of("a long answer, out of the room's way"))
    [(room, whisper)] = await peer.notices(1)
    assert (room, whisper.body) == (room_id, "a long answer, out of the room's way")
    assert relation(whisper) == {
        "rel_type": "m.thread",
        "event_id": command,
        "is_falling_back": True,
        "m.in_reply_to": {"event_id": command},
    }


async def direct_chat(peer: MatrixPeer, bot_id: str, **options: Any) -> str:
    """A direct chat ``peer`` opens with the bot, as Element's "Start chat" does."""
    return await peer.create_room(bot_id, is_direct=True, **options)


async def test_a_direct_chat_is_accepted_private_and_stays_so_after_a_restart(
    synapse_server: SynapseServer,
    matrix_bots: MatrixBots,
    matrix_peers: MatrixPeers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.transports.matrix")
    bot = await matrix_bots()  # in no configured room at all
    peer = await matrix_peers()
    room_id = await direct_chat(peer, bot.settings.user_id)
    await until(lambda: "joined a direct chat" in caplog.text, "the chat accepted", TIMEOUT)
    assert f"matrix: joined a direct chat with {peer.user_id} ({room_id})" in caplog.text
    command = await peer.say(room_id, "!help")
    got = await asyncio.wait_for(anext(bot.incoming()), TIMEOUT)
    assert (got.room, got.private, got.event_id, got.thread_id) == (
        Room("matrix", room_id),
        True,
        command,
        None,
    )
    await bot.whisper(got, Text.of("just us here"))  # no thread needed in a direct chat
    await bot.send(got.room, Text.of("commands: ..."), reply_to=got)
    replies = await peer.notices(2)
    assert [(room, event.body, relation(event)) for room, event in replies] == [
        (room_id, text, {"m.in_reply_to": {"event_id": command}})
        for text in ("just us here", "commands: ...")
    ]
    assert bot.health().rooms == ()  # a direct chat is no configured room
    await bot.close()

    # A restarted bot knows the chat is direct: it is in the account's m.direct.
    again = await matrix_bots(user_id=bot.settings.user_id, password=bot.settings.password)
    await peer.say(room_id, "!status")
    later = await asyncio.wait_for(anext(again.incoming()), TIMEOUT)
    assert (later.text, later.private) == ("!status", True)


async def test_an_encrypted_direct_chat_is_left_with_a_log_line(
    matrix_bots: MatrixBots, matrix_peers: MatrixPeers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.transports.matrix")
    bot = await matrix_bots()
    peer = await matrix_peers()
    encryption = {
        "type": "m.room.encryption",
        "state_key": "",
        "content": {"algorithm": "m.megolm.v1.aes-sha2"},
    }
    room_id = await direct_chat(peer, bot.settings.user_id, initial_state=[encryption])
    await until(lambda: "left the direct chat" in caplog.text, "the chat left", TIMEOUT)
    assert f"matrix: left the direct chat {room_id} from {peer.user_id}: it is encrypted" in (
        caplog.text
    )


async def test_health_and_logs_say_how_the_bot_is_in_each_room(
    matrix_bots: MatrixBots, matrix_peers: MatrixPeers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.transports.matrix")
    bot = await matrix_bots(connect=False)
    peer = await matrix_peers()
    welcome = await peer.create_room(bot.settings.user_id)
    closed = await peer.create_room(bot.settings.user_id)
    await peer.client.room_kick(closed, bot.settings.user_id, "not yet")  # invitation withdrawn
    await bot.connect()
    await bot.join(Room("matrix", welcome))
    await bot.join(Room("matrix", closed))
    rooms = dict(bot.health().rooms)
    assert rooms[welcome] == "joined"
    assert rooms[closed].startswith("not joined: ")
    assert "M_FORBIDDEN" in rooms[closed]

    # Invited again, the bot joins its configured room at once.
    assert isinstance(await peer.client.room_invite(closed, bot.settings.user_id), nio.Response)
    await until(lambda: dict(bot.health().rooms)[closed] == "joined", "the rejoin", TIMEOUT)

    await peer.client.room_kick(welcome, bot.settings.user_id, "tidying up")
    kicked = f"not joined: kicked by {peer.user_id} (tidying up)"
    await until(lambda: dict(bot.health().rooms)[welcome] == kicked, "the kick", TIMEOUT)
    await bot.close()
    homeserver, user = bot.settings.homeserver, bot.settings.user_id
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert ("INFO", f"matrix: connected to {homeserver} as {user}") in lines
    assert ("INFO", f"matrix: joined {welcome} ({welcome})") in lines
    assert ("INFO", f"matrix: invited to {closed} by {peer.user_id}") in lines
    assert ("WARNING", f"matrix: out of {welcome}: kicked by {peer.user_id} (tidying up)") in lines
    assert ("INFO", f"matrix: disconnected from {homeserver} (shutting down)") in lines
