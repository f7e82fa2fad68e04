"""The delivery queues through the real IRC transport, against a real ngIRCd.

What the journal says must be what the server got: nothing journaled ``sent`` that a full outgoing
queue pushed out, and a message queued through an outage goes out as soon as the bot is back,
not when a backoff grown during the outage runs out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import irc.client
import pytest

from bot.state import StateStore
from bot.transports.base import Room, Text
from bot.transports.irc import IrcTransport
from bot.transports.irc import transport as irc_transport
from bot.watch.delivery import RoomQueues, TransportOutlet
from tests.support.peers import IRC_TIMEOUT, IrcPeer, irc_settings, unique
from tests.support.polling import until
from tests.support.servers import IrcServer

#: How soon after the bot is back in the channel a queued announcement must be there. The
#: backoff in these tests is 15 to 30 s at that point: slept out, the bound is missed.
SOON = 10.0


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[StateStore]:
    store = await StateStore.open(tmp_path / "state.sqlite")
    yield store
    await store.close()


@pytest.fixture
async def closing() -> AsyncIterator[list[IrcTransport | IrcPeer | RoomQueues]]:
    """What a test opens, closed after it (transports and queues awaited, peers hung up)."""
    opened: list[IrcTransport | IrcPeer | RoomQueues] = []
    yield opened
    for thing in reversed(opened):
        if isinstance(thing, IrcPeer):
            thing.close()
        else:
            await thing.close()


def is_us(nick: str) -> Callable[[object], bool]:
    return lambda event: irc.client.NickMask(getattr(event, "source", "")).nick == nick


def notice_seen(peer: IrcPeer, channel: str, text: str) -> bool:
    return any(line.endswith(f" NOTICE {channel} :{text}") for line in peer.raw)


async def test_a_full_outbox_never_lets_the_journal_say_sent_for_a_lost_line(
    irc_server: IrcServer,
    state: StateStore,
    closing: list[IrcTransport | IrcPeer | RoomQueues],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(irc_transport, "OUTBOX_MAX", 2)  # room for two lines at a time
    channels = [unique("#full-") for _ in range(6)]
    peer = await IrcPeer(irc_server).connect()
    closing.append(peer)
    for channel in channels:
        await peer.join(channel)
    # Paced: one line per 0.1 s, so six rooms' announcements queue up behind each other.
    bot = IrcTransport(irc_settings(irc_server, send_burst=1, send_interval=0.1))
    closing.append(bot)
    await bot.connect()
    for channel in channels:
        await bot.join(Room("irc", channel))
        await peer.expect("join", is_us(bot.settings.nick))
    rooms = RoomQueues(state, TransportOutlet({"irc": bot}), give_up_after=60)
    closing.append(rooms)

    results = await asyncio.gather(
        *(
            rooms.deliver(f"b{n}", Room("irc", channel), Text.of(f"announcement {n}"))
            for n, channel in enumerate(channels)
        )
    )

    sent = [n for n, channel in enumerate(channels) if results[n] == ("sent", None)]
    assert sent == list(range(len(channels)))  # every room waited for room, none gave up
    for n, channel in enumerate(channels):
        assert await state.delivery_status(f"b{n}", f"irc:{channel}") == "sent"
    await until(
        lambda: all(notice_seen(peer, ch, f"announcement {n}") for n, ch in enumerate(channels)),
        "every announcement journaled as sent to reach the channel",
        IRC_TIMEOUT,
    )


async def test_a_queued_announcement_goes_out_as_soon_as_the_server_is_back(
    irc_server_factory: Callable[..., IrcServer],
    state: StateStore,
    closing: list[IrcTransport | IrcPeer | RoomQueues],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "bot.watch.delivery")
    server = irc_server_factory()
    channel, room = (name := unique("#back-")), Room("irc", name)
    bot = IrcTransport(irc_settings(server, reconnect_max_delay=3.0))
    closing.append(bot)
    await bot.connect()
    await bot.join(room)
    # A long backoff, as after a long outage: the first retry comes 15 to 30 s later.
    outlet = TransportOutlet({"irc": bot})
    rooms = RoomQueues(state, outlet, give_up_after=120, retry_initial=30, retry_max=60)
    closing.append(rooms)

    server.stop()
    # After the first refused reconnection the bot waits at least 1 s: time enough for the
    # peer to be in the channel before the bot is back, so it sees the bot's JOIN and notice.
    await until(lambda: "Refused" in bot.health().detail, "the refused reconnection", IRC_TIMEOUT)
    delivery = asyncio.create_task(rooms.deliver("b1", room, Text.of("queued while down")))
    await until(lambda: "retrying with backoff" in caplog.text, "a refused attempt", IRC_TIMEOUT)
    server.start()
    peer = await IrcPeer(server).connect()
    closing.append(peer)
    await peer.join(channel)

    await peer.expect("join", is_us(bot.settings.nick))
    rejoined = time.monotonic()
    await until(lambda: notice_seen(peer, channel, "queued while down"), "the notice", 60)
    assert time.monotonic() - rejoined < SOON
    assert await asyncio.wait_for(delivery, IRC_TIMEOUT) == ("sent", None)
    assert await state.delivery_status("b1", room.key) == "sent"
