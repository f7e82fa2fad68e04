"""The transport interface, its optional capabilities, and the value objects that keep nicks and
room ids out of commands."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.core.retry import Link


@dataclass(frozen=True)
class Room:
    """Where messages go: an IRC channel, a Matrix room id or alias, the console."""

    transport: str  # a name in bot.transports.registry.TRANSPORTS
    id: str

    @property
    def key(self) -> str:
        """``transport:id``: the room in the journal, the audit log and rate-limit buckets."""
        return f"{self.transport}:{self.id}"


@dataclass(frozen=True)
class User:
    """Who spoke. ``id`` is the full identity (``nick!user@host``, ``@user:server``)."""

    transport: str
    id: str
    name: str  # what to call them: IRC nick, Matrix display name or localpart
    account: str | None = None  # IRC services account (SASL / account-tag), when known


@dataclass(frozen=True)
class Text:
    """One message in every rendering a transport may want; ``plain`` is always set."""

    plain: str
    irc: str | None = None  # with IRC formatting codes
    html: str | None = None  # Matrix ``formatted_body``

    @classmethod
    def of(cls, plain: str) -> Text:
        return cls(plain)


@dataclass(frozen=True)
class Incoming:
    """A message someone sent where the bot listens."""

    room: Room
    user: User
    text: str
    event_id: str | None = None  # Matrix event to thread the reply under
    private: bool = False  # an IRC query or a Matrix direct room: only the bot hears it
    thread_id: str | None = None  # Matrix thread root, when the message was sent in a thread


@dataclass(frozen=True)
class Health:
    connected: bool
    detail: str = ""  # last error, or what we are connected to
    rooms: tuple[tuple[str, str], ...] = ()  # (room id, "joined" or why not), for !status


class Transport(Protocol):
    """A chat network the bot speaks on; reconnects by itself until closed."""

    name: str

    async def connect(self) -> None:
        """Start connecting (returns once the first attempt is under way or done)."""
        ...

    async def join(self, room: Room) -> None: ...

    async def send(self, room: Room, text: Text, *, reply_to: Incoming | None = None) -> None:
        """Send a notice to ``room`` (queued and paced; survives reconnects)."""
        ...

    def incoming(self) -> AsyncIterator[Incoming]:
        """Messages addressed to rooms the bot is in (and direct messages)."""
        ...

    def health(self) -> Health: ...

    async def close(self) -> None: ...


# Optional capabilities: a caller asks ``isinstance(transport, Flushable)`` (runtime-checkable
# protocols check that the method is there), so a transport declares one just by having it.


@runtime_checkable
class Flushable(Protocol):
    """A transport that queues what it sends (IRC, Matrix)."""

    async def flush(self) -> None:
        """Return once everything queued so far has left the process.

        The delivery journal waits for this before it records an announcement as sent: a
        message still queued would die with the process.
        """
        ...


@runtime_checkable
class ImageSender(Protocol):
    """A transport that shows pictures (Matrix): charts for ``!top``."""

    async def send_image(
        self, room: Room, png: bytes, filename: str, *, reply_to: Incoming | None = None
    ) -> None:
        """Post a PNG in ``room`` now (best effort: not queued, not journaled)."""
        ...


@runtime_checkable
class Whispering(Protocol):
    """A transport that can answer someone apart from the room they spoke in."""

    async def whisper(self, to: Incoming, text: Text) -> None:
        """Send ``text`` to ``to``'s sender only (IRC: a private message), or where it does
        not disturb the room (Matrix: in a thread under their message)."""
        ...


@runtime_checkable
class Reconnecting(Protocol):
    """A transport whose link goes down and comes back (IRC, Matrix)."""

    async def wait_connected(self) -> None:
        """Return once the transport is connected (at once when it is).

        Whoever waits for the link (the delivery queues) goes on the moment it is back, rather
        than sleeping out a backoff that outlasted the outage.
        """
        ...


@runtime_checkable
class Cutting(Protocol):
    """A transport that writes a long message as several units (IRC: one line each)."""

    def cut(self, room: Room, text: Text) -> list[Text]:
        """``text`` as the units :meth:`Transport.send` would write for an announcement in
        ``room``, each to be sent (and journaled) on its own; the same cut in every process
        with the same settings, so a restart can tell which units went out already."""
        ...


def link_health(link: Link, connected_to: str, *, closed: bool) -> Health:
    """A reconnecting transport's health: where it is connected, else its last error."""
    if closed:
        return Health(False, "closed")
    if link.connected:
        return Health(True, connected_to)
    return Health(False, link.last_error or "not connected")
