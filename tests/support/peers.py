"""Somebody else on the real chat servers (:mod:`tests.support.servers`), and bots to go there.

:class:`IrcPeer` (the irc library) and :class:`MatrixPeer` (matrix-nio) are second clients: they
record what reaches them and say things. :func:`irc_settings` and :func:`matrix_bot` are the
settings of a bot on those servers, with the short timeouts loopback allows. Tests share one
server per session and keep apart by :func:`unique` nicks, channels, users and rooms.

The fixtures ``irc_bots``/``irc_peers`` and ``matrix_bots``/``matrix_peers`` make connected
transports and peers, closed after the test; a test module imports the ones it uses.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import irc.client
import irc.client_aio
import nio
import pytest

from bot.config import IrcSettings, MatrixSettings
from bot.transports.base import Room
from bot.transports.irc import IrcTransport
from bot.transports.matrix import MatrixTransport

if TYPE_CHECKING:
    from tests.support.servers import IrcServer, SynapseServer

IRC_TIMEOUT = 10.0
MATRIX_TIMEOUT = 15.0
#: Timeouts for a Matrix bot on the loopback Synapse.
MATRIX_TIMING = {"sync_timeout": 5.0, "request_timeout": 5.0, "reconnect_max_delay": 1.0}


def unique(prefix: str) -> str:
    """A name nobody else on the shared servers has: ``prefix`` and 8 hex digits."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


# --- IRC -------------------------------------------------------------------------------------


class IrcPeer:
    """Somebody else on the IRC server: records what reaches them, says things."""

    def __init__(self, server: IrcServer, nick: str | None = None) -> None:
        self.server, self.nick = server, nick or unique("peer")
        self.events: asyncio.Queue[Any] = asyncio.Queue()
        self.raw: list[str] = []
        self.conn: Any = None

    async def connect(self, *, password: str | None = None) -> IrcPeer:
        reactor = irc.client_aio.AioReactor(loop=asyncio.get_running_loop())
        reactor.add_global_handler("all_events", lambda c, e: self.events.put_nowait(e))
        reactor.add_global_handler("all_raw_messages", lambda c, e: self.raw.append(e.arguments[0]))
        self.conn = reactor.server()
        await self.conn.connect(self.server.host, self.server.port, self.nick, password=password)
        await self.expect("welcome")
        return self

    async def join(self, channel: str) -> None:
        self.conn.join(channel)
        await self.expect("join", lambda e: irc.client.NickMask(e.source).nick == self.nick)

    async def expect(self, kind: str, where: Callable[[Any], bool] = lambda e: True) -> Any:
        async with asyncio.timeout(IRC_TIMEOUT):
            while True:
                event = await self.events.get()
                if event.type == kind and where(event):
                    return event

    async def texts(self, kind: str, count: int) -> list[str]:
        return [(await self.expect(kind)).arguments[0] for _ in range(count)]

    def close(self) -> None:
        if self.conn is not None and self.conn.is_connected():
            self.conn.disconnect("bye")


def irc_settings(server: IrcServer, **overrides: Any) -> IrcSettings:
    """A bot on ``server`` under a unique nick, without TLS, quick to send and to reconnect."""
    base: dict[str, Any] = {
        "server": server.host,
        "port": server.port,
        "tls": False,
        "nick": unique("bot"),
        "send_interval": 0.01,
        "reconnect_max_delay": 1.0,
        "connect_timeout": 5.0,
    }
    return IrcSettings(**(base | overrides))


IrcBots = Callable[..., Awaitable[IrcTransport]]
IrcPeers = Callable[..., Awaitable[IrcPeer]]


@pytest.fixture
async def irc_bots() -> AsyncIterator[IrcBots]:
    """``await irc_bots(settings, *channels)``: a connected transport in those channels."""
    bots: list[IrcTransport] = []

    async def make(settings: IrcSettings, *channels: str) -> IrcTransport:
        bot = IrcTransport(settings)
        bots.append(bot)
        await bot.connect()
        for channel in channels:
            await bot.join(Room("irc", channel))
        return bot

    yield make
    for bot in bots:
        await bot.close()


@pytest.fixture
async def irc_peers() -> AsyncIterator[IrcPeers]:
    """``await irc_peers(server, *channels, nick=None)``: a peer in those channels."""
    peers: list[IrcPeer] = []

    async def make(server: IrcServer, *channels: str, nick: str | None = None) -> IrcPeer:
        peer = await IrcPeer(server, nick).connect()
        peers.append(peer)
        for channel in channels:
            await peer.join(channel)
        return peer

    yield make
    for peer in peers:
        peer.close()


async def joined(bot: IrcTransport, peer: IrcPeer, channel: str) -> None:
    """Until the bot sits in ``channel`` (seen by the peer: NAMES lists it)."""
    nick = bot.settings.nick

    async def listed() -> bool:
        peer.conn.names([channel])
        event = await peer.expect("namreply")
        return nick in event.arguments[-1].replace("@", "").split()

    deadline = time.monotonic() + IRC_TIMEOUT
    while not await listed():
        assert time.monotonic() < deadline, f"{nick} never joined {channel}"
        await asyncio.sleep(0.05)


# --- Matrix ----------------------------------------------------------------------------------


class MatrixPeer:
    """Somebody else on the homeserver, with a nio client of their own."""

    def __init__(self, server: SynapseServer) -> None:
        self.name = unique("alice")
        self.password = f"pw-{self.name}"
        self.user_id = server.register(self.name, self.password)
        self.client = nio.AsyncClient(server.url, self.user_id)

    async def login(self) -> MatrixPeer:
        assert isinstance(await self.client.login(self.password), nio.LoginResponse)
        assert isinstance(await self.client.sync(timeout=0), nio.SyncResponse)
        return self

    async def create_room(self, invite: str, **options: Any) -> str:
        response = await self.client.room_create(invite=[invite], **options)
        assert isinstance(response, nio.RoomCreateResponse), response
        return str(response.room_id)

    async def say(self, room_id: str, body: str, *, thread: str | None = None) -> str:
        """Send ``body`` in ``room_id`` (in the thread under the event ``thread``, if given)."""
        content: dict[str, Any] = {"msgtype": "m.text", "body": body}
        if thread is not None:
            content["m.relates_to"] = {"rel_type": "m.thread", "event_id": thread}
        response = await self.client.room_send(room_id, "m.room.message", content)
        assert isinstance(response, nio.RoomSendResponse), response
        return str(response.event_id)

    async def events(self, until: Callable[[list[tuple[str, Any]]], bool]) -> list[tuple[str, Any]]:
        """Timeline events ``(room_id, event)`` seen from now on, until ``until`` holds."""
        seen: list[tuple[str, Any]] = []
        async with asyncio.timeout(MATRIX_TIMEOUT):
            while not until(seen):
                response = await self.client.sync(timeout=1000)
                if isinstance(response, nio.SyncResponse):
                    for room_id, info in response.rooms.join.items():
                        seen += [(room_id, event) for event in info.timeline.events]
        return seen

    async def notices(self, count: int) -> list[tuple[str, Any]]:
        def enough(seen: list[tuple[str, Any]]) -> bool:
            return len(only_notices(seen)) >= count

        return only_notices(await self.events(enough))


def only_notices(seen: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [(room, event) for room, event in seen if isinstance(event, nio.RoomMessageNotice)]


def matrix_bot(synapse: SynapseServer, **overrides: Any) -> dict[str, Any]:
    """Settings (as a dict) for a bot account newly registered on ``synapse``, or for the
    account ``user_id`` in ``overrides``."""
    base: dict[str, Any] = {"homeserver": synapse.url, **MATRIX_TIMING}
    if "user_id" not in overrides:
        name = unique("recheckbot")
        base |= {"user_id": synapse.register(name, f"pw-{name}"), "password": f"pw-{name}"}
    return base | overrides


MatrixBots = Callable[..., Awaitable[MatrixTransport]]
MatrixPeers = Callable[[], Awaitable[MatrixPeer]]


@pytest.fixture
async def matrix_peers(synapse_server: SynapseServer) -> AsyncIterator[MatrixPeers]:
    """``await matrix_peers()``: a newly registered user, logged in."""
    peers: list[MatrixPeer] = []

    async def make() -> MatrixPeer:
        peer = await MatrixPeer(synapse_server).login()
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        await peer.client.close()


@pytest.fixture
async def matrix_bots(synapse_server: SynapseServer) -> AsyncIterator[MatrixBots]:
    """``await matrix_bots(*rooms, connect=True, **settings)``: a bot account newly registered
    (or the ``user_id`` given) and its transport, connected and in ``rooms`` unless told not."""
    bots: list[MatrixTransport] = []

    async def make(*rooms: str, connect: bool = True, **overrides: Any) -> MatrixTransport:
        bot = MatrixTransport(MatrixSettings(**matrix_bot(synapse_server, **overrides)))
        bots.append(bot)
        if connect:
            await bot.connect()
            for room in rooms:
                await bot.join(Room("matrix", room))
        return bot

    yield make
    for bot in bots:
        await bot.close()


async def bot_and_room(
    matrix_bots: MatrixBots, matrix_peers: MatrixPeers, **settings: Any
) -> tuple[MatrixTransport, MatrixPeer, str]:
    """A connected bot, a peer, and a room the peer made and the bot joined."""
    bot = await matrix_bots(connect=False, **settings)
    peer = await matrix_peers()
    room_id = await peer.create_room(bot.settings.user_id)
    await bot.connect()
    await bot.join(Room("matrix", room_id))
    return bot, peer, room_id
