"""Gerrit's REST API: a session with basic auth, its answers read and decoded.

Quirks handled here once: every JSON answer starts with the line ``)]}'`` (anti-XSSI);
authenticated calls go under ``/a/``; an error page is reduced to one line with a hint for
401/403; dates are ``2026-11-26 08:00:00.000000000`` (UTC, nanoseconds, no zone marker).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import aiohttp

from bot.config import GerritServer
from bot.core.errors import ReadableError
from bot.core.http import basic_auth

XSSI_PREFIX = ")]}'"
#: Longest piece of an answer quoted in an error.
SNIPPET = 200
_DATE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,9}))?")


class GerritError(ReadableError):
    """Gerrit answered, but not as asked: an HTTP error, a login page, JSON of another shape.

    ``status`` is the HTTP status when that is what went wrong.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def rest_url(settings: GerritServer, path: str) -> str:
    """``<http_url>/a/<path>`` with a password (``/a/`` = authenticated REST), else without."""
    base = (settings.http_url or "").rstrip("/")
    prefix = "a/" if settings.http_password else ""
    return f"{base}/{prefix}{path}"


def open_session(settings: GerritServer, *, timeout: float | None = None) -> aiohttp.ClientSession:
    """A session for one server: basic auth when it has a password, ``timeout`` (default
    ``http_timeout``) seconds per request."""
    headers = {"Accept": "application/json"}
    if settings.http_password:
        headers["Authorization"] = basic_auth(
            settings.user, settings.http_password.get_secret_value()
        )
    total = settings.http_timeout if timeout is None else timeout
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=total), headers=headers)


async def request(http: aiohttp.ClientSession, method: str, url: str, **options: Any) -> str:
    """The body of Gerrit's answer to one request. :class:`GerritError` for an HTTP error
    status, or for no answer within the session's timeout (aiohttp's own says nothing)."""
    try:
        async with http.request(method, url, **options) as response:
            body = await response.text(errors="replace")
    except TimeoutError:
        raise GerritError(f"timed out after {http.timeout.total:g} s") from None
    if response.status >= 400:
        raise GerritError(http_problem(response.status, response.reason, body), response.status)
    return body


def strip_xssi(body: str) -> str:
    """Drop Gerrit's ``)]}'`` anti-XSSI first line, if the response has one."""
    if body.startswith(XSSI_PREFIX):
        _, _, body = body.partition("\n")
    return body


def decode_json(body: str) -> object:
    """The JSON value of an answer (after ``)]}'``); ValueError saying why it is none."""
    try:
        return json.loads(strip_xssi(body))
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def http_problem(status: int, reason: str | None, body: str) -> str:
    """``HTTP 500 Internal Server Error: <first line of the body>``, with a hint for 401/403."""
    text = f"HTTP {status} {reason or ''}".rstrip()
    lines = strip_xssi(body).strip().splitlines()
    detail = lines[0].strip()[:SNIPPET] if lines else ""
    if detail and detail != reason:
        text += f": {detail}"
    if status in (401, 403):
        text += " (check user and http_password)"
    return text


def parse_gerrit_date(text: object) -> float | None:
    """Gerrit's ``2026-11-26 08:00:00.000000000`` (UTC) → epoch seconds; None if it is not one."""
    if not isinstance(text, str) or not (match := _DATE.fullmatch(text.strip())):
        return None
    try:
        moment = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:  # e.g. month 13
        return None
    return moment.timestamp() + float(f"0.{match[2] or 0}")
