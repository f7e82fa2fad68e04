"""Gerrit's REST API, polled, as an :class:`~bot.events.source.EventSource`.

For sites that do not grant ``stream-events`` (it needs the *Stream Events* capability). Every
``poll_interval`` seconds :class:`GerritRestPoller` asks ``GET /a/changes/`` for the changes
updated lately that a CI account commented on, with their messages, and turns each new message
by a CI account into a stream-events-shaped ``comment-added`` event, so that
:func:`bot.events.parse.parse_event` handles both sources alike.

REST quirks this code is shaped by
----------------------------------
* Every JSON response starts with the line ``)]}'`` (anti-XSSI), stripped before parsing.
* ``o=MESSAGES`` returns *every* message of a change, months old ones too: ``-age:`` selects
  changes, not messages, so messages are filtered by their own ``date``.
* Authors carry ``username`` only with ``o=DETAILED_ACCOUNTS`` (else just ``_account_id``).
* Dates are ``2026-11-26 08:00:00.000000000``: UTC, nanoseconds, no zone marker.
* A message is dated when it is written but appears in query results only once the change is
  reindexed, so a poll can bring a message older than one seen before: each poll re-reads
  ``OVERLAP`` seconds and drops what it yielded already (bounded set of identities).
* A cut-off result marks its *last* change with ``_more_changes: true``; the next page is asked
  with ``S=<changes so far>``. Results are sorted by update time, so a change updated between
  two pages can shift; the overlap and the next poll catch what a shift hides.
* After an outage the next poll widens ``-age:`` back to the last good poll (up to
  ``MAX_CATCH_UP``); a restart can pass ``since=status.last_created`` to do the same.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import re
import time
from collections.abc import AsyncGenerator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard

import aiohttp

from bot.config import GerritServer
from bot.core.retry import Backoff
from bot.events.gerrit_ssh import RecentSet, SourceStatus, created_on, event_identity, strip_xssi
from bot.events.source import RawEvent

log = logging.getLogger(__name__)

CHANGES_PATH = "changes/"
#: MESSAGES: the CI reports; DETAILED_ACCOUNTS: usernames; CURRENT_REVISION: the current sha.
OPTIONS = ("MESSAGES", "DETAILED_ACCOUNTS", "CURRENT_REVISION")
#: Changes per page. Gerrit caps a query at the user's queryLimit (500 by default).
PAGE_SIZE = 100
MAX_PAGES = 20
#: Seconds re-read before the last good poll (index lag, page shifts, small clock skew).
OVERLAP = 600.0
#: Longest gap a poll reaches back over after an outage; older messages are not chased.
MAX_CATCH_UP = 86_400.0
SNIPPET = 200
_DATE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,9}))?")
# Query values other than these characters must be quoted for Gerrit's query parser.
_PLAIN_TERM = re.compile(r"[A-Za-z0-9_.@+-]+")


class PollError(Exception):
    """Gerrit answered, but not with a list of changes (HTTP error, login page, bad JSON)."""


#: Failures of the network or the server: logged in one line, without a traceback.
_EXPECTED = (aiohttp.ClientError, TimeoutError, PollError)


# -- pure functions: request, response, events -----------------------------------------------


def parse_gerrit_date(text: object) -> float | None:
    """Gerrit's ``2026-11-26 08:00:00.000000000`` (UTC) → epoch seconds; None if it is not one."""
    if not isinstance(text, str) or not (match := _DATE.fullmatch(text.strip())):
        return None
    try:
        moment = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:  # e.g. month 13
        return None
    return moment.timestamp() + float(f"0.{match[2] or 0}")


def default_query(ci_usernames: Sequence[str]) -> str:
    """``commentby:zuul OR commentby:jenkins``: changes with a message by a CI account."""
    return " OR ".join(f"commentby:{_term(name)}" for name in ci_usernames)


def _term(value: str) -> str:
    if _PLAIN_TERM.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def poll_age(window: float, covered: float | None, now: float) -> int:
    """Seconds for ``-age:``: the window, widened to reach the last good poll (plus overlap)."""
    if covered is None:
        return math.ceil(window)
    gap = now - covered + OVERLAP
    # round(): `now - (now - window)` is not exactly `window` in floating point.
    return math.ceil(round(max(window, min(gap, MAX_CATCH_UP)), 3))


def changes_url(settings: GerritServer) -> str:
    base = (settings.http_url or "").rstrip("/")
    prefix = "a/" if settings.http_password else ""  # /a/ = authenticated REST (Gerrit convention)
    return f"{base}/{prefix}{CHANGES_PATH}"


def changes_params(
    settings: GerritServer, *, age: int, start: int = 0, page_size: int = PAGE_SIZE
) -> list[tuple[str, str]]:
    """Query parameters of one page; a list because ``o`` repeats."""
    query = settings.poll_query or default_query(settings.ci_usernames)
    params = [("q", f"-age:{age}s ({query})")]
    params += [("o", option) for option in OPTIONS]
    params.append(("n", str(page_size)))
    if start:
        params.append(("S", str(start)))
    return params


def basic_auth(user: str, password: str) -> str:
    """An ``Authorization`` header value (by hand: aiohttp 3.14 deprecates ``BasicAuth``)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


@dataclass(frozen=True)
class ChangesPage:
    """One ``/changes/`` response: its changes, and whether Gerrit cut the result short."""

    changes: tuple[Mapping[str, Any], ...]
    more: bool
    count: int  # entries in the response, for the next page's ``S=``


def decode_changes(body: str) -> ChangesPage:
    """A ``/changes/`` response body → :class:`ChangesPage`; ValueError when it is not one."""
    try:
        data = json.loads(strip_xssi(body))
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if not isinstance(data, list):
        raise ValueError(f"not a JSON list but {type(data).__name__}")
    changes = tuple(change for change in data if isinstance(change, Mapping))
    more = bool(changes) and changes[-1].get("_more_changes") is True
    return ChangesPage(changes, more, len(data))


def change_url(http_url: str, project: str, number: int) -> str:
    """The change's web page as Gerrit 3 links it (the project's slashes stay as they are)."""
    return f"{http_url.rstrip('/')}/c/{project}/+/{number}"


def change_events(
    change: Mapping[str, Any], *, http_url: str, ci_usernames: Collection[str], after: float
) -> list[dict[str, Any]]:
    """Messages by CI accounts dated after ``after`` → stream-events ``comment-added`` dicts."""
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
    if author.get("username") not in ci_usernames:
        return None
    date, text = parse_gerrit_date(message.get("date")), message.get("message")
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


# -- the poller ------------------------------------------------------------------------------


class GerritRestPoller:
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
        self.name = settings.name
        self._settings = settings
        self._url = changes_url(settings)
        self._backoff = backoff or Backoff(maximum=settings.reconnect_max_delay)
        self._page_size = page_size
        self._clock = clock
        self._recent = RecentSet()
        self._covered = since  # wall time up to which changes were read (start of a good poll)
        self._newest: float | None = None
        self._healthy = False
        self._failures = self._streak = self._count = 0
        self._last_error: str | None = None

    @property
    def status(self) -> SourceStatus:
        return SourceStatus(
            self.name, self._healthy, self._failures, self._last_error, self._newest, self._count
        )

    async def events(self) -> AsyncGenerator[RawEvent, None]:
        """Events until cancelled or closed; failed polls are logged and retried, never raised."""
        async with self._http() as http:
            while True:
                try:
                    found = await self.poll(http)
                except Exception as exc:  # whatever happens, the poller goes on (after a pause)
                    delay = self._backoff.next_delay()
                    self._record_failure(exc, delay)
                    await asyncio.sleep(delay)
                    continue
                self._record_success()
                for event in found:
                    if self._accept(event):
                        yield RawEvent(server=self.name, data=event, kind="gerrit")
                await asyncio.sleep(self._settings.poll_interval)

    async def poll(self, http: aiohttp.ClientSession) -> list[dict[str, Any]]:
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
        changes = await self._fetch_all(http, age)
        after = max(self._covered, started - MAX_CATCH_UP) - OVERLAP
        url, ci = self._settings.http_url or "", self._settings.ci_usernames
        events = [
            event
            for change in changes
            for event in change_events(change, http_url=url, ci_usernames=ci, after=after)
        ]
        self._covered = started
        return sorted(events, key=lambda event: event["eventCreatedOn"])

    async def _fetch_all(self, http: aiohttp.ClientSession, age: int) -> list[Mapping[str, Any]]:
        changes: list[Mapping[str, Any]] = []
        start = 0
        for _ in range(MAX_PAGES):
            page = await self._fetch_page(http, age, start)
            changes.extend(page.changes)
            start += page.count
            if not page.more or not page.count:
                return changes
        log.warning(
            "gerrit %s: poll stopped after %d pages of %d changes; narrow poll_query",
            *(self.name, MAX_PAGES, self._page_size),
        )
        return changes

    async def _fetch_page(self, http: aiohttp.ClientSession, age: int, start: int) -> ChangesPage:
        params = changes_params(self._settings, age=age, start=start, page_size=self._page_size)
        timeout = aiohttp.ClientTimeout(total=self._settings.http_timeout)
        async with http.get(self._url, params=params, timeout=timeout) as response:
            body = await response.text(errors="replace")
            if response.status != 200:
                raise PollError(http_problem(response.status, response.reason, body))
        try:
            return decode_changes(body)
        except ValueError as exc:  # e.g. an SSO login page answered with 200
            raise PollError(f"bad response: {exc}: {body[:SNIPPET]!r}") from None

    def _http(self) -> aiohttp.ClientSession:
        s = self._settings
        headers = {"Accept": "application/json"}
        if s.http_password:
            headers["Authorization"] = basic_auth(s.user, s.http_password.get_secret_value())
        return aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=s.http_timeout), headers=headers
        )

    def _accept(self, event: Mapping[str, Any]) -> bool:
        if not self._recent.add(event_identity(event)):
            return False  # yielded by an earlier poll (overlap) or an earlier page (shift)
        created = created_on(event)
        if created is not None and (self._newest is None or created > self._newest):
            self._newest = created
        self._count += 1
        return True

    def _record_success(self) -> None:
        if self._streak:
            log.info(
                "gerrit %s: polling works again after %d failed polls", self.name, self._streak
            )
        self._healthy, self._streak = True, 0
        self._backoff.reset()

    def _record_failure(self, exc: BaseException, delay: float) -> None:
        self._healthy = False
        self._failures += 1
        self._streak += 1
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):  # aiohttp's timeouts say nothing
            reason = f"timed out after {self._settings.http_timeout:g} s"
        unexpected = not isinstance(exc, _EXPECTED)
        # One line per outage: the same reason again goes to debug, a new one is logged anew.
        repeated = reason == self._last_error and self._streak > 1 and not unexpected
        self._last_error = reason
        # A bug, or credentials that will not fix themselves: an error; the rest: a warning.
        serious = unexpected or "HTTP 401" in reason or "HTTP 403" in reason
        level = logging.DEBUG if repeated else logging.ERROR if serious else logging.WARNING
        log.log(
            level,
            "gerrit %s: poll of %s failed: %s; retrying in %.1f s",
            *(self.name, self._url, reason, delay),
            exc_info=exc if unexpected else None,
        )
