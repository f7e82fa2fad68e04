"""Chat commands in, replies out: the dispatcher between transports and ``commands/``.

``Dispatcher(services, settings).handle(incoming, transport.send)`` does, per message: recognise a
command (``!name args``, ``botnick: name args``, ``botnick, name``), check the room, the rate
limits, the text and the ACL, run the command under a timeout, reply and audit. Nothing a user
types can crash it: every failure becomes a one-line reply and a log entry.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass

from bot.chat.acl import Acl, RateLimiter, irc_fold, room_key, room_matches, user_key
from bot.chat.services import Send, SendImage, Services
from bot.config.chat import ChatSettings
from bot.search.base import SearchError
from bot.transports.base import Incoming, Room, Text
from commands import CommandError, CommandSpec, Context, Registry, Rejected, load_commands

log = logging.getLogger(__name__)


# --- recognising commands: pure -----------------------------------------------------------------

# mIRC colours (\x03NN,NN), hex colours (\x04RRGGBB) and the toggles: bold, reset, monospace,
# reverse, italic, strike, underline. People paste formatted text; it is not part of a command.
_IRC_FORMATTING = re.compile(
    r"\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?"
    r"|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)
_NAME = re.compile(r"[A-Za-z][\w-]{0,31}")
# Format characters allowed: zero-width (non-)joiners hold emoji and Indic text together.
_ALLOWED_FORMAT = {"\u200c", "\u200d"}


def strip_formatting(text: str) -> str:
    return _IRC_FORMATTING.sub("", text)


@dataclass(frozen=True)
class Invocation:
    """A message that asks the bot for a command."""

    name: str
    args: str
    by_name: bool  # addressed as "botnick: ..." (so an unknown name deserves an answer)


def parse_invocation(text: str, prefix: str, names: Collection[str]) -> Invocation | None:
    """The command in ``text``, or None when the message is not for the bot."""
    text = text.lstrip()
    by_name = False
    if not text.startswith(prefix):
        rest = _after_name(text, names)
        if rest is None:
            return None
        text, by_name = rest.removeprefix(prefix), True
    else:
        text = text[len(prefix) :]
    word = _NAME.match(text)
    if word is None or (len(text) > word.end() and not text[word.end()].isspace()):
        return None  # "!!!", "! foo", "!x=y": punctuation in passing, not a command
    return Invocation(word.group().lower(), text[word.end() :].strip(), by_name)


def _after_name(text: str, names: Collection[str]) -> str | None:
    for name in names:
        head = text[: len(name)]
        if name and irc_fold(head) == irc_fold(name) and text[len(name) : len(name) + 1] in ":,":
            rest = text[len(name) + 1 :]
            if rest[:1].isspace() or not rest:
                return rest.strip()
    return None


def text_problem(text: str, limit: int) -> str | None:
    """Why a command's text is refused, or None. Runs on every addressed message: cheap."""
    if len(text) > limit:
        return f"that message is too long ({len(text)} characters; the limit is {limit})"
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc" and char != "\t":
            return f"control characters (U+{ord(char):04X}) are not allowed in commands"
        if category == "Cf" and char not in _ALLOWED_FORMAT:
            name = unicodedata.name(char, "format character").lower()
            return f"invisible formatting characters ({name}, U+{ord(char):04X}) are not allowed"
    return None


def one_line(exc: BaseException, limit: int = 200) -> str:
    """An exception as a single short line (SearchError's ``str()`` already is one)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text if isinstance(exc, SearchError | CommandError) else f"{type(exc).__name__}: {text}"
    return text[:limit].rstrip(": ")


def audit_text(text: str) -> str:
    """A command line for the audit table, control characters escaped."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[:500])


# --- the dispatcher -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
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
    ) -> Outcome:
        user, room = incoming.user, incoming.room
        admin = self.acl.is_admin(user, room)
        allowed = spec is not None and self.acl.allows(spec.name, spec.acl, user, room)
        problem = text_problem(text, self.settings.max_message_length)
        # Refusals cost a token too, or refusing would be a free way to make the bot talk.
        cost = spec.rate if spec is not None and allowed and problem is None else 1.0
        skip_user = admin and self.settings.admins_skip_user_rate
        wait = self.limiter.check(user_key(user), room_key(room), cost, skip_user=skip_user)
        if wait > 0:
            return self._rate_limited(user_key(user), wait)
        if problem is not None:
            return Outcome(Text.of(f"sorry, {problem}"), f"rejected: {problem}")
        if spec is None:
            return self._unknown(invocation)
        if not allowed:
            reply = f"sorry, {self.settings.prefix}{invocation.name} is for admins only"
            return Outcome(Text.of(reply), "denied")
        context = self._context(incoming, invocation, spec, admin, send)
        return await self._run(context, invocation.name)

    def _room_open(self, room: Room) -> bool:
        rooms = self.settings.rooms
        return not rooms or any(room_matches(pattern, room) for pattern in rooms)

    def _rate_limited(self, key: str, wait: float) -> Outcome:
        seconds = max(1, round(wait + 0.49))
        text = None
        if self.limiter.should_warn(key, wait):
            text = Text.of(f"please wait {seconds} s before your next command")
        return Outcome(text, f"rate-limited: wait {seconds} s")

    def _unknown(self, invocation: Invocation) -> Outcome:
        prefix = self.settings.prefix
        near = self.registry.closest(invocation.name)
        hint = f" — did you mean {prefix}{near}?" if near else f"; {prefix}help lists them"
        text = Text.of(f"unknown command {prefix}{invocation.name}{hint}")
        return Outcome(text, "rejected: unknown command")

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

    async def _run(self, context: Context, called: str) -> Outcome:
        name = f"{self.settings.prefix}{called}"
        seconds = context.spec.timeout or self.settings.command_timeout
        # The wait for a free slot counts against the deadline: a queued command that cannot
        # start in time is told so, rather than answering long after anyone cares.
        deadline = asyncio.timeout(seconds)
        try:
            async with deadline, self._slots:
                text = await context.spec.handler(context)
        except Rejected as exc:
            return Outcome(Text.of(str(exc)), f"rejected: {exc}")
        except TimeoutError as exc:
            if not deadline.expired():
                return self._failed(name, exc)
            log.warning("chat: %s timed out after %g s", name, seconds)
            reply = Text.of(f"sorry, {name} timed out after {seconds:g} s")
            return Outcome(reply, "error: timeout")
        except Exception as exc:
            return self._failed(name, exc)
        return Outcome(text, "ok")

    def _failed(self, name: str, exc: Exception) -> Outcome:
        line = one_line(exc)
        if isinstance(exc, SearchError | CommandError):
            log.warning("chat: %s failed: %s", name, line)  # expected: no traceback
        else:
            log.exception("chat: %s failed", name)
        return Outcome(Text.of(f"sorry, {name} failed: {line}"), f"error: {line}")

    async def _send(self, send: Send, incoming: Incoming, text: Text) -> None:
        try:
            await send(incoming.room, text, reply_to=incoming)
        except Exception:
            log.exception("chat: reply to %s in %s failed", incoming.user.id, incoming.room.id)

    async def _audit(self, incoming: Incoming, invocation: Invocation, result: str) -> None:
        line = f"{self.settings.prefix}{invocation.name} {invocation.args}".strip()
        try:
            await self.services.state.audit(
                incoming.user.id, room_key(incoming.room), audit_text(line), result
            )
        except Exception:
            log.exception("chat: audit of %r failed", line[:80])
