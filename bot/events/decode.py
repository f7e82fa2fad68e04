"""One decoder for every event that arrives as JSON text: a ``gerrit stream-events`` line (SSH
or the events-log plugin), a replayed line, a Zuul MQTT payload. Pure; never raises.

A bad input becomes a :class:`BadLine` whose reason the source logs with its own context (which
server, which line); a blank line (a keepalive) is None. The guards are here once: a size cap
(a hostile or broken line must not cost real time), no crash on JSON nested too deeply for the
parser, invalid UTF-8 replaced (one bad byte in a comment must not cost the event; the SSH
stream does the same).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Longest input accepted (a comment-added event is a few KiB; Gerrit caps comments at 16 KiB).
MAX_CHARS = 4_000_000
#: Characters of a bad line quoted in a log line.
SNIPPET = 200


@dataclass(frozen=True)
class BadLine:
    """Input that is not an event, and why."""

    reason: str


def decode_object(raw: object) -> Mapping[str, Any] | BadLine | None:
    """A JSON object from text or bytes; None for blank input, else a :class:`BadLine`."""
    if isinstance(raw, bytes | bytearray):
        raw = bytes(raw).decode("utf-8", errors="replace")
    if not isinstance(raw, str):
        return BadLine(f"{kind_of(raw)}, not text")
    if len(raw) > MAX_CHARS:
        return BadLine(f"too long ({len(raw)} characters, the limit is {MAX_CHARS})")
    text = raw.strip()
    if not text:
        return None
    try:
        value: object = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}" if exc.lineno > 1 else f"column {exc.colno}"
        return BadLine(f"not JSON ({exc.msg} at {where})")
    except RecursionError:
        return BadLine("JSON nested too deeply")
    if not isinstance(value, dict):
        return BadLine(f"not a JSON object but {kind_of(value)}")
    return value


def decode_event(raw: object) -> Mapping[str, Any] | BadLine | None:
    """:func:`decode_object` for Gerrit stream-events, which always have a ``type``."""
    event = decode_object(raw)
    if isinstance(event, Mapping) and not isinstance(event.get("type"), str):
        return BadLine("no event type")
    return event


def kind_of(value: object) -> str:
    """A JSON value's kind for a message: ``null``, ``list``, ``str``…"""
    return "null" if value is None else type(value).__name__
