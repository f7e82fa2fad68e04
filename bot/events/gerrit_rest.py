"""Gerrit's REST API, polled, as an :class:`~bot.events.source.EventSource`.

For sites that do not grant ``stream-events`` (it needs the *Stream Events* capability). Every
``poll_interval`` seconds :class:`GerritRestPoller` asks ``GET /a/changes/`` for the changes
updated lately that a CI account commented on, with their messages, and turns each new message
by a CI account (and each ``recheck``, for :mod:`bot.events.recheck`) into a
stream-events-shaped ``comment-added`` event, so that :func:`bot.events.parse.parse_event`
handles both sources alike.

REST quirks this code is shaped by
----------------------------------
* Requests, paging (``_more_changes``, ``S=``) and the ``)]}'`` line: :mod:`bot.gerrit.changes`.
* ``o=MESSAGES`` returns *every* message of a change, months old ones too: ``-age:`` selects
  changes, not messages, so messages are filtered by their own ``date``.
* Authors carry ``username`` only with ``o=DETAILED_ACCOUNTS`` (else just ``_account_id``).
* Dates are ``2026-11-26 08:00:00.000000000``: UTC, nanoseconds, no zone marker.
* A message is dated when it is written but appears in query results only once the change is
  reindexed, so a poll can bring a message older than one seen before: each poll re-reads
  ``OVERLAP`` seconds and drops what it yielded already (bounded set of identities).
* Results are sorted by update time, so a change updated between two pages can shift; the
  overlap and the next poll catch what a shift hides.
* After an outage the next poll widens ``-age:`` back to the last good poll (up to
  ``MAX_CATCH_UP``); a restart can pass ``since=status.last_created`` to do the same.
* Polls run in :func:`bot.core.retry.reconnecting`: a failed poll ends a session, the next
  starts after the backoff's delay, and a poll that worked resets the backoff.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection, Mapping
from contextlib import aclosing
from typing import Any, TypeGuard

import aiohttp

from bot.config import GerritServer
from bot.core.retry import Backoff
from bot.events.recent import RecentSet, event_identity
from bot.events.recheck import recheck_word
from bot.events.source import RawEvent, SourceBase, default_backoff, sessions
from bot.gerrit.changes import PAGE_SIZE, changes_url, fetch_changes
from bot.gerrit.rest import GerritError, open_session, parse_gerrit_date

log = logging.getLogger(__name__)

#: Seconds re-read before the last good poll (index lag, page shifts, small clock skew).
OVERLAP = 600.0
#: Longest gap a poll reaches back over after an outage; older messages are not chased.
MAX_CATCH_UP = 86_400.0

#: Failures of the network or the server: logged in one line, without a traceback.
_EXPECTED = (aiohttp.ClientError, TimeoutError, GerritError)


# -- pure functions: the window, changes → events ---------------------------------------------


def poll_age(window: float, covered: float | None, now: float) -> int:
    """Seconds for ``-age:``: the window, widened to reach the last good poll (plus overlap)."""
    if covered is None:
        return math.ceil(window)
    gap = now - covered + OVERLAP
    # round(): `now - (now - window)` is not exactly `window` in floating point.
    return math.ceil(round(max(window, min(gap, MAX_CATCH_UP)), 3))


def change_url(http_url: str, project: str, number: int) -> str:
    """The change's web page as Gerrit 3 links it (the project's slashes stay as they are)."""
    return f"{http_url.rstrip('/')}/c/{project}/+/{number}"


def change_events(
    change: Mapping[str, Any], *, http_url: str, ci_usernames: Collection[str], after: float
) -> list[dict[str, Any]]:
    """Messages by CI accounts, and ``recheck`` comments, dated after ``after`` →
    stream-events ``comment-added`` dicts."""
    info = _change_info(change, http_url)
    messages = change.get("messages")
    if info is None or not isinstance(messages, list):
        return []
    current = _current_revision(change)
    events = []
    for message in messages:
        event = _message_event(message, info, ci_usernames, after)
        if event is not None:
            if event["patchSet"]["number"] == current[0]:
                event["patchSet"]["revision"] = current[1]
            events.append(event)
    return events


def _change_info(change: Mapping[str, Any], http_url: str) -> dict[str, Any] | None:
    project, number = change.get("project"), change.get("_number")
    if not isinstance(project, str) or not _is_int(number):
        return None
    info = {
        "project": project,
        "branch": change.get("branch"),
        "id": change.get("change_id"),  # stream-events' change.id is the Change-Id
        "number": number,
        "subject": change.get("subject"),
        "owner": _account(change.get("owner")) or None,
        "url": change_url(http_url, project, number),
        "status": change.get("status"),
    }
    return {key: value for key, value in info.items() if value is not None}


def _current_revision(change: Mapping[str, Any]) -> tuple[int | None, str | None]:
    sha = change.get("current_revision")
    revisions = change.get("revisions")
    if not isinstance(sha, str) or not isinstance(revisions, Mapping):
        return None, None
    revision = revisions.get(sha)
    number = revision.get("_number") if isinstance(revision, Mapping) else None
    return (number, sha) if _is_int(number) else (None, None)


def _message_event(
    message: object, info: dict[str, Any], ci_usernames: Collection[str], after: float
) -> dict[str, Any] | None:
    if not isinstance(message, Mapping):
        return None
    author = _account(message.get("author"))
    date, text = parse_gerrit_date(message.get("date")), message.get("message")
    # A person's message matters only when it reruns the jobs: a recheck's cost is counted.
    if author.get("username") not in ci_usernames and not (
        isinstance(text, str) and recheck_word(text)
    ):
        return None
    patchset = message.get("_revision_number")
    if date is None or date < after or not isinstance(text, str) or not _is_int(patchset):
        return None
    return {
        "type": "comment-added",
        "change": dict(info),
        "patchSet": {"number": patchset},
        "author": author,
        "comment": text,
        "eventCreatedOn": int(date),  # whole seconds, as stream-events has it
    }


def _account(value: object) -> dict[str, Any]:
    """A REST AccountInfo → a stream-events account (``name``, ``username``, ``email``)."""
    if not isinstance(value, Mapping):
        return {}
    return {k: value[k] for k in ("name", "username", "email") if isinstance(value.get(k), str)}


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


# -- the poller ------------------------------------------------------------------------------


class GerritRestPoller(SourceBase):
    """Polls one Gerrit server's changes for CI reports; an EventSource, like the SSH stream.

    ``backoff``: delays after a failed poll (default: from 1 s up to ``reconnect_max_delay``);
    ``since``: an ``eventCreatedOn`` to catch up from at the first poll, e.g.
    ``status.last_created`` saved before a restart (default: the last ``poll_window`` seconds);
    ``clock``: wall-clock time, for tests.
    """

    def __init__(
        self,
        settings: GerritServer,
        *,
        backoff: Backoff | None = None,
        since: float | None = None,
        page_size: int = PAGE_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not settings.http_url:
            raise ValueError(f"gerrit {settings.name}: polling the REST API needs http_url")
        if not settings.ci_usernames:
            raise ValueError(f"gerrit {settings.name}: ci_usernames is empty, nothing to poll")
        super().__init__(settings.name)
        self._settings = settings
        self._url = changes_url(settings)
        self._backoff = backoff or default_backoff(settings.reconnect_max_delay)
        self._page_size = page_size
        self._clock = clock
        self._recent = RecentSet()
        self._covered = since  # wall time up to which changes were read (start of a good poll)
        self._streak = 0  # failed polls in a row
        self._previous: str | None = None  # the reason of the last failed poll

    async def events(self) -> AsyncGenerator[RawEvent, None]:
        """Events until cancelled or closed; failed polls are logged and retried, never raised."""
        # healthy_after=0: a poll that worked is a healthy session, the next failure starts
        # the backoff over.
        connections = sessions(
            self._polls, self._link, self._backoff, healthy_after=0.0, on_down=self._on_down
        )
        async with aclosing(connections):
            async for event in connections:
                if self._accept(event):
                    yield RawEvent(server=self.name, data=event, kind="gerrit")

    async def _polls(self) -> AsyncIterator[dict[str, Any]]:
        """One session: polls every ``poll_interval`` seconds until one fails."""
        async with open_session(self._settings) as http:
            while True:
                found = await self._poll(http)
                self._recovered()
                for event in found:
                    yield event
                await asyncio.sleep(self._settings.poll_interval)

    async def _poll(self, http: aiohttp.ClientSession) -> list[dict[str, Any]]:
        """One poll, all pages: the CI events it finds, oldest first (seen ones included)."""
        started = self._clock()
        if self._covered is None:  # first poll: only the window, not each change's history
            self._covered = started - self._settings.poll_window
        if started - self._covered > MAX_CATCH_UP:
            gap = started - self._covered
            log.warning(
                "gerrit %s: %d s to catch up, reading %d s only", self.name, gap, MAX_CATCH_UP
            )
        age = poll_age(self._settings.poll_window, self._covered, started)
        changes = await fetch_changes(http, self._settings, age=age, page_size=self._page_size)
        after = max(self._covered, started - MAX_CATCH_UP) - OVERLAP
        url, ci = self._settings.http_url or "", self._settings.ci_usernames
        events = [
            event
            for change in changes
            for event in change_events(change, http_url=url, ci_usernames=ci, after=after)
        ]
        self._covered = started
        return sorted(events, key=lambda event: event["eventCreatedOn"])

    def _accept(self, event: Mapping[str, Any]) -> bool:
        if not self._recent.add(event_identity(event)):
            return False  # yielded by an earlier poll (overlap) or an earlier page (shift)
        self._tally.add(event)
        return True

    def _recovered(self) -> None:
        self._link.up()
        if self._streak:
            log.info(
                "gerrit %s: polling works again after %d failed polls", self.name, self._streak
            )
        self._streak, self._previous = 0, None

    def _on_down(self, exc: BaseException, delay: float, lasted: float) -> None:
        self._streak += 1
        reason = self._link.last_error
        unexpected = not isinstance(exc, _EXPECTED)
        # One line per outage: the same reason again goes to debug, a new one is logged anew.
        repeated = reason == self._previous and not unexpected
        self._previous = reason
        # A bug, or credentials that will not fix themselves: an error; the rest: a warning.
        serious = unexpected or (isinstance(exc, GerritError) and exc.status in (401, 403))
        level = logging.DEBUG if repeated else logging.ERROR if serious else logging.WARNING
        log.log(
            level,
            "gerrit %s: poll of %s failed: %s; retrying in %.1f s",
            *(self.name, self._url, reason, delay),
            exc_info=exc if unexpected else None,
        )
