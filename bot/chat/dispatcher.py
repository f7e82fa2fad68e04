"""Chat commands in, replies out: the dispatcher between transports and ``commands/``.

``Dispatcher(services, settings).handle(incoming, transport.send)`` does, per message: recognise a
command (``!name args``, ``botnick: name args``, ``botnick, name``; in a private message ``name
args`` too), check the room, the text and the ACL, take the price from the rate limits, run the
command under a timeout, reply and audit. Nothing a user types can crash it: every failure
becomes a one-line reply and a log entry.

A command is charged its price only when it ran: what is refused (bad text, an unknown command,
not allowed, or the command itself rejecting its input) costs ``refusal_cost`` instead, so a
mistyped query does not use up someone's bucket while a flood of refusals is still throttled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Collection
from dataclasses import dataclass

from bot.chat.acl import Acl, room_matches, user_key
from bot.chat.command import CommandSpec, Context, Registry, Rejected, load_commands
from bot.chat.invocation import Invocation, audit_text, parse_invocation, text_problem
from bot.chat.ratelimit import RateLimiter
from bot.chat.services import Send, SendImage, Services, Whisper
from bot.config.chat import ChatSettings
from bot.core.errors import ReadableError, describe
from bot.core.logs import mask
from bot.transports.base import Incoming, Room, Text, Transport, Whispering
from bot.transports.ircformat import strip_formatting

log = logging.getLogger(__name__)

#: How near a private message's first word must be to a command's name to be answered as a
#: mistyped command (difflib's ratio): "qurey" (0.8) is, "hello" (0.67 to "help") is not.
PRIVATE_TYPO = 0.75


@dataclass(frozen=True)
class Answer:
    """What to answer (None: stay quiet) and what to write in the audit table."""

    text: Text | None
    result: str  # ok | denied | rate-limited | rejected: <why> | error: <why>
    refused: bool = False  # the command rejected its input: it costs a refusal, not its price


@dataclass(frozen=True)
class Bucket:
    """Whose rate buckets a message draws from."""

    user: str
    room: str
    skip_user: bool  # an admin, when admins skip the user bucket


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

    async def handle(self, incoming: Incoming, send: Send, whisper: Whisper | None = None) -> None:
        """Answer ``incoming`` if it is a command, when done. Never raises (failures are logged).

        ``whisper`` answers the asker apart from the room (the transport's, when it has one);
        without it, what a command would whisper is replied in the room.
        """
        try:
            await self._handle(incoming, send, whisper)
        except Exception:
            log.exception("chat: %r from %s failed", incoming.text[:80], incoming.user.id)

    def dispatch(self, incoming: Incoming, send: Send, whisper: Whisper | None = None) -> None:
        """:meth:`handle` in the background, so a transport's read loop never waits on a search."""
        task = asyncio.create_task(self.handle(incoming, send, whisper), name="chat-command")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def serve(self, transport: Transport) -> None:
        """Answer what comes in on ``transport`` until it closes. Each command runs as its own
        task (:meth:`dispatch`): a slow ``!query`` never stalls reading."""
        send = masked(transport.send)
        whisper = masked_whisper(transport.whisper) if isinstance(transport, Whispering) else None
        async for message in transport.incoming():
            self.dispatch(message, send, whisper)

    async def close(self) -> None:
        """Cancel the commands still running (shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, incoming: Incoming, send: Send, whisper: Whisper | None) -> None:
        text = strip_formatting(incoming.text)
        invocation = parse_invocation(
            text, self.settings.prefix, self.names, private=incoming.private
        )
        if invocation is None or not (incoming.private or self._room_open(incoming.room)):
            return  # chat.rooms keeps commands to some rooms; a private message is in none
        spec = self.registry.get(invocation.name)
        if spec is None and invocation.bare and not self._typo(invocation.name):
            return  # a private "thanks" or "hello there": chatter, not a command attempt
        outcome = await self._decide(incoming, invocation, spec, text, send, whisper)
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
        whisper: Whisper | None,
    ) -> Answer:
        admin = self.acl.is_admin(incoming.user, incoming.room)
        skip_user = admin and self.settings.admins_skip_user_rate
        bucket = Bucket(user_key(incoming.user), incoming.room.key, skip_user)
        checked = self._check(incoming, invocation, spec, text)
        # Refusals cost something too, or refusing would be a free way to make the bot talk.
        price = self.settings.refusal_cost if isinstance(checked, Answer) else checked.rate
        wait = self.limiter.check(bucket.user, bucket.room, price, skip_user=skip_user)
        if wait > 0:
            return self._rate_limited(bucket.user, wait)
        if isinstance(checked, Answer):
            return checked
        context = self._context(incoming, invocation, checked, admin, send, whisper)
        answer = await self._run(context, invocation.name)
        if answer.refused:
            self._refund(bucket, price)
        return answer

    def _refund(self, bucket: Bucket, price: float) -> None:
        """A command that rejected its input costs a refusal: the rest of its price comes back."""
        back = price - self.settings.refusal_cost
        if back > 0:
            self.limiter.refund(bucket.user, bucket.room, back, skip_user=bucket.skip_user)

    def _check(
        self, incoming: Incoming, invocation: Invocation, spec: CommandSpec | None, text: str
    ) -> CommandSpec | Answer:
        """The command to run, or the refusal to answer instead (pure but for the settings)."""
        problem = text_problem(text, self.settings.max_message_length)
        if problem is not None:
            return Answer(Text.of(f"sorry, {problem}"), f"rejected: {problem}")
        if spec is None:
            return self._unknown(invocation)
        if not self.acl.allows(spec.name, spec.acl, incoming.user, incoming.room):
            reply = f"sorry, {self.settings.prefix}{invocation.name} is for admins only"
            return Answer(Text.of(reply), "denied")
        return spec

    def _typo(self, word: str) -> bool:
        """A private message's first word is a command's name mistyped, not conversation."""
        return self.registry.closest(word, cutoff=PRIVATE_TYPO) is not None

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
        called = invocation.name if invocation.bare else f"{prefix}{invocation.name}"
        text = Text.of(f"unknown command {called}{hint}")
        return Answer(text, "rejected: unknown command")

    def _context(
        self,
        incoming: Incoming,
        invocation: Invocation,
        spec: CommandSpec,
        admin: bool,
        send: Send,
        whisper: Whisper | None,
    ) -> Context:
        async def reply(text: Text) -> None:
            await self._send(send, incoming, text)

        async def whisper_reply(text: Text) -> None:
            if whisper is None or incoming.private:
                await reply(text)  # a private message is apart already
            else:
                await self._safely(whisper(incoming, text), incoming)

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
            whisper_reply,
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
            return Answer(Text.of(str(exc)), f"rejected: {exc}", refused=True)
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
        await self._safely(send(incoming.room, text, reply_to=incoming), incoming)

    async def _safely(self, sending: Awaitable[None], incoming: Incoming) -> None:
        try:
            await sending
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
        await send(room, masked_text(text), reply_to=reply_to)

    return send_masked


def masked_whisper(whisper: Whisper) -> Whisper:
    """``whisper`` with configured secrets masked, as :func:`masked`."""

    async def whisper_masked(to: Incoming, text: Text) -> None:
        await whisper(to, masked_text(text))

    return whisper_masked


def masked_text(text: Text) -> Text:
    return Text(
        mask(text.plain),
        mask(text.irc) if text.irc else text.irc,
        mask(text.html) if text.html else text.html,
    )
