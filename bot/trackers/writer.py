"""Writing to the trackers: a comment on a bug, an edit of one, a new bug.

``TrackerWriter(settings)`` picks the tracker module, bounds each write by ``trackers.timeout``
and sends credentials only to a bug on the tracker's configured site (as lookups do). Errors
are :class:`~bot.trackers.TrackerError`\\ s: :class:`~bot.trackers.writing.AuthError` (no or
refused credentials), :class:`~bot.trackers.writing.RateLimited` (slow down),
:class:`~bot.trackers.NotFound`; a timeout or a broken connection is a ``down`` TrackerError.
Nothing here retries: a write that may have reached the tracker must not be sent twice, so the
callers journal before and after (:mod:`bot.state.lifecycle`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp

from bot.bugs import Bug, TrackerKind
from bot.config.trackers import TrackerSettings
from bot.core.errors import describe
from bot.trackers import TrackerError, bugzilla, github, jira, launchpad
from bot.trackers.client import serves
from bot.trackers.writing import NewBug, Posted, Unreachable

T = TypeVar("T")

Comment = Callable[[aiohttp.ClientSession, Any, Bug, str], Awaitable[Posted]]
Edit = Callable[[aiohttp.ClientSession, Any, Bug, str, str], Awaitable[Posted]]
File = Callable[[aiohttp.ClientSession, Any, NewBug], Awaitable[Bug]]

COMMENT: dict[TrackerKind, Comment] = {
    "launchpad": launchpad.comment,
    "jira": jira.comment,
    "github": github.comment,
    "bugzilla": bugzilla.comment,
}
#: Trackers whose comments can be edited afterwards (Bugzilla 5's cannot).
EDIT: dict[TrackerKind, Edit] = {
    "launchpad": launchpad.edit_comment,
    "jira": jira.edit_comment,
    "github": github.edit_comment,
}
FILE: dict[TrackerKind, File] = {
    "launchpad": launchpad.file_bug,
    "jira": jira.file_bug,
    "github": github.file_bug,
}


def missing_credentials(settings: TrackerSettings, kind: TrackerKind) -> str | None:
    """What the settings lack to write to ``kind``, or None."""
    needs = {
        "launchpad": (
            settings.launchpad.oauth_token and settings.launchpad.oauth_token_secret,
            "trackers.launchpad.oauth_token and oauth_token_secret",
        ),
        "jira": (settings.jira.token, "trackers.jira.token"),
        "github": (settings.github.token, "trackers.github.token"),
        "bugzilla": (settings.bugzilla.api_key, "trackers.bugzilla.api_key"),
    }
    have, what = needs[kind]
    return None if have else f"writing to {kind} needs {what}"


class TrackerWriter:
    """Comments and new bugs; ``async with`` closes its HTTP session."""

    def __init__(self, settings: TrackerSettings) -> None:
        self._settings = settings
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> TrackerWriter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def can_edit(self, kind: TrackerKind) -> bool:
        return kind in EDIT

    def refusal(self, ref: Bug) -> str | None:
        """Why a comment on ``ref`` cannot be written (None: it can)."""
        if not ref.tracked:
            return "no bug is filed for it"
        if not serves(self._settings, ref):
            return f"{ref.url} is not on the configured {ref.kind} site"
        return missing_credentials(self._settings, ref.kind)

    async def comment(self, ref: Bug, text: str) -> Posted:
        self._check(ref)
        return await self._bounded(
            COMMENT[ref.kind](self._session(), self._section(ref.kind), ref, text)
        )

    async def edit_comment(self, ref: Bug, posted: str, text: str) -> Posted:
        self._check(ref)
        edit = EDIT.get(ref.kind)
        if edit is None:
            raise TrackerError(f"{ref.kind} comments cannot be edited")
        return await self._bounded(
            edit(self._session(), self._section(ref.kind), ref, posted, text)
        )

    async def file_bug(self, kind: TrackerKind, bug: NewBug) -> Bug:
        if (lacking := missing_credentials(self._settings, kind)) is not None:
            raise TrackerError(lacking)
        filer = FILE.get(kind)
        if filer is None:
            raise TrackerError(f"the bot files no bugs on {kind}")
        return await self._bounded(filer(self._session(), self._section(kind), bug))

    def _check(self, ref: Bug) -> None:
        if (why := self.refusal(ref)) is not None:
            raise TrackerError(f"{ref.kind} bug {ref.id}: {why}")

    async def _bounded(self, write: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self._settings.timeout):
                return await write
        except TimeoutError:
            raise TrackerError("timed out", down=True) from None
        except aiohttp.ClientConnectorError as exc:
            raise Unreachable(describe(exc)) from None
        except aiohttp.ClientError as exc:
            raise TrackerError(describe(exc), down=True) from None

    def _section(self, kind: TrackerKind) -> Any:
        return getattr(self._settings, kind)

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            s = self._settings
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=s.timeout),
                headers={"User-Agent": s.user_agent},
            )
        return self._http
