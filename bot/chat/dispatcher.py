"""Chat commands in, replies out: the dispatcher between transports and ``commands/``.

``Dispatcher(services, settings).handle(incoming, transport.send)`` does, per message: recognise a
command (``!name args``, ``botnick: name args``, ``botnick, name``), check the room, the rate
limits, the text and the ACL, run the command under a timeout, reply and audit. Nothing a user
types can crash it: every failure becomes a one-line reply and a log entry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass

from bot.chat.acl import Acl, room_matches, user_key
from bot.chat.command import CommandSpec, Context, Registry, Rejected, load_commands
from bot.chat.invocation import Invocation, audit_text, parse_invocation, text_problem
from bot.chat.ratelimit import RateLimiter
from bot.chat.services import Send, SendImage, Services
from bot.config.chat import ChatSettings
from bot.core.errors import ReadableError, describe
from bot.core.logs import mask
from bot.transports.base import Incoming, Room, Text, Transport
from bot.transports.ircformat import strip_formatting

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    """What to answer (None: stay quiet) and what to write in the audit table."""

    text: Text | None
    result: str  # ok | denied | rate-limited | rejected: <why> | error: <why>


class Dispatcher:
    """Answers chat commands for every transport; one per bot.

    ``names`` are what people call the bot ("recheckbot", a Matrix display name or user id);
    ``send_image`` posts a PNG where the transport can (Matrix), or is None.
    """

    def __init__(
        self,
        services: Services,
        settings: ChatSettings,
        *,
        names: Collection[str] = ("recheckbot",),
        registry: Registry | None = None,
        send_image: SendImage | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.services = services
        self.settings = settings
        self.names = tuple(names) if settings.address_by_name else ()
        self.registry = registry if registry is not None else load_commands()
        self.acl = Acl.from_settings(settings)
        self.limiter = limiter or RateLimiter(settings.user_rate, settings.room_rate)
        self._send_image = send_image
        self._slots = asyncio.Semaphore(settings.max_concurrent)
        self._tasks: set[asyncio.Task[None]] = set()
        known = {spec.name for spec in self.registry.specs()}
        if unknown := sorted(set(settings.acl) - known):
            raise ValueError(f"chat.acl: unknown command(s) {', '.join(unknown)}")

    async def handle(self, incoming: Incoming, send: Send) -> None:
        """Answer ``incoming`` if it is a command, when done. Never raises (failures are logged)."""
        try:
            await self._handle(incoming, send)
        except Exception:
            log.exception("chat: %r from %s failed", incoming.text[:80], incoming.user.id)

    def dispatch(self, incoming: Incoming, send: Send) -> None:
        """:meth:`handle` in the background, so a transport's read loop never waits on a search."""
        task = asyncio.create_task(self.handle(incoming, send), name="chat-command")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def serve(self, transport: Transport) -> None:
        """Answer what comes in on ``transport`` until it closes. Each command runs as its own
        task (:meth:`dispatch`): a slow ``!query`` never stalls reading."""
        send = masked(transport.send)
        async for message in transport.incoming():
            self.dispatch(message, send)

    async def close(self) -> None:
        """Cancel the commands still running (shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, incoming: Incoming, send: Send) -> None:
        text = strip_formatting(incoming.text)
        invocation = parse_invocation(text, self.settings.prefix, self.names)
        if invocation is None or not self._room_open(incoming.room):
            return
        spec = self.registry.get(invocation.name)
        if spec is None and not invocation.by_name and not self.registry.closest(invocation.name):
            return  # "!foo" with nothing like it: another bot's command, most likely
        outcome = await self._decide(incoming, invocation, spec, text, send)
        if outcome.text is not None:
            await self._send(send, incoming, outcome.text)
        await self._audit(incoming, invocation, outcome.result)

    async def _decide(
        self,
        incoming: Incoming,
        invocation: Invocation,
        spec: CommandSpec | None,
        text: str,
        send: Send,
    ) -> Answer:
        user, room = incoming.user, incoming.room
        admin = self.acl.is_admin(user, room)
        allowed = spec is not None and self.acl.allows(spec.name, spec.acl, user, room)
        problem = text_problem(text, self.settings.max_message_length)
        # Refusals cost a token too, or refusing would be a free way to make the bot talk.
        cost = spec.rate if spec is not None and allowed and problem is None else 1.0
        skip_user = admin and self.settings.admins_skip_user_rate
        wait = self.limiter.check(user_key(user), room.key, cost, skip_user=skip_user)
        if wait > 0:
            return self._rate_limited(user_key(user), wait)
        if problem is not None:
            return Answer(Text.of(f"sorry, {problem}"), f"rejected: {problem}")
        if spec is None:
            return self._unknown(invocation)
        if not allowed:
            reply = f"sorry, {self.settings.prefix}{invocation.name} is for admins only"
            return Answer(Text.of(reply), "denied")
        context = self._context(incoming, invocation, spec, admin, send)
        return await self._run(context, invocation.name)

    def _room_open(self, room: Room) -> bool:
        rooms = self.settings.rooms
        return not rooms or any(room_matches(pattern, room) for pattern in rooms)

    def _rate_limited(self, key: str, wait: float) -> Answer:
        seconds = max(1, round(wait + 0.49))
        text = None
        if self.limiter.should_warn(key, wait):
            text = Text.of(f"please wait {seconds} s before your next command")
        return Answer(text, f"rate-limited: wait {seconds} s")

    def _unknown(self, invocation: Invocation) -> Answer:
        prefix = self.settings.prefix
        near = self.registry.closest(invocation.name)
        hint = f" — did you mean {prefix}{near}?" if near else f"; {prefix}help lists them"
        text = Text.of(f"unknown command {prefix}{invocation.name}{hint}")
        return Answer(text, "rejected: unknown command")

    def _context(
        self, incoming: Incoming, invocation: Invocation, spec: CommandSpec, admin: bool, send: Send
    ) -> Context:
        async def reply(text: Text) -> None:
            await self._send(send, incoming, text)

        async def send_image(png: bytes, filename: str) -> bool:
            if self._send_image is None:
                return False
            await self._send_image(incoming.room, png, filename, reply_to=incoming)
            return True

        return Context(
            self.services,
            self.settings,
            incoming,
            spec,
            invocation.args,
            admin,
            self.registry,
            reply,
            send_image,
        )

    async def _run(self, context: Context, called: str) -> Answer:
        name = f"{self.settings.prefix}{called}"
        seconds = context.spec.timeout or self.settings.command_timeout
        # The wait for a free slot counts against the deadline: a queued command that cannot
        # start in time is told so, rather than answering long after anyone cares.
        deadline = asyncio.timeout(seconds)
        try:
            async with deadline, self._slots:
                text = await context.spec.handler(context)
        except Rejected as exc:
            return Answer(Text.of(str(exc)), f"rejected: {exc}")
        except TimeoutError as exc:
            if not deadline.expired():
                return self._failed(name, exc)
            log.warning("chat: %s timed out after %g s", name, seconds)
            reply = Text.of(f"sorry, {name} timed out after {seconds:g} s")
            return Answer(reply, "error: timeout")
        except Exception as exc:
            return self._failed(name, exc)
        return Answer(text, "ok")

    def _failed(self, name: str, exc: Exception) -> Answer:
        line = describe(exc, limit=200)
        if isinstance(exc, ReadableError):
            log.warning("chat: %s failed: %s", name, line)  # expected: no traceback
        else:
            log.exception("chat: %s failed", name)
        return Answer(Text.of(f"sorry, {name} failed: {line}"), f"error: {line}")

    async def _send(self, send: Send, incoming: Incoming, text: Text) -> None:
        try:
            await send(incoming.room, text, reply_to=incoming)
        except ReadableError as exc:  # the transport said why (its queue is full, say)
            log.warning(
                "chat: reply to %s in %s failed: %s", incoming.user.id, incoming.room.id, exc
            )
        except Exception:
            log.exception("chat: reply to %s in %s failed", incoming.user.id, incoming.room.id)

    async def _audit(self, incoming: Incoming, invocation: Invocation, result: str) -> None:
        line = f"{self.settings.prefix}{invocation.name} {invocation.args}".strip()
        try:
            await self.services.state.audit(
                incoming.user.id, incoming.room.key, audit_text(line), result
            )
        except Exception:
            log.exception("chat: audit of %r failed", line[:80])


def masked(send: Send) -> Send:
    """``send`` with configured secrets masked: a reply quoting an error (a URL with
    credentials, a server's message) never shows one in a room."""

    async def send_masked(room: Room, text: Text, *, reply_to: Incoming | None = None) -> None:
        clean = Text(
            mask(text.plain),
            mask(text.irc) if text.irc else text.irc,
            mask(text.html) if text.html else text.html,
        )
        await send(room, clean, reply_to=reply_to)

    return send_masked
