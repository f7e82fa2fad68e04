"""What writing to a tracker shares: the values (a posted comment, a bug to file), the errors
of writes (refused credentials, rate limits) and one request helper.

Each tracker module has its own ``comment``, ``edit_comment`` and ``file_bug`` over these;
:mod:`bot.trackers.writer` bounds them in time and picks the tracker.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from bot.trackers import SNIPPET, HttpError, NotFound, TrackerError


@dataclass(frozen=True)
class Posted:
    """A comment the tracker took: what names it there (to edit it later), its web link."""

    ref: str
    url: str | None = None


@dataclass(frozen=True)
class NewBug:
    """A bug to file: where (a Launchpad project, a Jira project key, a GitHub org/repo)
    and what it says."""

    project: str
    title: str
    description: str
    labels: tuple[str, ...] = ()
    issue_type: str = "Bug"  # Jira's


class AuthError(HttpError):
    """The tracker refused our credentials, or they may not do this."""


class RateLimited(HttpError):
    """The tracker asks us to slow down; ``retry_after``: seconds, when it said."""

    def __init__(
        self, status: int, reason: str | None, body: str, retry_after: float | None = None
    ) -> None:
        super().__init__(status, reason, body)
        self.down = True
        self.retry_after = retry_after


class Unreachable(TrackerError):
    """No connection to the tracker: nothing was sent."""

    def __init__(self, message: str) -> None:
        super().__init__(message, down=True)


@dataclass(frozen=True)
class Answer:
    """A write's answer: status, headers, and the body (JSON when it is)."""

    status: int
    headers: Mapping[str, str]
    text: str

    def json(self) -> Any:
        try:
            return json.loads(self.text) if self.text.strip() else None
        except ValueError:
            raise TrackerError(f"not JSON: {self.text[:SNIPPET]!r}") from None


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or an HTTP date) or GitHub's
    ``X-RateLimit-Reset`` (epoch seconds, with ``X-RateLimit-Remaining: 0``); None if neither."""
    now = time.time() if now is None else now
    headers = {name.lower(): value for name, value in headers.items()}
    value = headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    if value:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - now)
        except (TypeError, ValueError):
            pass
    reset = headers.get("x-ratelimit-reset", "").strip()
    if headers.get("x-ratelimit-remaining") == "0" and reset.isdigit():
        return max(0.0, float(reset) - now)
    return None


def refusal(answer: Answer, reason: str | None = None) -> TrackerError:
    """The error an error status stands for: 401 → :class:`AuthError`, 429 (or a 403 that
    says it is the rate limit) → :class:`RateLimited`, 404 → :class:`NotFound`."""
    status, headers, body = answer.status, answer.headers, answer.text
    wait = retry_after(headers)
    limited = status == 429 or (
        status == 403 and (wait is not None or "rate limit" in body.lower())
    )
    if limited:
        return RateLimited(status, reason, body, wait)
    if status in (401, 403):
        return AuthError(status, reason, body)
    if status in (404, 410):
        return NotFound(str(HttpError(status, reason, body)))
    return HttpError(status, reason, body)


async def send(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    form: Mapping[str, str] | None = None,
) -> Answer:
    """One write: ``body`` as JSON or ``form`` urlencoded; error statuses raise
    (:func:`refusal`)."""
    kwargs: dict[str, Any] = {"json": body} if form is None else {"data": dict(form)}
    async with http.request(method, url, headers=headers, **kwargs) as response:
        answer = Answer(response.status, dict(response.headers), await response.text("utf-8"))
        if response.status >= 400:
            raise refusal(answer, response.reason)
    return answer
