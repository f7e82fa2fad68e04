"""Bug trackers: what Launchpad, Jira, Bugzilla and GitHub say about a query's bug.

One module per tracker, each a pure ``parse_*`` (recorded JSON → :class:`BugDetails`) plus a small
``fetch`` that does the HTTP; :mod:`bot.trackers.client` caches, bounds and shields the rest of
the bot from trackers that are slow or down. The shared value types live here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

#: ER's wording for a bug an anonymous reader may not see (INVENTORY §3.1).
PRIVATE = "Unknown (Private Bug)"
SNIPPET = 120


@dataclass(frozen=True)
class Target:
    """Where a bug is tracked and its status there (a Launchpad bug task, a Jira project...)."""

    name: str
    status: str


@dataclass(frozen=True)
class BugDetails:
    """What a tracker says about one bug; ``closed_since`` is when the last open part closed."""

    url: str
    title: str | None
    status: str | None
    closed: bool = False
    closed_since: datetime | None = None
    targets: tuple[Target, ...] = ()
    private: bool = False

    @property
    def projects(self) -> tuple[str, ...]:
        """Target names for routing, each once (Launchpad series tasks such as ``nova/yoga``
        come with the project's own task, so ``nova`` is there too)."""
        return tuple(dict.fromkeys(target.name for target in self.targets))

    @property
    def affects(self) -> str:
        """ER's graph field: ``(target - Status), (target - Status)``."""
        if self.private:
            return PRIVATE
        return ", ".join(f"({t.name} - {t.status})" for t in self.targets)

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "title": self.title,
            "status": self.status,
            "closed": self.closed,
            "closed_since": self.closed_since.isoformat() if self.closed_since else None,
            "targets": [[t.name, t.status] for t in self.targets],
            "private": self.private,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BugDetails:
        return cls(
            url=str(data["url"]),
            title=data.get("title"),
            status=data.get("status"),
            closed=bool(data.get("closed")),
            closed_since=parse_time(data.get("closed_since")),
            targets=tuple(Target(str(n), str(s)) for n, s in data.get("targets", ())),
            private=bool(data.get("private")),
        )


def private_bug(url: str) -> BugDetails:
    return BugDetails(url, PRIVATE, PRIVATE, private=True)


class TrackerError(Exception):
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
