"""Chat commands: the ``@command`` tag, the registry that collects tagged handlers, and the
context handlers receive.

Decorators only *tag* (errbot's way): ``@command("query", ...)`` puts a frozen
:class:`CommandSpec` on the function and does nothing else at import time. :func:`load_commands`
imports every module of this package and collects the tagged functions into a :class:`Registry`,
so a test can build a registry from any module it likes, and import order never matters.

Handlers get a :class:`Context` (the services, the settings, who asked where) and return the
reply as :class:`~bot.transports.base.Text`; they never build clients (habit 5). A handler that
refuses its input raises :class:`Rejected` with the reason the user should read.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from types import ModuleType
from typing import TYPE_CHECKING, Protocol, TypeVar

from bot.config.chat import Level
from bot.transports.base import Incoming, Room, Text, User

if TYPE_CHECKING:
    from bot.chat.services import Services
    from bot.config.chat import ChatSettings

TAG = "__recheckbot_command__"
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class Rejected(Exception):
    """The command refuses its input; ``str()`` is the reason, shown to the user as is."""


class CommandError(Exception):
    """The command ran but could not do its job (an expected failure: no traceback logged)."""


class Reply(Protocol):
    """Send one more message in answer to the current command (before the final reply)."""

    async def __call__(self, text: Text) -> None: ...


class ImageReply(Protocol):
    """Send an image in answer to the current command; False when the transport cannot."""

    async def __call__(self, png: bytes, filename: str) -> bool: ...


Handler = Callable[["Context"], Awaitable[Text | None]]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True)
class CommandSpec:
    """What a command is called, what it costs and who may run it."""

    name: str
    handler: Handler = field(repr=False)
    help: str
    usage: str = ""  # argument syntax, e.g. "<lucene | bug id> [--days N]"
    aliases: tuple[str, ...] = ()
    acl: Level = "anyone"
    rate: float = 1.0  # tokens taken from the user's and the room's bucket
    timeout: float | None = None  # seconds; None: the configured command_timeout

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


def command(
    name: str,
    *,
    help: str,
    usage: str = "",
    aliases: Sequence[str] = (),
    acl: Level = "anyone",
    rate: float = 1.0,
    timeout: float | None = None,
) -> Callable[[H], H]:
    """Tag ``handler`` as the chat command ``name``; nothing is registered until collected."""

    def tag(handler: H) -> H:
        spec = CommandSpec(name, handler, help, usage, tuple(aliases), acl, rate, timeout)
        setattr(handler, TAG, spec)
        return handler

    return tag


def tagged(module: ModuleType) -> Iterator[CommandSpec]:
    """The command specs tagged in ``module``, in definition order."""
    for value in vars(module).values():
        spec = getattr(value, TAG, None)
        if isinstance(spec, CommandSpec) and getattr(value, "__module__", None) == module.__name__:
            yield spec


class Registry:
    """Commands by name and alias (case-insensitive); duplicates are refused at start-up."""

    def __init__(self, specs: Iterable[CommandSpec] = ()) -> None:
        self._by_name: dict[str, CommandSpec] = {}
        self._specs: list[CommandSpec] = []
        for spec in specs:
            self.add(spec)

    def add(self, spec: CommandSpec) -> None:
        for name in spec.names:
            if not _NAME.fullmatch(name):
                # The dispatcher only reads such names: any other could never be called.
                raise ValueError(f"command name {name!r}: use a-z, 0-9, _ and -, 32 at most")
            if name.lower() in self._by_name:
                raise ValueError(f"command name {name!r} is defined twice")
        self._by_name |= {name.lower(): spec for name in spec.names}
        self._specs.append(spec)

    def get(self, name: str) -> CommandSpec | None:
        return self._by_name.get(name.lower())

    def specs(self) -> list[CommandSpec]:
        """Each command once, by name."""
        return sorted(self._specs, key=lambda spec: spec.name)

    def closest(self, name: str) -> str | None:
        """The known name (or alias) nearest to a mistyped ``name``, if any is near."""
        found = difflib.get_close_matches(name.lower(), list(self._by_name), n=1, cutoff=0.6)
        return found[0] if found else None


def load_commands(modules: Iterable[str] | None = None) -> Registry:
    """Import the command modules (default: every module of this package) and collect them."""
    names = list(modules) if modules is not None else _package_modules()
    registry = Registry()
    for name in names:
        for spec in tagged(importlib.import_module(name)):
            registry.add(spec)
    return registry


def _package_modules() -> list[str]:
    return sorted(info.name for info in pkgutil.iter_modules(__path__, prefix=f"{__name__}."))


@dataclass(frozen=True)
class Context:
    """Everything a command may use: injected, never built by the command."""

    services: Services
    settings: ChatSettings
    incoming: Incoming
    spec: CommandSpec
    args: str  # the text after the command name, cleaned of IRC formatting, stripped
    admin: bool  # the asker is a configured admin (wider limits)
    registry: Registry
    reply: Reply
    send_image: ImageReply

    @property
    def user(self) -> User:
        return self.incoming.user

    @property
    def room(self) -> Room:
        return self.incoming.room

    def usage(self) -> str:
        """``!name <args>``: the line to show when the arguments are wrong."""
        return f"usage: {self.settings.prefix}{self.spec.name} {self.spec.usage}".rstrip()


# --- reply formatting: pure, shared by the commands -------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SAFE_URL = re.compile(r"https?://[^\s<>\"\x00-\x1f]+\Z")


@dataclass(frozen=True)
class Span:
    """A piece of a reply line: bold, or a link (plain/IRC show the URL, HTML the label)."""

    text: str
    url: str | None = None
    bold: bool = False


Part = str | Span


def bold(text: str) -> Span:
    return Span(text, bold=True)


def link(label: str, url: str | None) -> Span | str:
    """A link when ``url`` is a plain http(s) URL; otherwise nothing (never a javascript: href)."""
    return Span(label, url=url) if url and _SAFE_URL.match(url) else ""


def rich(*lines: Sequence[Part]) -> Text:
    """A reply of one or more lines in all three renderings.

    Text from the index or from users may hold CR/LF (a second IRC command) or HTML: control
    characters are replaced here and HTML is escaped, so no caller has to remember.
    """
    return Text(
        plain="\n".join("".join(map(_plain, line)) for line in lines),
        irc="\n".join("".join(map(_irc, line)) for line in lines),
        html="<br>".join("".join(map(_html, line)) for line in lines),
    )


def _safe(text: str) -> str:
    return _CONTROL.sub("?", text)


def _plain(part: Part) -> str:
    if isinstance(part, str):
        return _safe(part)
    return _safe(part.url or part.text)


def _irc(part: Part) -> str:
    text = _plain(part)
    return f"\x02{text}\x02" if isinstance(part, Span) and part.bold else text


def _html(part: Part) -> str:
    if isinstance(part, str):
        return escape(_safe(part))
    text = escape(_safe(part.text))
    if part.url:
        return f'<a href="{escape(part.url)}">{text}</a>'
    return f"<b>{text}</b>" if part.bold else text


def quoted(text: str, limit: int = 40) -> str:
    """User input echoed in a reason: quoted, cut short (the bot must not become a megaphone)."""
    text = _safe(text)
    return f'"{text[:limit]}…"' if len(text) > limit else f'"{text}"'


def duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 12 min``, ``2 d 4 h``."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def ago(when: datetime, now: datetime | None = None) -> str:
    return duration(((now or datetime.now(UTC)) - when).total_seconds()) + " ago"


# --- arguments -----------------------------------------------------------------------------------

# A token: quoted strings (with escapes) glued to what surrounds them, so `message:"a --days b"`
# stays one token and an option is recognised only outside quotes. A lone unbalanced quote is a
# character like any other; the Lucene check reports it.
_TOKEN = re.compile(r'(?:"(?:[^"\\]|\\.)*"|\\.|[^\s"\\]|["\\])+')
_DASHES = ("\u2014", "\u2013")  # phones turn "--" into an em or en dash


def split_options(args: str, allowed: Sequence[str]) -> tuple[str, dict[str, str]]:
    """``args`` without its ``--name value`` / ``--name=value`` options, and the options."""
    tokens = [m.group() for m in _TOKEN.finditer(args)]
    options: dict[str, str] = {}
    rest: list[str] = []
    while tokens:
        token = tokens.pop(0)
        if token.startswith(_DASHES):
            token = "--" + token[1:]
        if not token.startswith("--") or token == "--":
            rest.append(token)
            continue
        name, eq, value = token[2:].partition("=")
        if name not in allowed:
            known = ", ".join(f"--{a}" for a in allowed) or "none"
            raise Rejected(f"unknown option --{_safe(name)[:20]} (options: {known})")
        if not eq:
            if not tokens:
                raise Rejected(f"--{name} needs a value")
            value = tokens.pop(0)
        if name in options:
            raise Rejected(f"--{name} is given twice")
        options[name] = value
    return " ".join(rest), options


def days_option(ctx: Context, value: str | None) -> int:
    """The ``--days`` value: default when absent, else a whole number within the user's cap."""
    settings = ctx.settings
    if value is None:
        return settings.default_days
    limit = settings.admin_max_days if ctx.admin else settings.max_days
    if not re.fullmatch(r"[+-]?\d+", value):
        raise Rejected(f"--days takes a whole number of days, not {quoted(value, 20)}")
    days = int(value) if len(value) < 10 else limit + 1  # int() of 10**6 digits is slow
    if not 1 <= days <= limit:
        more = "" if ctx.admin or limit >= settings.admin_max_days else " for non-admins"
        raise Rejected(f"--days must be between 1 and {limit}{more}")
    return days
