"""Chat commands: the ``@command`` tag, the registry that collects tagged handlers, and the
context handlers receive.

Decorators only *tag* (errbot's way): ``@command("query", ...)`` puts a frozen
:class:`CommandSpec` on the function and does nothing else at import time. :func:`load_commands`
imports every module of the ``commands`` package (by name: this layer never imports it) and
collects the tagged functions into a :class:`Registry`,
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
from types import ModuleType
from typing import TYPE_CHECKING, Protocol, TypeVar

from bot.config.chat import Level
from bot.core.errors import ReadableError
from bot.transports.base import Incoming, Room, Text, User

if TYPE_CHECKING:
    from bot.chat.services import Services
    from bot.config.chat import ChatSettings

TAG = "__recheckbot_command__"
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class Rejected(ReadableError):
    """The command refuses its input; ``str()`` is the reason, shown to the user as is."""


class CommandError(ReadableError):
    """The command ran but could not do its job (an expected failure: no traceback logged)."""


class Reply(Protocol):
    """Send one more message in answer to the current command (before the final reply), or
    (:attr:`Context.whisper`) the answer apart from the room."""

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

    def closest(self, name: str, cutoff: float = 0.6) -> str | None:
        """The known name (or alias) nearest to a mistyped ``name``, if any is as near as
        ``cutoff`` (difflib's ratio: 1 is equal)."""
        found = difflib.get_close_matches(name.lower(), list(self._by_name), n=1, cutoff=cutoff)
        return found[0] if found else None


#: The package whose every module holds chat commands (imported by name: the chat layer never
#: imports the commands statically; they build on it).
COMMANDS_PACKAGE = "commands"


def load_commands(modules: Iterable[str] | None = None) -> Registry:
    """Import the command modules (default: every module of :data:`COMMANDS_PACKAGE`) and
    collect their tagged handlers."""
    names = list(modules) if modules is not None else _package_modules()
    registry = Registry()
    for name in names:
        for spec in tagged(importlib.import_module(name)):
            registry.add(spec)
    return registry


def _package_modules() -> list[str]:
    package = importlib.import_module(COMMANDS_PACKAGE)
    prefix = f"{COMMANDS_PACKAGE}."
    return sorted(info.name for info in pkgutil.iter_modules(package.__path__, prefix=prefix))


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
    # Answer the asker apart from the room (IRC: a private message; Matrix: a thread under
    # their message); in a private message, or where the transport cannot, a plain reply.
    whisper: Reply

    @property
    def user(self) -> User:
        return self.incoming.user

    @property
    def private(self) -> bool:
        """Asked in a private message: only the asker reads the answer."""
        return self.incoming.private

    @property
    def room(self) -> Room:
        return self.incoming.room

    def usage(self) -> str:
        """``!name <args>``: the line to show when the arguments are wrong."""
        return f"usage: {self.settings.prefix}{self.spec.name} {self.spec.usage}".rstrip()
