"""The event source interface: a source yields raw events and says how it is doing; turning
events into failed builds is separate and pure (:mod:`bot.events.convert`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from bot.core.retry import Backoff, Link, OnDown, reconnecting
from bot.events.decode import epoch_seconds

T = TypeVar("T")

#: What a raw event is, which says how to convert it (the keys of
#: :data:`bot.events.convert.PARSERS`): ``gerrit`` (a stream-events object) or ``zuul-mqtt``.
RawKind = str


@dataclass(frozen=True)
class RawEvent:
    """One event as received: a Gerrit stream-events object or a Zuul MQTT message."""

    server: str  # configured name of the Gerrit server (or MQTT connection) it came from
    data: Mapping[str, Any] = field(repr=False)
    kind: RawKind = "gerrit"


@dataclass(frozen=True)
class SourceStatus:
    """How a source is doing, for ``!status``, ``/healthz``, the app and tests."""

    name: str
    connected: bool  # a replayed file: once it started, unless it could not be read
    failures: int  # failed connections, lost streams or failed polls since the start
    last_error: str | None
    last_created: float | None  # newest eventCreatedOn yielded (or the ``since`` it started at)
    events: int  # events yielded


class EventSource(Protocol):
    """Something that yields raw events until cancelled, reconnecting by itself."""

    name: str

    def events(self) -> AsyncIterator[RawEvent]: ...

    @property
    def status(self) -> SourceStatus: ...


def created_on(event: Mapping[str, Any]) -> float | None:
    """An event's ``eventCreatedOn`` (epoch seconds; int or string), None when it has none or
    it is out of range (one bad event must not move the resume point to the year 33658)."""
    return epoch_seconds(event.get("eventCreatedOn"))


@dataclass
class Tally:
    """What a source yielded: how many events, the newest ``eventCreatedOn``."""

    last_created: float | None = None
    events: int = 0

    def add(self, event: Mapping[str, Any]) -> None:
        self.events += 1
        created = created_on(event)
        if created is not None and (self.last_created is None or created > self.last_created):
            self.last_created = created

    def status(self, name: str, link: Link) -> SourceStatus:
        """The status of source ``name`` whose connection is ``link``."""
        return SourceStatus(
            name, link.connected, link.failures, link.last_error, self.last_created, self.events
        )


class SourceBase:
    """What every source keeps for its ``status``: the link of its connections (written by
    :func:`sessions`) and the tally of what it yielded."""

    def __init__(self, name: str, *, since: float | None = None) -> None:
        self.name = name
        self._link = Link()
        self._tally = Tally(last_created=since)

    @property
    def status(self) -> SourceStatus:
        return self._tally.status(self.name, self._link)


def default_backoff(maximum: float) -> Backoff:
    """Reconnect delays from 1 s (less if ``maximum`` is less) up to ``maximum``."""
    return Backoff(initial=min(1.0, maximum), maximum=maximum)


async def sessions(
    session: Callable[[], AsyncIterator[T]],
    link: Link,
    backoff: Backoff,
    *,
    healthy_after: float,
    on_down: OnDown,
) -> AsyncGenerator[T, None]:
    """:func:`bot.core.retry.reconnecting` for a source: when the consumer stops, the open
    session closes its connection at once (not when the garbage collector gets to it), and
    the link says it is no longer connected."""
    loop = reconnecting(session, link, backoff, healthy_after=healthy_after, on_down=on_down)
    try:
        async with aclosing(loop):  # type: ignore[type-var]
            async for item in loop:
                yield item
    finally:
        link.connected = False
