"""The matrix-nio client as the transport uses it: built from the settings, every call under a
timeout of ours (nio leaves some without one: a ``full_state`` sync), error responses raised
as exceptions that say whether trying again may help."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import Any, TypeVar
from urllib.parse import quote

import nio

from bot.config import MatrixSettings
from bot.core.errors import ReadableError

T = TypeVar("T")
# Errors that a retry will not fix: a notice to the room is dropped (and logged).
PERMANENT = {"M_FORBIDDEN", "M_NOT_FOUND", "M_BAD_JSON", "M_NOT_JSON", "M_TOO_LARGE"}
PERMANENT |= {"M_INVALID_PARAM", "M_UNKNOWN"}


class MatrixError(ReadableError):
    """The homeserver answered with an error (its message is readable); it may pass."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code  # "M_FORBIDDEN", "M_UNKNOWN_TOKEN" …


class RoomUnavailable(MatrixError):
    """Joining or sending to a room failed for good (not invited, no such room, no right)."""


def new_client(s: MatrixSettings) -> Any:
    """A nio client for ``s``, not logged in; connection errors come to us (our loops own the
    backoff), and no end-to-end encryption."""
    config = nio.AsyncClientConfig(
        max_timeouts=0,
        request_timeout=s.request_timeout,
        encryption_enabled=False,
        store_sync_tokens=False,
    )
    return nio.AsyncClient(
        s.homeserver,
        s.user_id,
        s.device_id or "",
        config=config,
        ssl=None if s.verify_tls else False,
    )


async def within(seconds: float, call: Awaitable[T]) -> T:
    """``call`` under our timeout (nio's own does not cover every request)."""
    async with asyncio.timeout(seconds):
        return await call


def checked(response: Any, *, room: bool = False) -> Any:
    """``response``, unless it is an error: :class:`MatrixError`, or for a ``room`` call (join,
    send) :class:`RoomUnavailable` when retrying will not help."""
    if isinstance(response, nio.ErrorResponse):
        problem = str(response)  # "JoinError: M_FORBIDDEN You are not invited to this room."
        code = response.status_code
        if room and code in PERMANENT:
            raise RoomUnavailable(problem, code)
        raise MatrixError(problem, code)
    return response


async def put_account_data(client: Any, kind: str, content: dict[str, Any]) -> None:
    """Set the account data ``kind`` of the logged-in user (nio has no call for it)."""
    path = f"/_matrix/client/v3/user/{quote(client.user_id, safe='')}/account_data/{kind}"
    headers = {"Authorization": f"Bearer {client.access_token}"}
    headers["Content-Type"] = "application/json"
    async with await client.send("PUT", path, json.dumps(content), headers) as response:
        if response.status != 200:
            raise MatrixError(f"{kind} not saved: HTTP {response.status} {await response.text()}")
