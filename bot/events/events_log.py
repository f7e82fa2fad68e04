"""Catching up with the ``events-log`` plugin: the Gerrit events since a moment.

Where installed, the plugin stores project events and serves them at
``GET /a/plugins/events-log/events/?t1=<from>[;t2=<to>]``: one JSON event per line, oldest
first, at most ``returnLimit`` (default 5000) per request, kept ``maxAge`` days (default 30).
``t1``/``t2`` are ``yyyy-MM-dd HH:mm:ss`` in the *Gerrit JVM's* time zone
(``events_log_timezone``), whole seconds, bounds inclusive.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Container, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

import aiohttp

from bot.config import GerritServer
from bot.core.errors import describe
from bot.events.decode import SNIPPET, decode_event
from bot.events.recent import event_identity
from bot.events.source import created_on
from bot.gerrit.rest import GerritError, open_session, request, rest_url, strip_xssi

log = logging.getLogger(__name__)

EVENTS_LOG_PATH = "plugins/events-log/events/"
CATCH_UP_MAX_PAGES = 20

Event = Mapping[str, Any]


def events_log_time(timestamp: float, zone: tzinfo) -> str:
    """``t1``/``t2`` as the plugin parses them: local time of the Gerrit JVM, whole seconds."""
    return datetime.fromtimestamp(int(timestamp), zone).strftime("%Y-%m-%d %H:%M:%S")


def decode_events_log(body: str) -> tuple[list[Event], list[str]]:
    """An events-log response (one JSON event per line) → events, problems."""
    events: list[Event] = []
    problems: list[str] = []
    for line in strip_xssi(body).splitlines():
        event = decode_event(line)
        if isinstance(event, Mapping):
            events.append(event)
        elif event is not None:
            problems.append(f"{event.reason}: {line[:SNIPPET]!r}")
    return events, problems


class EventsLog:
    """The events-log plugin of one Gerrit server."""

    def __init__(self, settings: GerritServer) -> None:
        self.name = settings.name
        self._settings = settings
        zone = settings.events_log_timezone
        self.zone: tzinfo = UTC if zone == "UTC" else zoneinfo.ZoneInfo(zone)
        self._url = rest_url(settings, EVENTS_LOG_PATH)

    async def catch_up(self, since: float, known: Container[str]) -> list[Event]:
        """The events since ``since`` whose identity is not ``known``, oldest first. Never
        raises: on trouble, what was fetched so far (and a warning)."""
        found: list[Event] = []
        try:
            async with open_session(self._settings) as http:
                await self._fetch_pages(http, since, known, found)
        except (aiohttp.ClientError, TimeoutError, GerritError) as exc:
            log.warning(
                "gerrit %s: catch-up from events-log failed (%s); events since %s may be missing",
                *(self.name, describe(exc), events_log_time(since, self.zone)),
            )
        log.info("gerrit %s: catch-up found %d events", self.name, len(found))
        return found

    async def _fetch_pages(
        self, http: aiohttp.ClientSession, since: float, known: Container[str], found: list[Event]
    ) -> None:
        # The plugin answers the *oldest* returnLimit events of the window, and t1 has whole
        # seconds: page by moving t1 to the newest second of a page (the page may have cut that
        # second short), and past it once a page brings nothing new; stop at an empty page.
        seen: set[str] = set()
        for _ in range(CATCH_UP_MAX_PAGES):
            page = await self._fetch_page(http, since)
            if not page:
                return
            fresh = [e for e in page if _is_new(event_identity(e), known, seen)]
            found.extend(fresh)
            newest = max((c for c in map(created_on, page) if c is not None), default=since)
            since = max(since, float(int(newest)) + (0 if fresh else 1))
        log.warning("gerrit %s: catch-up stopped after %d pages", self.name, CATCH_UP_MAX_PAGES)

    async def _fetch_page(self, http: aiohttp.ClientSession, since: float) -> list[Event]:
        # Only t1: without t2 the plugin takes its own "now", immune to clock skew; events
        # after the stream was opened come through the stream anyway.
        params = {"t1": events_log_time(since, self.zone)}
        try:
            body = await request(http, "GET", self._url, params=params)
        except GerritError as exc:
            if exc.status == 404:
                raise GerritError(f"{exc} (is the events-log plugin installed?)", 404) from None
            raise
        events, problems = decode_events_log(body)
        for problem in problems:
            log.warning("gerrit %s: events-log: skipped %s", self.name, problem)
        return events


def _is_new(key: str, known: Container[str], seen: set[str]) -> bool:
    if key in known or key in seen:
        return False
    seen.add(key)
    return True
