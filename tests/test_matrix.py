"""MatrixTransport against a real Synapse: a second account (matrix-nio) watches and talks."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from typing import TYPE_CHECKING

import nio
import PIL.Image
import pytest

from bot.config import MatrixSettings
from bot.transports.base import Incoming, Room, Text, User
from bot.transports.matrix import answer_fields, notice_content
from tests.support.peers import MATRIX_TIMEOUT as TIMEOUT
from tests.support.peers import MatrixBots, MatrixPeers, bot_and_room, unique

if TYPE_CHECKING:
    from tests.support.servers import SynapseServer


def test_settings_need_credentials_and_a_user_id() -> None:
    with pytest.raises(ValueError, match="password or access_token is required"):
        MatrixSettings(homeserver="https://m.example", user_id="@bot:m.example")
    with pytest.raises(ValueError, match="user_id"):
        MatrixSettings(homeserver="https://m.example", user_id="bot", password="x")
    with pytest.raises(ValueError, match="homeserver"):
        MatrixSettings(homeserver="m.example", user_id="@bot:m.example", password="x")


def test_notice_content_of_an_answer_in_a_thread() -> None:
    asked = Incoming(Room("matrix", "!r:hs"), User("matrix", "@al:hs", "al"), "!q", "$ev")
    content = notice_content(Text("a", html="<b>a</b>"), answer_fields(asked, "$root"))
    assert content == {
        "msgtype": "m.notice",
        "body": "a",
        "format": "org.matrix.custom.html",
        "formatted_body": "<b>a</b>",
        "m.relates_to": {
            "rel_type": "m.thread",
            "event_id": "$root",
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": "$ev"},
        },
        "m.mentions": {"user_ids": ["@al:hs"]},
    }
    assert notice_content(Text.of("plain")) == {"msgtype": "m.notice", "body": "plain"}


async def test_announcement_is_a_notice_with_html(
    matrix_bots: MatrixBots, matrix_peers: MatrixPeers
) -> None:
    bot, peer, room_id = await bot_and_room(matrix_bots, matrix_peers)
    html = '<b>nova</b> failed: <a href="https://bugs.launchpad.net/bugs/1">bug 1</a>'
    await bot.send(Room("matrix", room_id), Text("nova failed: bug 1", html=html))
    await bot.send(Room("matrix", room_id), Text.of("plain only"))
    [(room, first), (_, second)] = await peer.notices(2)
    assert room == room_id
    assert first.sender == bot.settings.user_id
    assert (first.body, first.format, first.formatted_body) == (
        "nova failed: bug 1",
        "org.matrix.custom.html",
        html,
    )
    assert second.body == "plain only"
    assert "formatted_body" not in second.source["content"]
    assert bot.health().connected


async def test_commands_reach_incoming_and_replies_are_replies_in_the_room(
    matrix_bots: MatrixBots, matrix_peers: MatrixPeers
) -> None:
    bot, peer, room_id = await bot_and_room(matrix_bots, matrix_peers)
    messages = bot.incoming()
    event_id = await peer.say(room_id, "  !query 1234 ")
    got = await asyncio.wait_for(anext(messages), TIMEOUT)
    user = User("matrix", peer.user_id, peer.name)
    assert got == Incoming(Room("matrix", room_id), user, "!query 1234", event_id)

    await bot.send(got.room, Text.of("1234: 3 hits"), reply_to=got)
    [(_, reply)] = await peer.notices(1)
    # Not in a thread (the command was not in one): a reply, shown under the command it quotes.
    assert reply.source["content"]["m.relates_to"] == {"m.in_reply_to": {"event_id": event_id}}
    assert reply.source["content"]["m.mentions"] == {"user_ids": [peer.user_id]}


async def test_history_and_own_messages_are_not_incoming(
    synapse_server: SynapseServer, matrix_bots: MatrixBots, matrix_peers: MatrixPeers
) -> None:
    bot = await matrix_bots(connect=False, backlog=0)
    peer = await matrix_peers()
    room_id = await peer.create_room(bot.settings.user_id)
    await peer.say(room_id, "!old from before the start")
    await asyncio.sleep(0.01)
    await bot.connect()
    await bot.join(Room("matrix", room_id))
    same_account = nio.AsyncClient(synapse_server.url, bot.settings.user_id)
    try:
        await same_account.login(bot.settings.password.get_secret_value())
        content = {"msgtype": "m.text", "body": "!mine"}
        await same_account.room_send(room_id, "m.room.message", content)
    finally:
        await same_account.close()
    await peer.say(room_id, "!new")
    got = await asyncio.wait_for(anext(bot.incoming()), TIMEOUT)
    assert got.text == "!new"


async def test_rooms_joined_by_alias_keep_their_alias(
    matrix_bots: MatrixBots, matrix_peers: MatrixPeers
) -> None:
    bot = await matrix_bots(connect=False)
    peer = await matrix_peers()
    local = unique("t-")
    room_id = await peer.create_room(bot.settings.user_id, alias=local)
    alias = f"#{local}:localhost"
    await bot.connect()
    await bot.join(Room("matrix", alias))
    await peer.say(room_id, "!help")
    got = await asyncio.wait_for(anext(bot.incoming()), TIMEOUT)
    assert got.room == Room("matrix", alias)
    await bot.send(got.room, Text.of("by alias"))
    [(room, notice)] = await peer.notices(1)
    assert (room, notice.body) == (room_id, "by alias")


async def test_encrypted_rooms_are_skipped_with_a_log_line(
    matrix_bots: MatrixBots, matrix_peers: MatrixPeers, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await matrix_bots(connect=False)
    peer = await matrix_peers()
    encryption = {
        "type": "m.room.encryption",
        "state_key": "",
        "content": {"algorithm": "m.megolm.v1.aes-sha2"},
    }
    secret_room = await peer.create_room(bot.settings.user_id, initial_state=[encryption])
    open_room = await peer.create_room(bot.settings.user_id)
    await bot.connect()
    caplog.set_level(logging.INFO, logger="bot.transports.matrix")
    await bot.join(Room("matrix", secret_room))
    await bot.join(Room("matrix", open_room))
    assert f"room {secret_room} is encrypted; skipped" in caplog.text
    await bot.send(Room("matrix", secret_room), Text.of("must not be sent"))
    await bot.send(Room("matrix", open_room), Text.of("fine"))
    notices = await peer.notices(1)
    assert [(room, event.body) for room, event in notices] == [(open_room, "fine")]


async def test_access_token_login(
    synapse_server: SynapseServer, matrix_bots: MatrixBots, matrix_peers: MatrixPeers
) -> None:
    holder = await matrix_bots(connect=False)
    client = nio.AsyncClient(synapse_server.url, holder.settings.user_id)
    login = await client.login(holder.settings.password.get_secret_value(), device_name="x")
    await client.close()
    name = holder.settings.user_id  # the same account, with the holder's token
    bot = await matrix_bots(
        connect=False, user_id=name, access_token=login.access_token, password=None
    )
    peer = await matrix_peers()
    room_id = await peer.create_room(name)
    await bot.connect()
    assert bot.health().connected, bot.health().detail
    await bot.join(Room("matrix", room_id))
    await bot.send(Room("matrix", room_id), Text.of("token works"))
    [(_, notice)] = await peer.notices(1)
    assert (notice.sender, notice.body) == (name, "token works")


async def test_a_wrong_password_is_reported_and_never_logged(
    matrix_bots: MatrixBots, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bot = await matrix_bots(password="definitely-wrong-pw")
    assert not bot.health().connected
    assert "M_FORBIDDEN" in bot.health().detail
    assert "definitely-wrong-pw" not in caplog.text


async def test_close_ends_incoming(matrix_bots: MatrixBots) -> None:
    bot = await matrix_bots()
    messages = bot.incoming()
    await bot.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(messages), TIMEOUT)
    assert bot.health().detail == "closed"


async def test_synapse_restart_reconnects_and_delivers_queued_notices(
    synapse_server: SynapseServer, matrix_bots: MatrixBots, matrix_peers: MatrixPeers
) -> None:
    bot, peer, room_id = await bot_and_room(matrix_bots, matrix_peers)
    synapse_server.stop()
    deadline = time.monotonic() + TIMEOUT
    while bot.health().connected:
        assert time.monotonic() < deadline, "the bot never noticed the homeserver was gone"
        await asyncio.sleep(0.05)
    await bot.send(Room("matrix", room_id), Text.of("queued while down"))
    synapse_server.start()
    [(_, queued)] = await peer.notices(1)
    assert queued.body == "queued while down"
    await bot.send(Room("matrix", room_id), Text.of("after the restart"))
    [(_, after)] = await peer.notices(1)
    assert after.body == "after the restart"
    assert bot.health().connected
    messages = bot.incoming()
    await peer.say(room_id, "!still listening")
    assert (await asyncio.wait_for(anext(messages), TIMEOUT)).text == "!still listening"


async def test_a_token_logged_out_elsewhere_is_replaced_by_logging_in_again(
    synapse_server: SynapseServer,
    matrix_bots: MatrixBots,
    matrix_peers: MatrixPeers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.transports.matrix")
    bot, peer, room_id = await bot_and_room(matrix_bots, matrix_peers)
    # Someone logs the account out everywhere (a password change does the same).
    other = nio.AsyncClient(synapse_server.url, bot.settings.user_id)
    try:
        await other.login(bot.settings.password.get_secret_value())
        assert isinstance(await other.logout(all_devices=True), nio.LogoutResponse)
    finally:
        await other.close()
    deadline = time.monotonic() + TIMEOUT
    while "M_UNKNOWN_TOKEN" not in caplog.text:
        assert time.monotonic() < deadline, "the bot never noticed its token was gone"
        await asyncio.sleep(0.05)
    await bot.send(Room("matrix", room_id), Text.of("logged in again"))
    [(_, notice)] = await peer.notices(1)
    assert (notice.sender, notice.body) == (bot.settings.user_id, "logged in again")
    assert bot.health().connected
    assert caplog.text.count("matrix: logged in as") == 2


async def test_send_image_uploads_and_posts_a_png(
    matrix_bots: MatrixBots, matrix_peers: MatrixPeers
) -> None:
    from bot.dashboard.chart import BarRow, top_bugs_png

    bot, peer, room_id = await bot_and_room(matrix_bots, matrix_peers)
    png = top_bugs_png([BarRow("1541364 apt", 4, 1)], days=7)
    await bot.send_image(Room("matrix", room_id), png, "top-bugs.png")
    seen = await peer.events(lambda s: any(isinstance(e, nio.RoomMessageImage) for _, e in s))
    (image,) = [e for _, e in seen if isinstance(e, nio.RoomMessageImage)]
    assert image.body == "top-bugs.png"
    assert image.url.startswith("mxc://")
    width, height = PIL.Image.open(io.BytesIO(png)).size  # read by another PNG reader
    assert image.source["content"]["info"] == {
        "mimetype": "image/png",
        "size": len(png),
        "w": width,
        "h": height,
    }
    downloaded = await peer.client.download(mxc=image.url)
    assert isinstance(downloaded, nio.DownloadResponse), downloaded
    assert downloaded.body == png
