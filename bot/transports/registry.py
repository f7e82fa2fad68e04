"""The chat transports there are, and what the rest of the bot needs to know about each.

Adding one (Slack, Mattermost) is a module with the transport class, a settings section in
``bot.config.Settings`` and a :class:`TransportKind` in :data:`TRANSPORTS`; routing, the ACL and
the app ask the registry instead of naming transports:

- which transports the settings configure, built (:func:`transports_from`);
- the room a channels.yaml entry means, checked (:meth:`TransportKind.room_id`);
- how names compare (IRC ignores case the RFC 1459 way) and globs match
  (:meth:`TransportKind.matches`);
- whether a user is one of the configured principals (:meth:`TransportKind.is_principal`) and
  whose rate bucket a message draws from (:meth:`TransportKind.user_key`).

Transport modules are imported only when one is built: the IRC and Matrix client libraries are
not loaded by a bot that does not use them, nor by routing and the ACL.
"""

from __future__ import annotations

import functools
import re
from typing import Any, ClassVar, Generic, TypeVar

from bot.config import IrcSettings, MatrixSettings, Settings
from bot.config.chat import Principals
from bot.transports.base import Room, Transport, User
from bot.transports.ircformat import fold, is_channel

S = TypeVar("S")


class TransportKind(Generic[S]):
    """One kind of transport; ``S`` is its settings section. Subclasses override what differs
    from the defaults: names compared exactly, rooms as configured, no principals."""

    name: ClassVar[str]

    def section(self, settings: Settings) -> S | None:
        """This transport's settings, or None when it is not configured."""
        raise NotImplementedError

    def create(self, section: S) -> Transport:
        """A transport for ``section``, not connected yet."""
        raise NotImplementedError

    def fold(self, name: str) -> str:
        """``name`` (a room, a user id) in the form in which equal names are equal strings."""
        return name

    def matches(self, pattern: str, value: str) -> bool:
        """Whether the glob ``pattern`` (``*`` and ``?`` only: ``[`` is literal, bridged nicks
        end in ``[m]``) matches ``value`` as names compare on this transport."""
        return _glob(self.fold(pattern)).fullmatch(self.fold(value)) is not None

    def room_id(self, name: str, configured: str | None = None) -> str:
        """The room a channels.yaml entry ``name`` (with its ``room:`` key, if any) means.

        Raises ValueError, with a message for the person who wrote the file, when it is no room
        of this transport.
        """
        return configured or name

    def room(self, name: str, configured: str | None = None) -> Room:
        return Room(self.name, self.room_id(name, configured))

    def is_principal(self, who: Principals, user: User) -> bool:
        """Whether ``user`` (of this transport) is one of ``who``, by identities a user cannot
        simply claim (never a display name). ``who.rooms`` is the caller's: it needs the room."""
        return False

    def user_key(self, user: User) -> str:
        """Whose rate bucket a message of ``user`` draws from: the services account when known,
        else who they are as far as the transport can tell (:meth:`_identity`)."""
        if user.account:
            return f"{self.name}:account:{self.fold(user.account)}"
        return f"{self.name}:{self._identity(user)}"

    def _identity(self, user: User) -> str:
        return user.id


class IrcKind(TransportKind[IrcSettings]):
    name = "irc"

    def section(self, settings: Settings) -> IrcSettings | None:
        return settings.irc

    def create(self, section: IrcSettings) -> Transport:
        from bot.transports.irc import IrcTransport

        return IrcTransport(section)

    def fold(self, name: str) -> str:
        return fold(name)

    def room_id(self, name: str, configured: str | None = None) -> str:
        """``room:`` as given, else the entry's name, which gets its ``#`` when it has none
        (``openstack-qa`` → ``#openstack-qa``; ``&local`` stays)."""
        room = configured or (name if name.startswith(("#", "&")) else f"#{name}")
        if not is_channel(room):
            raise ValueError(f"not an IRC channel: {room!r}")
        return room

    def is_principal(self, who: Principals, user: User) -> bool:
        if user.account and any(self.matches(p, user.account) for p in who.irc_accounts):
            return True
        # A mask needs the full nick!user@host; a bare nick (no "!") is never trusted.
        return "!" in user.id and any(self.matches(p, user.id) for p in who.irc_masks)

    def _identity(self, user: User) -> str:
        # nick@host: people behind one host (a gateway, a bouncer, a Matrix bridge) do not
        # throttle each other. The ident in between is left out: it is the same for everyone
        # behind most gateways and says nothing the host does not.
        nick, sep, rest = user.id.partition("!")
        return f"{fold(nick)}@{fold(rest.rpartition('@')[2])}" if sep else user.id


class MatrixKind(TransportKind[MatrixSettings]):
    name = "matrix"

    def section(self, settings: Settings) -> MatrixSettings | None:
        return settings.matrix

    def create(self, section: MatrixSettings) -> Transport:
        from bot.transports.matrix import MatrixTransport

        return MatrixTransport(section)

    def room_id(self, name: str, configured: str | None = None) -> str:
        """``room:`` is required: a room id or alias says the server, an entry name does not."""
        if configured is None or not configured.startswith(("!", "#")):
            raise ValueError("a matrix channel needs room: '!id:server' or '#alias:server'")
        return configured

    def is_principal(self, who: Principals, user: User) -> bool:
        return any(self.matches(p, user.id) for p in who.matrix_users)


class ConsoleKind(TransportKind[bool]):
    """The terminal (``console: true``): one room, one user, the operator."""

    name = "console"

    def section(self, settings: Settings) -> bool | None:
        return True if settings.console else None

    def create(self, section: bool) -> Transport:
        from bot.transports.console import ConsoleTransport

        return ConsoleTransport()

    def is_principal(self, who: Principals, user: User) -> bool:
        return who.console


#: Every transport by name, in the order the app builds and connects them.
TRANSPORTS: dict[str, TransportKind[Any]] = {
    kind.name: kind for kind in (ConsoleKind(), IrcKind(), MatrixKind())
}


def kind_of(name: str) -> TransportKind[Any]:
    """The transport called ``name``; ValueError (fit for a settings validator) if none is."""
    try:
        return TRANSPORTS[name]
    except KeyError:
        known = ", ".join(TRANSPORTS)
        raise ValueError(f"unknown transport {name!r}; known: {known}") from None


def transports_from(settings: Settings) -> dict[str, Transport]:
    """The transports ``settings`` configure, built but not connected (nor in any room)."""
    built: dict[str, Transport] = {}
    for name, kind in TRANSPORTS.items():
        section = kind.section(settings)
        if section is not None:
            built[name] = kind.create(section)
    return built


@functools.lru_cache(maxsize=512)
def _glob(pattern: str) -> re.Pattern[str]:
    # Only * and ?: fnmatch's [classes] would misread nicks like "alice[m]" and "[afk]bob".
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)
