"""One decoder for every event that arrives as JSON text: a ``gerrit stream-events`` line (SSH
or the events-log plugin), a replayed line, a Zuul MQTT payload. Pure; never raises.

A bad input becomes a :class:`BadLine` whose reason the source logs with its own context (which
server, which line); a blank line (a keepalive) is None. The guards are here once: a size cap
(a hostile or broken line must not cost real time), no crash on JSON nested too deeply for the
parser, invalid UTF-8 replaced (one bad byte in a comment must not cost the event; the SSH
stream does the same). :func:`epoch_seconds` reads the times events carry, whatever their unit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Longest input accepted (a comment-added event is a few KiB; Gerrit caps comments at 16 KiB).
MAX_CHARS = 4_000_000
#: Characters of a bad line quoted in a log line.
SNIPPET = 200
#: Latest time an event may carry (2100-01-01 UTC): later ones are nonsense (or milliseconds),
#: and far later ones cannot even be written as a date for a search.
MAX_EPOCH = 4_102_444_800.0
#: Earliest time a value in milliseconds may stand for (2000-01-01 UTC): below it, a number
#: too big for seconds is no plain millisecond time either.
MIN_MS_EPOCH = 946_684_800.0


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


def epoch_seconds(value: object) -> float | None:
    """An event time (epoch seconds; int, float or a numeric string) as seconds, or None.

    A number that is plainly milliseconds (seconds after 2100, but a time between 2000 and 2100
    in milliseconds) is converted; anything else out of range (negative, zero, inf, nan, far
    future, not a number) is None, "unknown": one odd field must never reach a date formatter.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, str) and len(value) > 32:
        return None
    try:
        seconds = float(value)
    except (ValueError, OverflowError):
        return None
    if not math.isfinite(seconds) or seconds <= 0:
        return None
    if seconds > MAX_EPOCH and MIN_MS_EPOCH <= seconds / 1000 <= MAX_EPOCH:
        seconds /= 1000
    return seconds if seconds <= MAX_EPOCH else None
