"""Bug trackers: what Launchpad, Jira, Bugzilla and GitHub say about a query's bug.

One module per tracker, each a pure ``parse_*`` (recorded JSON → a :class:`bot.bugs.Bug` described
by its tracker) plus a small ``fetch`` that does the HTTP; :mod:`bot.trackers.client` caches,
bounds and shields the rest of the bot from trackers that are slow or down. The errors and JSON
helpers they share live here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp

from bot.core.errors import ReadableError

SNIPPET = 120


class TrackerError(ReadableError):
    """A lookup failed. ``down``: the tracker itself is in trouble (timeout, 5xx, rate limit)."""

    def __init__(self, message: str, *, down: bool = False) -> None:
        super().__init__(message)
        self.down = down


class HttpError(TrackerError):
    """The tracker answered with an error status."""

    def __init__(self, status: int, reason: str | None, body: str) -> None:
        detail = body.strip().splitlines()[0][:SNIPPET] if body.strip() else ""
        text = f"HTTP {status} {reason or ''}".rstrip() + (f": {detail}" if detail else "")
        super().__init__(text, down=status >= 500 or status == 429)
        self.status = status
        self.body = body


class NotFound(TrackerError):
    """The tracker says there is no such bug (or none this reader may see)."""


async def get_json(
    http: aiohttp.ClientSession,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
) -> Any:
    """GET a JSON document: :class:`HttpError` on error statuses, :class:`TrackerError` on junk."""
    async with http.get(url, headers=headers, params=params) as response:
        body = await response.text(errors="replace")
        if response.status >= 400:
            raise HttpError(response.status, response.reason, body)
    try:
        return json.loads(body)
    except ValueError:
        # An HTML error page or a login wall answered 200: the tracker is not itself.
        raise TrackerError(f"not JSON: {body[:SNIPPET]!r}") from None


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time as trackers write it (``Z``, ``+0000``, naive = UTC), in UTC; else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
