"""The IRC transport: the bot on one IRC network, on the ``irc`` library's asyncio client.

Connections are kept up by :func:`bot.core.retry.keep_connected`, one :class:`IrcSession` each.
Lines go out through a paced queue that outlives connections, so a message queued while the
link is down is sent after the next registration. Protocol quirks are noted where they bite.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import replace

from bot.config import IrcSettings
from bot.core.errors import describe
from bot.core.retry import Backoff, Link, keep_connected
from bot.transports.base import Health, Incoming, Room, Text, link_health
from bot.transports.irc.protocol import alternative_nick
from bot.transports.irc.session import IrcSession, Line
from bot.transports.ircformat import (
    fold,
    is_channel,
    line_budget,
    split_message,
    strip_formatting,
)
from bot.transports.queues import Inbox, Outbox

log = logging.getLogger(__name__)

HEALTHY_SESSION = 60.0  # seconds registered before the reconnect backoff starts over
CLOSE_GRACE = 2.0  # seconds close() lets the queue drain before QUIT
OUTBOX_MAX = 2000  # lines queued at most; a send waits for room, never pushes a line out
SEND_WAIT = 30.0  # seconds a send waits for room in a full queue before it is refused
INCOMING_MAX = 1000
_SECRET_RE = re.compile(r"\b(PASS|AUTHENTICATE|PRIVMSG NickServ :IDENTIFY)\b.*", re.IGNORECASE)


class _RedactSecrets(logging.Filter):
    """The irc library logs every raw line it sends at DEBUG; passwords must not reach logs.

    The configured secrets are masked in every record already (bot.core.logs), but not the
    SASL payload: base64 of ``account NUL account NUL password``, a form of its own.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _SECRET_RE.search(message):
            record.msg, record.args = _SECRET_RE.sub(r"\1 ***", message), None
        return True


def _install_redaction() -> None:
    for name in ("irc.client", "irc.client_aio"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactSecrets) for f in logger.filters):
            logger.addFilter(_RedactSecrets())


class IrcTransport:
    """The bot on one IRC network; see :class:`bot.transports.base.Transport`."""

    name = "irc"

    def __init__(self, settings: IrcSettings) -> None:
        _install_redaction()
        self.settings = settings
        self._channels: dict[str, str] = {}  # folded → as configured
        self._outbox: Outbox[Line] = Outbox(OUTBOX_MAX)
        self._inbox = Inbox("irc", INCOMING_MAX)
        self._link = Link()
        self._up = asyncio.Event()  # set while the link is: wait_connected() waits on it
        self._session: IrcSession | None = None
        self._runner: asyncio.Task[None] | None = None
        self._tried = asyncio.Event()  # the first connection attempt is over
        self._closing = False

    # --- the Transport interface -----------------------------------------------------------

    async def connect(self) -> None:
        """Start connecting; returns after the first attempt, whatever its outcome."""
        if self._runner is not None:
            return
        s = self.settings
        backoff = Backoff(initial=min(1.0, s.reconnect_max_delay), maximum=s.reconnect_max_delay)
        loop = keep_connected(
            self._connection,
            self._link,
            backoff,
            healthy_after=HEALTHY_SESSION,
            on_down=self._on_down,
        )
        self._runner = asyncio.create_task(loop, name=f"irc {s.server}")
        await self._tried.wait()

    async def join(self, room: Room) -> None:
        if not is_channel(room.id):
            raise ValueError(f"not an IRC channel: {room.id!r}")
        if fold(room.id) not in self._channels:
            self._channels[fold(room.id)] = room.id
            if session := self._registered():
                session.join([room.id])

    async def send(self, room: Room, text: Text, *, reply_to: Incoming | None = None) -> None:
        """Queue ``text`` for ``room``: NOTICE for announcements, PRIVMSG for replies.

        A full queue makes the send wait for room; after ``SEND_WAIT`` s it raises
        :class:`bot.transports.queues.OutboxFull` and nothing of ``text`` is queued.
        """
        if not room.id or any(c in room.id for c in " ,\r\n\0"):
            raise ValueError(f"not an IRC target: {room.id!r}")
        command = "PRIVMSG" if reply_to is not None else "NOTICE"
        body = text.irc or text.plain
        if reply_to is not None and room.id != reply_to.user.name:
            # In a channel, say whom we answer (a private reply needs no name).
            body = f"{reply_to.user.name}: {body}"
        await self._queue(command, room.id, body)

    async def whisper(self, to: Incoming, text: Text) -> None:
        """Answer ``to``'s sender in private: a PRIVMSG to their nick, as a reply in a query
        is (the same queue, pacing and :class:`OutboxFull` as :meth:`send`)."""
        await self._queue("PRIVMSG", to.user.name, text.irc or text.plain)

    async def _queue(self, command: str, target: str, body: str) -> None:
        lines = split_message(body, self._budget(command, target))
        # All lines or none: a refused send (OutboxFull) is retried whole, so no line may be
        # queued already. Waiting (not dropping the oldest line) keeps every flush truthful.
        await self._outbox.put_all([Line(command, target, line) for line in lines], SEND_WAIT)

    def cut(self, room: Room, text: Text) -> list[Text]:
        """``text`` as the NOTICE lines an announcement in ``room`` is sent as, one unit each.

        Cut for the longest nick we may have and the longest usual ``user@host`` (not the ones
        this connection learned), so a restarted process cuts the same message the same way.
        """
        body = text.irc or text.plain
        nick = alternative_nick(self.settings.nick, 2)
        lines = split_message(body, line_budget("NOTICE", room.id, nick))
        if len(lines) <= 1:
            return [text]
        return [Text(strip_formatting(line), irc=line if text.irc else None) for line in lines]

    async def flush(self) -> None:
        """Return once every line queued so far is written to the server's socket."""
        await self._outbox.flush()

    async def wait_connected(self) -> None:
        """Return once registered with the server (at once when we are)."""
        await self._up.wait()

    def incoming(self) -> AsyncIterator[Incoming]:
        return self._inbox.messages()

    def health(self) -> Health:
        s = self.settings
        nick = self._session.nick if self._session else s.nick
        link = link_health(self._link, f"{s.server}:{s.port} as {nick}", closed=self._closing)
        return replace(link, rooms=self._room_states(link.connected))

    def _room_states(self, connected: bool) -> tuple[tuple[str, str], ...]:
        """Each configured channel and how the bot is in it, for ``!status``."""
        session = self._session
        if not connected or session is None:
            return tuple((name, "not joined: not connected") for name in self._channels.values())
        return tuple(
            (name, session.rooms.get(key, "joining")) for key, name in self._channels.items()
        )

    async def close(self) -> None:
        if self._closing:
            return
        if self._outbox and self._registered():
            with suppress(TimeoutError):
                await asyncio.wait_for(self._outbox.flush(), CLOSE_GRACE)
        self._closing = True
        self._up.clear()
        if self._session is not None:
            if self._session.registered.is_set():
                s = self.settings
                log.info("irc: disconnected from %s:%d (shutting down)", s.server, s.port)
            self._session.hang_up("recheckbot shutting down")
        if self._runner is not None:
            self._runner.cancel()
            with suppress(asyncio.CancelledError):
                await self._runner
        self._inbox.close()

    # --- connections -----------------------------------------------------------------------

    async def _connection(self) -> None:
        """One connection, for keep_connected: register, then serve until it is lost."""
        mask = self._session.mask if self._session else (None, None)
        session = IrcSession(self.settings, self._channels, self._inbox, self._outbox, mask)
        self._session = session
        try:
            await session.register()
            self._link.up()
            self._up.set()
            self._tried.set()
            await session.serve()
        finally:
            session.hang_up("reconnecting")

    def _on_down(self, exc: BaseException, delay: float, lasted: float) -> None:
        self._up.clear()  # with link.down(), before anything else runs: health agrees
        self._tried.set()
        if self._closing:
            return
        s = self.settings
        what = "disconnected from" if lasted else "cannot connect to"
        log.warning("irc: %s %s:%d: %s", what, s.server, s.port, describe(exc))
        log.info("irc: reconnecting to %s:%d in %.1f s", s.server, s.port, delay)

    def _registered(self) -> IrcSession | None:
        """The session, when it is registered: lines and JOINs can go out now."""
        session = self._session
        return session if session is not None and session.registered.is_set() else None

    def _budget(self, command: str, target: str) -> int:
        """Bytes of text per line: our nick may grow (``nick_``) before the line goes out."""
        session = self._session
        nick = session.nick if session else self.settings.nick
        nick = max(nick, alternative_nick(self.settings.nick, 2), key=len)
        return line_budget(command, target, nick, *(session.mask if session else (None, None)))
