"""The event source interface: a source yields raw events; parsing is separate and pure."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

RawKind = Literal["gerrit", "zuul-mqtt"]


@dataclass(frozen=True)
class RawEvent:
    """One event as received: a Gerrit stream-events object or a Zuul MQTT message."""

    server: str  # configured name of the Gerrit server (or MQTT connection) it came from
    data: Mapping[str, Any] = field(repr=False)
    kind: RawKind = "gerrit"


class EventSource(Protocol):
    """Something that yields raw events until cancelled, reconnecting by itself."""

    name: str

    def events(self) -> AsyncIterator[RawEvent]: ...
