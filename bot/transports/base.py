"""The transport interface and the value objects that keep nicks and room ids out of commands."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Room:
    """Where messages go: an IRC channel, a Matrix room id or alias, the console."""

    transport: str  # "irc" | "matrix" | "console"
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


@dataclass(frozen=True)
class Health:
    connected: bool
    detail: str = ""  # last error, or what we are connected to


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


async def queued_messages(
    queue: asyncio.Queue[Incoming | None], closing: bool
) -> AsyncIterator[Incoming]:
    """A transport's ``incoming()``: its queue until the ``None`` put there on close."""
    if closing and queue.empty():
        return
    while (message := await queue.get()) is not None:
        yield message
