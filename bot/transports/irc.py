"""IRC transport on the ``irc`` library's asyncio client.

One connection, reconnected with backoff until :meth:`IrcTransport.close`. Lines go out through
a paced queue that outlives connections, so a message queued while the link is down is sent
after the next registration. Protocol quirks are noted where they bite.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import irc.client
import irc.client_aio
from jaraco.stream import buffer  # type: ignore[import-untyped]

from bot.config import IrcSettings
from bot.core.retry import Backoff
from bot.transports.base import Health, Incoming, Room, Text, User, queued_messages
from bot.transports.ircformat import (
    CapNegotiation,
    Pacer,
    alternative_nick,
    clean_incoming,
    fold,
    join_lines,
    line_budget,
    split_message,
)

log = logging.getLogger(__name__)

HEALTHY_SESSION = 60.0  # seconds registered before the reconnect backoff starts over
CLOSE_GRACE = 2.0  # seconds close() lets the queue drain before QUIT
OUTBOX_MAX = 2000  # lines kept while disconnected; the oldest go first
INCOMING_MAX = 1000
MAX_NICK_ATTEMPTS = 9
JOIN_LINE = 400  # bytes of channel names per JOIN line
SASL_ERRORS = ("saslfail", "sasltoolong", "saslaborted", "saslalready")
NICK_ERRORS = ("nicknameinuse", "nickcollision", "unavailresource", "erroneusnickname")
# Refusals that are logged; the channel is tried again by _upkeep.
REFUSALS = ("bannedfromchan", "inviteonlychan", "channelisfull", "badchannelkey")
# Events with a handler method of the same name, ``_on_<event>``.
EVENTS = ("all_raw_messages", "welcome", "disconnect", "error", "join", "part", "kick")
EVENTS_TOO = ("pubmsg", "nick", "quit", "cap", "authenticate", "saslsuccess", "loggedin")
_SECRET_RE = re.compile(r"\b(PASS|AUTHENTICATE|PRIVMSG NickServ :IDENTIFY)\b.*", re.IGNORECASE)


class _Connection(irc.client_aio.AioConnection):  # type: ignore[misc]
    # Some networks still relay Latin-1; strict UTF-8 decoding would kill the connection.
    buffer_class = buffer.LenientDecodingLineBuffer


class _Reactor(irc.client_aio.AioReactor):  # type: ignore[misc]
    connection_class = _Connection


class _RedactSecrets(logging.Filter):
    """The irc library logs every raw line it sends at DEBUG; passwords must not reach logs."""

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


@dataclass(frozen=True)
class _Line:
    command: str  # NOTICE (announcements) or PRIVMSG (replies)
    target: str
    text: str


class IrcTransport:
    """The bot on one IRC network; see :class:`bot.transports.base.Transport`."""

    name = "irc"

    def __init__(self, settings: IrcSettings) -> None:
        _install_redaction()
        self.settings = settings
        self._conn: Any = None
        self._runner: asyncio.Task[None] | None = None
        self._channels: dict[str, str] = {}  # folded → as configured
        self._joined: set[str] = set()
        self._outbox: deque[_Line] = deque(maxlen=OUTBOX_MAX)
        self._wakeup, self._drained = asyncio.Event(), asyncio.Event()
        self._incoming: asyncio.Queue[Incoming | None] = asyncio.Queue(INCOMING_MAX)
        self._registered, self._lost = asyncio.Event(), asyncio.Event()
        self._tried = asyncio.Event()  # the first connection attempt is over
        self._closing = False
        self._detail = "not connected"
        self._mask: tuple[str | None, str | None] = (None, None)  # our user@host once seen
        self._cap = self._negotiation()
        self._nick_attempt = 0
        self._reason: str | None = None  # why the server is dropping us, when it says
        self._last_rx = time.monotonic()

    # --- the Transport interface -----------------------------------------------------------

    async def connect(self) -> None:
        """Start the connection loop; returns after the first attempt, whatever its outcome."""
        if self._runner is not None:
            return
        reactor = _Reactor(loop=asyncio.get_running_loop())
        for event, handler in self._handlers().items():
            reactor.add_global_handler(event, handler)
        self._conn = reactor.server()
        self._runner = asyncio.create_task(self._run(), name=f"irc {self.settings.server}")
        await self._tried.wait()

    async def join(self, room: Room) -> None:
        if not room.id.startswith(("#", "&", "+", "!")):
            raise ValueError(f"not an IRC channel: {room.id!r}")
        if fold(room.id) not in self._channels:
            self._channels[fold(room.id)] = room.id
            if self._registered.is_set():
                self._send_joins([room.id])

    async def send(self, room: Room, text: Text, *, reply_to: Incoming | None = None) -> None:
        """Queue ``text`` for ``room``: NOTICE for announcements, PRIVMSG for replies."""
        if not room.id or any(c in room.id for c in " ,\r\n\0"):
            raise ValueError(f"not an IRC target: {room.id!r}")
        command = "PRIVMSG" if reply_to is not None else "NOTICE"
        nick = max(self._nick(), alternative_nick(self.settings.nick, 2), key=len)
        budget = line_budget(command, room.id, nick, *self._mask)
        body = text.irc or text.plain
        if reply_to is not None and room.id != reply_to.user.name:
            # In a channel, say whom we answer (a private reply needs no name).
            body = f"{reply_to.user.name}: {body}"
        for line in split_message(body, budget):
            if len(self._outbox) == OUTBOX_MAX:
                log.warning("IRC: outgoing queue full; dropping the oldest line")
            self._outbox.append(_Line(command, room.id, line))
        self._drained.clear()
        self._wakeup.set()

    async def flush(self) -> None:
        """Return once every line queued so far is written to the server's socket.

        The delivery journal waits for this before it records an announcement as sent: a line
        still in the outbox would die with the process.
        """
        if self._outbox:
            await self._drained.wait()

    def incoming(self) -> AsyncIterator[Incoming]:
        return queued_messages(self._incoming, self._closing)

    def health(self) -> Health:
        return Health(self._registered.is_set() and not self._closing, self._detail)

    async def close(self) -> None:
        if self._closing:
            return
        if self._outbox and self._registered.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), CLOSE_GRACE)
        self._closing = True
        if self._conn is not None and self._conn.is_connected():
            self._conn.disconnect("recheckbot shutting down")
        if self._runner is not None:
            self._runner.cancel()
            with suppress(asyncio.CancelledError):
                await self._runner
        self._detail = "closed"
        while self._incoming.full():
            self._incoming.get_nowait()
        self._incoming.put_nowait(None)

    # --- connection loop -------------------------------------------------------------------

    async def _run(self) -> None:
        s = self.settings
        backoff = Backoff(initial=min(1.0, s.reconnect_max_delay), maximum=s.reconnect_max_delay)
        while not self._closing:
            began = time.monotonic()
            try:
                await self._session()
            except Exception as exc:
                self._detail = f"{type(exc).__name__}: {str(exc) or 'timed out'}"
                log.warning("IRC %s:%d: %s", s.server, s.port, self._detail)
            finally:
                self._end_session()
            if self._closing:
                return
            if time.monotonic() - began > HEALTHY_SESSION:
                backoff.reset()
            delay = backoff.next_delay()
            log.info("IRC %s:%d: reconnecting in %.1f s", s.server, s.port, delay)
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        s = self.settings
        self._reset_session()
        log.info("IRC: connecting to %s:%d as %s", s.server, s.port, s.nick)
        async with asyncio.timeout(s.connect_timeout):
            await self._conn.connect(
                s.server,
                s.port,
                s.nick,
                password=s.server_password.get_secret_value() if s.server_password else None,
                username=s.username or s.nick,
                ircname=s.realname,
                connect_factory=self._open,
            )
            await _first(self._registered, self._lost)
        self._tried.set()
        if not self._registered.is_set():
            raise ConnectionError(self._detail)
        tasks = [asyncio.create_task(job()) for job in (self._drain, self._keepalive, self._upkeep)]
        try:
            await self._lost.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        log.warning("IRC %s:%d: disconnected: %s", s.server, s.port, self._detail)

    async def _open(self, protocol: asyncio.Protocol, address: tuple[str, int]) -> Any:
        host, port = address
        context = self._tls_context() if self.settings.tls else None
        transport, proto = await asyncio.get_running_loop().create_connection(
            lambda: protocol, host, port, ssl=context, server_hostname=host if context else None
        )
        # CAP LS goes before NICK/USER: the server then holds registration open until CAP END,
        # which is the window SASL needs.
        transport.write(b"CAP LS 302\r\n")
        return transport, proto

    def _tls_context(self) -> ssl.SSLContext:
        ca_file = self.settings.ca_file
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        if not self.settings.tls_verify:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        return context

    def _reset_session(self) -> None:
        self._registered.clear()
        self._lost.clear()
        self._joined.clear()
        self._cap, self._reason, self._nick_attempt = self._negotiation(), None, 0
        self._last_rx = time.monotonic()

    def _negotiation(self) -> CapNegotiation:
        s = self.settings
        sasl = s.password is not None and s.auth in ("auto", "sasl")
        return CapNegotiation(
            account=(s.account or s.nick) if sasl else None,
            password=s.password.get_secret_value() if s.password and sasl else None,
            required=s.auth == "sasl",
        )

    def _end_session(self) -> None:
        self._registered.clear()
        if self._conn is not None and self._conn.is_connected():
            self._conn.disconnect("reconnecting")
        self._tried.set()

    def _abort(self, reason: str) -> None:
        log.error("IRC: %s; dropping the connection", reason)
        self._reason = reason
        self._conn.disconnect(reason)

    # --- background jobs of one session ----------------------------------------------------

    async def _drain(self) -> None:
        """Send queued lines, paced; a line leaves the queue only once written."""
        pacer = Pacer(self.settings.send_burst, self.settings.send_interval)
        while self._conn.is_connected():
            if not self._outbox:
                self._drained.set()
                self._wakeup.clear()
                await self._wakeup.wait()
            elif delay := pacer.delay():
                await asyncio.sleep(delay)
            else:
                line = self._outbox[0]
                try:
                    self._conn.send_raw(f"{line.command} {line.target} :{line.text}")
                except ValueError as exc:  # MessageTooLong, InvalidCharacters: never retried
                    log.error("IRC: dropped a line to %s: %s", line.target, exc)
                self._outbox.popleft()
                pacer.take()

    async def _keepalive(self) -> None:
        """PING when the link is quiet; a link that stays silent is dead (no FIN on a cut)."""
        s = self.settings
        while True:
            await asyncio.sleep(min(s.ping_interval, s.ping_timeout) / 2)
            idle = time.monotonic() - self._last_rx
            if idle > s.ping_interval + s.ping_timeout:
                self._abort(f"no data from the server for {idle:.0f} s")
            elif idle > s.ping_interval:
                self._conn.ping(self._conn.get_server_name() or s.server)

    async def _upkeep(self) -> None:
        """Take the configured nick back and rejoin channels we were kicked from or refused."""
        while True:
            await asyncio.sleep(self.settings.regain_interval)
            if fold(self._nick()) != fold(self.settings.nick):
                self._conn.nick(self.settings.nick)
            missing = [name for key, name in self._channels.items() if key not in self._joined]
            self._send_joins(missing)

    def _send_joins(self, channels: list[str]) -> None:
        for line in join_lines(channels, JOIN_LINE):
            self._conn.join(line)

    def _nick(self) -> str:
        nick = self._conn.get_nickname() if self._conn is not None else None
        return str(nick or self.settings.nick)

    # --- events from the server ------------------------------------------------------------

    def _handlers(self) -> dict[str, Callable[[Any, Any], None]]:
        """Event name → handler: ``_on_<event>`` methods, plus events that share one."""
        table = {event: getattr(self, f"_on_{event}") for event in EVENTS + EVENTS_TOO}
        table |= {"privmsg": self._on_pubmsg, "passwdmismatch": self._on_error}
        table |= {"cannotsendtochan": self._on_refused}
        table |= dict.fromkeys(NICK_ERRORS, self._on_nick_taken)
        table |= dict.fromkeys(SASL_ERRORS, self._on_sasl_failure)
        return table | dict.fromkeys(REFUSALS, self._on_refused)

    def _on_all_raw_messages(self, conn: Any, event: Any) -> None:
        self._last_rx = time.monotonic()

    def _on_welcome(self, conn: Any, event: Any) -> None:
        s = self.settings
        self._detail = f"{s.server}:{s.port} as {event.target}"
        log.info("IRC: registered on %s:%d as %s", s.server, s.port, event.target)
        password = s.password.get_secret_value() if s.password else None
        if password and (s.auth == "nickserv" or (s.auth == "auto" and not self._cap.logged_in)):
            log.info("IRC: identifying to NickServ as %s", s.account or s.nick)
            conn.privmsg("NickServ", f"IDENTIFY {s.account or s.nick} {password}")
        self._registered.set()
        self._send_joins(list(self._channels.values()))

    def _on_disconnect(self, conn: Any, event: Any) -> None:
        self._detail = self._reason or "connection lost"
        self._lost.set()

    def _on_error(self, conn: Any, event: Any) -> None:
        self._reason = " ".join([event.target or "", *event.arguments]).strip() or event.type
        log.warning("IRC: server says: %s", self._reason)

    def _on_join(self, conn: Any, event: Any) -> None:
        source = irc.client.NickMask(event.source)
        if fold(source.nick) == fold(self._nick()):
            self._joined.add(fold(event.target))
            self._mask = (source.user, source.host)
            log.info("IRC: joined %s", event.target)

    def _on_part(self, conn: Any, event: Any) -> None:
        if fold(irc.client.NickMask(event.source).nick) == fold(self._nick()):
            self._joined.discard(fold(event.target))

    def _on_kick(self, conn: Any, event: Any) -> None:
        if event.arguments and fold(event.arguments[0]) == fold(self._nick()):
            self._joined.discard(fold(event.target))
            log.warning("IRC: kicked from %s: %s", event.target, " ".join(event.arguments[1:]))

    def _on_refused(self, conn: Any, event: Any) -> None:
        log.warning("IRC: %s: %s", event.type, " ".join(event.arguments))

    def _on_pubmsg(self, conn: Any, event: Any) -> None:
        source = irc.client.NickMask(event.source)
        text = clean_incoming(event.arguments[0] if event.arguments else "")
        if not text or fold(source.nick) == fold(self._nick()):
            return
        where = event.target if event.type == "pubmsg" else source.nick
        room = Room("irc", self._channels.get(fold(where), where))
        tags = {tag["key"]: tag["value"] for tag in event.tags or ()}
        user = User("irc", str(source), source.nick, tags.get("account"))
        try:
            self._incoming.put_nowait(Incoming(room, user, text))
        except asyncio.QueueFull:
            log.warning("IRC: incoming queue full; dropped a message from %s", source.nick)

    # --- nick handling: take nick_ when taken, take the nick back when it frees up ---------

    def _on_nick_taken(self, conn: Any, event: Any) -> None:
        if self._registered.is_set():
            return  # a regain attempt failed; _upkeep tries again later
        if self._nick_attempt >= MAX_NICK_ATTEMPTS:
            self._abort(f"no nick accepted ({event.type}: {' '.join(event.arguments)})")
            return
        self._nick_attempt += 1
        alternative = alternative_nick(self.settings.nick, self._nick_attempt)
        log.warning("IRC: nick %s refused (%s); trying %s", self._nick(), event.type, alternative)
        conn.nick(alternative)

    def _on_nick(self, conn: Any, event: Any) -> None:
        old, new = irc.client.NickMask(event.source).nick, event.target
        if fold(new) == fold(self._nick()):
            log.info("IRC: now known as %s", new)
        elif fold(old) == fold(self.settings.nick):
            conn.nick(self.settings.nick)

    def _on_quit(self, conn: Any, event: Any) -> None:
        nick = irc.client.NickMask(event.source).nick
        if fold(nick) == fold(self.settings.nick) != fold(self._nick()):
            conn.nick(self.settings.nick)

    # --- capabilities and SASL PLAIN: the state machine is in ircformat ---------------------

    def _on_cap(self, conn: Any, event: Any) -> None:
        self._negotiate(self._cap.on_cap(list(event.arguments)))

    def _on_authenticate(self, conn: Any, event: Any) -> None:
        self._negotiate(self._cap.on_authenticate(event.target))

    def _on_saslsuccess(self, conn: Any, event: Any) -> None:
        self._negotiate(self._cap.on_sasl_success())

    def _on_sasl_failure(self, conn: Any, event: Any) -> None:
        self._negotiate(self._cap.on_sasl_failure(f"{event.type}: {' '.join(event.arguments)}"))

    def _on_loggedin(self, conn: Any, event: Any) -> None:
        log.info("IRC: logged in as %s", event.arguments[1] if len(event.arguments) > 1 else "?")

    def _negotiate(self, lines: list[str]) -> None:
        for line in lines:
            self._conn.send_raw(line)
        if self._cap.warning:
            log.warning("IRC: %s; going on without SASL", self._cap.warning)
            self._cap.warning = None
        if self._cap.problem:
            self._abort(self._cap.problem)


async def _first(*events: asyncio.Event) -> None:
    """Wait until one of ``events`` is set."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
