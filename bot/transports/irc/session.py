"""One IRC connection, from TCP connect to disconnect: its state, the server's events, and the
jobs that run while it is registered (sending, keepalive, upkeep).

Each connection attempt gets a fresh :class:`IrcSession` with a reactor of its own, so nothing
of a lost connection (channels joined, a half-done SASL exchange, nick attempts) leaks into the
next one. What outlives connections (the channels to be in, the queues) is the transport's and
is handed in.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import irc.client
import irc.client_aio
from jaraco.stream import buffer  # type: ignore[import-untyped]

from bot.config import IrcSettings
from bot.core.errors import ReadableError
from bot.transports.base import Incoming, Room, User
from bot.transports.irc.dial import Dial
from bot.transports.irc.protocol import CapNegotiation, Pacer, alternative_nick, join_lines
from bot.transports.ircformat import clean_incoming, fold
from bot.transports.queues import Inbox, Outbox

log = logging.getLogger(__name__)

JOIN_LINE = 400  # bytes of channel names per JOIN line
MAX_NICK_ATTEMPTS = 9
SASL_ERRORS = ("saslfail", "sasltoolong", "saslaborted", "saslalready")
NICK_ERRORS = ("nicknameinuse", "nickcollision", "unavailresource", "erroneusnickname")
# Refusals that are logged; the channel is tried again by _upkeep.
REFUSALS = ("bannedfromchan", "inviteonlychan", "channelisfull", "badchannelkey")
# Events with a handler method of the same name, ``_on_<event>``.
EVENTS = ("all_raw_messages", "welcome", "disconnect", "error", "join", "part", "kick")
EVENTS_TOO = ("pubmsg", "nick", "quit", "cap", "authenticate", "saslsuccess", "loggedin")


class Disconnected(ReadableError):
    """The server dropped us or would not register us; the message says why."""


@dataclass(frozen=True)
class Line:
    command: str  # NOTICE (announcements) or PRIVMSG (replies)
    target: str
    text: str


class _Connection(irc.client_aio.AioConnection):  # type: ignore[misc]
    # Some networks still relay Latin-1; strict UTF-8 decoding would kill the connection.
    buffer_class = buffer.LenientDecodingLineBuffer


class _Reactor(irc.client_aio.AioReactor):  # type: ignore[misc]
    connection_class = _Connection


class IrcSession:
    """One connection to the server and what runs on it."""

    def __init__(
        self,
        settings: IrcSettings,
        channels: Mapping[str, str],
        inbox: Inbox,
        outbox: Outbox[Line],
        mask: tuple[str | None, str | None] = (None, None),
    ) -> None:
        self.settings = settings
        self.channels = channels  # folded name → as configured; the transport adds to it
        self.inbox, self.outbox = inbox, outbox
        self.mask = mask  # our user@host once an echo of our JOIN shows it (line budgets)
        self.registered, self.lost = asyncio.Event(), asyncio.Event()
        self.rooms: dict[str, str] = {}  # folded name → "joined", "joining", "not joined: why"
        self.dial = Dial(settings)
        self.cap = _negotiation(settings)
        self.reason: str | None = None  # why the server is dropping us, when it says
        self.nick_attempts = 0
        self.last_rx = time.monotonic()
        reactor = _Reactor(loop=asyncio.get_running_loop())
        for event, handler in self._handlers().items():
            reactor.add_global_handler(event, handler)
        self.conn: Any = reactor.server()

    @property
    def nick(self) -> str:
        """Our nick on this connection: the configured one until the server says another."""
        with suppress(AttributeError):  # the library knows none before connect()
            return str(self.conn.get_nickname() or self.settings.nick)
        return self.settings.nick

    async def register(self) -> None:
        """Connect and register (CAP, SASL, NICK/USER); raise when the server will not have us."""
        s = self.settings
        way = "TLS" if s.tls else "plain text"
        log.info("irc: connecting to %s:%d (%s) as %s", s.server, s.port, way, s.nick)
        try:
            async with asyncio.timeout(s.connect_timeout):
                await self.conn.connect(
                    s.server,
                    s.port,
                    s.nick,
                    password=s.server_password.get_secret_value() if s.server_password else None,
                    username=s.username or s.nick,
                    ircname=s.realname,
                    connect_factory=self.dial.open,
                )
                await _first(self.registered, self.lost)
        except TimeoutError:
            raise Disconnected(self.dial.timed_out()) from None
        except OSError as exc:
            if (why := self.dial.handshake_failure(exc)) is None:
                raise
            raise Disconnected(why) from exc
        if not self.registered.is_set():
            raise Disconnected(self.reason or self.dial.lost_early())

    async def serve(self) -> None:
        """Send, keep alive and keep up until the connection is lost; then raise why."""
        jobs = [asyncio.create_task(job()) for job in (self._drain, self._keepalive, self._upkeep)]
        try:
            await self.lost.wait()
        finally:
            for job in jobs:
                job.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)
        raise Disconnected(self.reason or "connection lost")

    def hang_up(self, message: str) -> None:
        """QUIT (when still connected); the session is over."""
        self.registered.clear()
        if self.conn.is_connected():
            self.conn.disconnect(message)

    def join(self, channels: list[str]) -> None:
        for channel in channels:
            self.rooms.setdefault(fold(channel), "joining")  # a refusal stays until it passes
        for line in join_lines(channels, JOIN_LINE):
            self.conn.join(line)

    def abort(self, reason: str) -> None:
        log.error("irc: %s; dropping the connection", reason)
        self.reason = reason
        self.conn.disconnect(reason)

    # --- jobs while registered ---------------------------------------------------------------

    async def _drain(self) -> None:
        """Send queued lines, paced; a line leaves the queue only once written."""
        pacer = Pacer(self.settings.send_burst, self.settings.send_interval)
        while True:
            line = await self.outbox.oldest()
            if not self.conn.is_connected():
                return
            if delay := pacer.delay():
                await asyncio.sleep(delay)
                continue
            try:
                self.conn.send_raw(f"{line.command} {line.target} :{line.text}")
            except ValueError as exc:  # MessageTooLong, InvalidCharacters: never retried
                log.error("irc: dropped a line to %s: %s", line.target, exc)
            self.outbox.done(line)
            pacer.take()

    async def _keepalive(self) -> None:
        """PING when the link is quiet; a link that stays silent is dead (no FIN on a cut)."""
        s = self.settings
        while True:
            await asyncio.sleep(min(s.ping_interval, s.ping_timeout) / 2)
            idle = time.monotonic() - self.last_rx
            if idle > s.ping_interval + s.ping_timeout:
                self.abort(f"no data from the server for {idle:.0f} s")
            elif idle > s.ping_interval:
                self.conn.ping(self.conn.get_server_name() or s.server)

    async def _upkeep(self) -> None:
        """Take the configured nick back and rejoin channels we were kicked from or refused."""
        while True:
            await asyncio.sleep(self.settings.regain_interval)
            if fold(self.nick) != fold(self.settings.nick):
                self.conn.nick(self.settings.nick)
            self.join([name for key, name in self.channels.items() if not self._in_room(key)])

    def _in_room(self, key: str) -> bool:
        """Whether we sit in the channel ``key`` (a folded name) on this connection."""
        return self.rooms.get(key) == "joined"

    # --- events from the server --------------------------------------------------------------

    def _handlers(self) -> dict[str, Callable[[Any, Any], None]]:
        """Event name → handler: ``_on_<event>`` methods, plus events that share one."""
        table = {event: getattr(self, f"_on_{event}") for event in EVENTS + EVENTS_TOO}
        table |= {"privmsg": self._on_pubmsg, "passwdmismatch": self._on_error}
        table |= {"cannotsendtochan": self._on_refused}
        table |= dict.fromkeys(NICK_ERRORS, self._on_nick_taken)
        table |= dict.fromkeys(SASL_ERRORS, self._on_sasl_failure)
        return table | dict.fromkeys(REFUSALS, self._on_refused)

    def _on_all_raw_messages(self, conn: Any, event: Any) -> None:
        self.last_rx = time.monotonic()

    def _on_welcome(self, conn: Any, event: Any) -> None:
        s = self.settings
        log.info("irc: connected to %s:%d as %s", s.server, s.port, event.target)
        password = s.password.get_secret_value() if s.password else None
        if password and (s.auth == "nickserv" or (s.auth == "auto" and not self.cap.logged_in)):
            log.info("irc: identifying to NickServ as %s", s.account or s.nick)
            conn.privmsg("NickServ", f"IDENTIFY {s.account or s.nick} {password}")
        self.registered.set()
        self.join(list(self.channels.values()))

    def _on_disconnect(self, conn: Any, event: Any) -> None:
        self.lost.set()

    def _on_error(self, conn: Any, event: Any) -> None:
        self.reason = " ".join([event.target or "", *event.arguments]).strip() or event.type
        log.warning("irc: server says: %s", self.reason)

    def _on_join(self, conn: Any, event: Any) -> None:
        source = irc.client.NickMask(event.source)
        if self._is_us(source.nick):
            self.rooms[fold(event.target)] = "joined"
            self.mask = (source.user, source.host)
            log.info("irc: joined %s", event.target)

    def _on_part(self, conn: Any, event: Any) -> None:
        if self._is_us(irc.client.NickMask(event.source).nick):
            why = " ".join(event.arguments)
            self.rooms[fold(event.target)] = (
                f"not joined: left ({why})" if why else "not joined: left"
            )
            log.info("irc: left %s%s", event.target, f" ({why})" if why else "")

    def _on_kick(self, conn: Any, event: Any) -> None:
        if event.arguments and self._is_us(event.arguments[0]):
            by = irc.client.NickMask(event.source).nick
            why = " ".join(event.arguments[1:])
            self.rooms[fold(event.target)] = f"not joined: kicked by {by} ({why})"
            log.warning("irc: kicked from %s by %s (%s); rejoining later", event.target, by, why)

    def _on_refused(self, conn: Any, event: Any) -> None:
        """A JOIN refused (banned, invite only, full, key), or a line the channel would not take."""
        channel, why = (
            (event.arguments[0], " ".join(event.arguments[1:])) if event.arguments else ("", "")
        )
        if event.type in REFUSALS and fold(channel) in self.channels:
            self.rooms[fold(channel)] = f"not joined: {why or event.type}"
        log.warning("irc: %s: %s: %s", channel, event.type, why)

    def _on_pubmsg(self, conn: Any, event: Any) -> None:
        source = irc.client.NickMask(event.source)
        text = clean_incoming(event.arguments[0] if event.arguments else "")
        if not text or self._is_us(source.nick):
            return
        private = event.type == "privmsg"  # to our nick, not to a channel
        where = source.nick if private else event.target
        room = Room("irc", self.channels.get(fold(where), where))
        tags = {tag["key"]: tag["value"] for tag in event.tags or ()}
        user = User("irc", str(source), source.nick, tags.get("account"))
        self.inbox.put(Incoming(room, user, text, private=private))

    def _is_us(self, nick: str) -> bool:
        return fold(nick) == fold(self.nick)

    # --- nick handling: take nick_ when taken, take the nick back when it frees up -----------

    def _on_nick_taken(self, conn: Any, event: Any) -> None:
        if self.registered.is_set():
            return  # a regain attempt failed; _upkeep tries again later
        if self.nick_attempts >= MAX_NICK_ATTEMPTS:
            self.abort(f"no nick accepted ({event.type}: {' '.join(event.arguments)})")
            return
        self.nick_attempts += 1
        alternative = alternative_nick(self.settings.nick, self.nick_attempts)
        log.warning("irc: nick %s refused (%s); trying %s", self.nick, event.type, alternative)
        conn.nick(alternative)

    def _on_nick(self, conn: Any, event: Any) -> None:
        old, new = irc.client.NickMask(event.source).nick, event.target
        if self._is_us(new):
            log.info("irc: now known as %s", new)
        elif fold(old) == fold(self.settings.nick):
            conn.nick(self.settings.nick)

    def _on_quit(self, conn: Any, event: Any) -> None:
        nick = irc.client.NickMask(event.source).nick
        if fold(nick) == fold(self.settings.nick) != fold(self.nick):
            conn.nick(self.settings.nick)

    # --- capabilities and SASL PLAIN: the state machine is in .protocol -----------------------

    def _on_cap(self, conn: Any, event: Any) -> None:
        self._negotiate(self.cap.on_cap(list(event.arguments)))

    def _on_authenticate(self, conn: Any, event: Any) -> None:
        self._negotiate(self.cap.on_authenticate(event.target))

    def _on_saslsuccess(self, conn: Any, event: Any) -> None:
        self._negotiate(self.cap.on_sasl_success())

    def _on_sasl_failure(self, conn: Any, event: Any) -> None:
        self._negotiate(self.cap.on_sasl_failure(f"{event.type}: {' '.join(event.arguments)}"))

    def _on_loggedin(self, conn: Any, event: Any) -> None:
        log.info("irc: logged in as %s", event.arguments[1] if len(event.arguments) > 1 else "?")

    def _negotiate(self, lines: list[str]) -> None:
        for line in lines:
            self.conn.send_raw(line)
        if self.cap.warning:
            log.warning("irc: %s; going on without SASL", self.cap.warning)
            self.cap.warning = None
        if self.cap.problem:
            self.abort(self.cap.problem)


def _negotiation(s: IrcSettings) -> CapNegotiation:
    sasl = s.password is not None and s.auth in ("auto", "sasl")
    return CapNegotiation(
        account=(s.account or s.nick) if sasl else None,
        password=s.password.get_secret_value() if s.password and sasl else None,
        required=s.auth == "sasl",
    )


async def _first(*events: asyncio.Event) -> None:
    """Wait until one of ``events`` is set."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
