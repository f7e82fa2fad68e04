"""Commands sent while the bot was down, against a real Synapse: after a start the bot answers
those of the last ``backlog`` seconds, once, and never older ones.

The first sync shows the events of each room the bot is in; whether an event is recent enough
is judged by the homeserver's ``unsigned.age``, so the tests make an old command by waiting
longer than a short backlog, not by faking a clock.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from bot.transports.base import Text
from bot.transports.matrix import MatrixTransport
from tests.support.peers import MATRIX_TIMEOUT as TIMEOUT
from tests.support.peers import MatrixBots, MatrixPeers, bot_and_room

if TYPE_CHECKING:
    from tests.support.servers import SynapseServer


async def restarted(matrix_bots: MatrixBots, bot: MatrixTransport, **settings: Any) -> Any:
    """The same account started again, in the same rooms."""
    rooms = [name for name, _ in bot.health().rooms]
    s = bot.settings
    return await matrix_bots(*rooms, user_id=s.user_id, password=s.password, **settings)


async def test_a_command_sent_while_down_is_answered_once_after_the_restart(
    matrix_bots: MatrixBots, matrix_peers: MatrixPeers
) -> None:
    bot, peer, room_id = await bot_and_room(matrix_bots, matrix_peers)
    await bot.close()
    command = await peer.say(room_id, "!query 1234")  # the bot is down

    second = await restarted(matrix_bots, bot)
    got = await asyncio.wait_for(anext(second.incoming()), TIMEOUT)
    assert (got.text, got.event_id) == ("!query 1234", command)
    await second.send(got.room, Text.of("1234: 3 hits"), reply_to=got)
    await second.flush()
    await second.close()

    # Started again within the backlog: the command was answered, so it is not taken again.
    third = await restarted(matrix_bots, bot)
    await peer.say(room_id, "!after the second restart")
    first_heard = await asyncio.wait_for(anext(third.incoming()), TIMEOUT)
    assert first_heard.text == "!after the second restart"


async def test_commands_older_than_the_backlog_are_never_answered(
    synapse_server: SynapseServer, matrix_bots: MatrixBots, matrix_peers: MatrixPeers
) -> None:
    bot, peer, room_id = await bot_and_room(matrix_bots, matrix_peers)
    await bot.close()
    await peer.say(room_id, "!stale")
    await asyncio.sleep(4.0)  # "!stale" is then older than the 2 s backlog below
    await peer.say(room_id, "!fresh")

    second = await restarted(matrix_bots, bot, backlog=2.0)
    messages = second.incoming()
    # In timeline order: were "!stale" taken, it would come first.
    assert (await asyncio.wait_for(anext(messages), TIMEOUT)).text == "!fresh"
    await peer.say(room_id, "!live")
    assert (await asyncio.wait_for(anext(messages), TIMEOUT)).text == "!live"


async def test_backlog_0_answers_nothing_sent_before_the_start(
    matrix_bots: MatrixBots, matrix_peers: MatrixPeers
) -> None:
    bot, peer, room_id = await bot_and_room(matrix_bots, matrix_peers)
    await bot.close()
    await peer.say(room_id, "!while down")
    second = await restarted(matrix_bots, bot, backlog=0)
    await peer.say(room_id, "!live")
    assert (await asyncio.wait_for(anext(second.incoming()), TIMEOUT)).text == "!live"
