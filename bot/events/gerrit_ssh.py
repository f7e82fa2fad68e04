"""Gerrit ``stream-events`` over SSH as an :class:`~bot.events.source.EventSource`.

One :class:`GerritStreamSource` per Gerrit server (several servers = several instances, each
tagging its events with its own name). It connects with asyncssh (key from ``ssh_key``; host key
checked against ``known_hosts``, else the user's ``~/.ssh/known_hosts``; never unchecked), runs
``gerrit stream-events`` and yields one :class:`RawEvent` per JSON line; other lines are logged
(first 200 characters) and skipped. A lost connection is logged once with its reason and retried
with exponential backoff and jitter, reset after a healthy period. Events → failed builds is
:mod:`bot.events.parse`'s job.

Resume: what is and is not possible
-----------------------------------
* ``gerrit stream-events`` has no replay and no "since": it sends only what happens while the
  client is connected. What happens during a disconnection is gone from it.
* The ``events-log`` plugin, where installed, stores project events and serves them at
  ``GET /a/plugins/events-log/events/?t1=<from>[;t2=<to>]``: one JSON event per line, oldest
  first, at most ``returnLimit`` (default 5000) per request, kept ``maxAge`` days (default 30).
  ``t1``/``t2`` are ``yyyy-MM-dd HH:mm:ss`` in the *Gerrit JVM's* time zone
  (``events_log_timezone``), whole seconds, bounds inclusive.
* With ``resume: events-log`` (needs ``http_url``; ``http_password`` for ``/a/``) the source
  remembers the newest ``eventCreatedOn`` it yielded; after a reconnect it fetches the events
  since then (minus an overlap) and yields them before the new stream. The stream is opened
  *first*, so nothing falls in between. ``since=`` resumes from a timestamp the app kept.
* Every event, from either path, passes a bounded set of recent identities (type, change,
  patchset, ``eventCreatedOn``, author, comment hash): overlaps never yield duplicates.
* Not possible: catching up without the plugin (a REST poll of changes would be another source);
  events older than ``maxAge`` or beyond ``CATCH_UP_MAX_PAGES`` pages; telling apart two
  identical comments by one account on one patchset within one second (they count as one).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import zoneinfo
from collections import OrderedDict
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import aiohttp
import asyncssh

from bot.config import GerritServer
from bot.core.retry import Backoff
from bot.events.source import RawEvent

log = logging.getLogger(__name__)

STREAM_COMMAND = "gerrit stream-events"
EVENTS_LOG_PATH = "plugins/events-log/events/"
XSSI_PREFIX = ")]}'"
#: Seconds re-read before the newest event seen: events do not reach the stream strictly in
#: ``eventCreatedOn`` order, and ``t1`` only has second resolution. Duplicates are filtered.
CATCH_UP_OVERLAP = 60.0
CATCH_UP_MAX_PAGES = 20
RECENT_EVENTS = 10_000
HEALTHY_AFTER = 30.0
SNIPPET = 200
USER_KNOWN_HOSTS = Path("~/.ssh/known_hosts")
_EXIT_WAIT = 5.0
_PERSON_KEYS = ("author", "uploader", "submitter", "changer", "abandoner", "restorer", "editor")


class StreamEnded(Exception):
    """The server ended ``stream-events`` (EOF, or the command exited)."""


#: Failures of the network or the server: logged in one line, without a traceback.
_EXPECTED = (asyncssh.Error, OSError, TimeoutError, StreamEnded)


def decode_event_line(line: str) -> tuple[dict[str, Any] | None, str]:
    """One stream-events line → ``(event, "")``, or ``(None, reason)``; blank lines: no reason."""
    text = line.strip()
    if not text:
        return None, ""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(data, dict):
        return None, f"not a JSON object but {type(data).__name__}"
    if not isinstance(data.get("type"), str):
        return None, "no event type"
    return data, ""


def strip_xssi(body: str) -> str:
    """Drop Gerrit's ``)]}'`` anti-XSSI first line, if the response has one."""
    if body.startswith(XSSI_PREFIX):
        _, _, body = body.partition("\n")
    return body


def decode_events_log(body: str) -> tuple[list[dict[str, Any]], list[str]]:
    """An events-log response (one JSON event per line) → events, problems."""
    events: list[dict[str, Any]] = []
    problems: list[str] = []
    for line in strip_xssi(body).splitlines():
        event, reason = decode_event_line(line)
        if event is not None:
            events.append(event)
        elif reason:
            problems.append(f"{reason}: {line[:SNIPPET]!r}")
    return events, problems


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def event_identity(event: Mapping[str, Any]) -> str:
    """A key equal for the same event seen twice (stream and events-log), distinct otherwise."""
    created = event.get("eventCreatedOn")
    if created is None:
        canonical = json.dumps(event, sort_keys=True, default=str)
        return "json:" + hashlib.sha1(canonical.encode()).hexdigest()
    change, patchset = _mapping(event.get("change")), _mapping(event.get("patchSet"))
    person = next((_mapping(event[k]) for k in _PERSON_KEYS if k in event), {})
    ref = _mapping(event.get("refUpdate"))
    comment = hashlib.sha1(str(event.get("comment", "")).encode()).hexdigest()[:16]
    who = person.get("username") or person.get("email") or person.get("name")
    what = (event.get("type"), change.get("number") or change.get("id"), patchset.get("number"))
    # str() below: older Gerrit sends numbers as strings, newer as integers; both are equal.
    parts = (*what, created, who, ref.get("refName"), ref.get("newRev"), comment)
    return "|".join("" if part is None else str(part) for part in parts)


def created_on(event: Mapping[str, Any]) -> float | None:
    try:
        return float(event["eventCreatedOn"])
    except (KeyError, TypeError, ValueError):
        return None


class RecentSet:
    """The most recent ``size`` keys; adding a known key says so."""

    def __init__(self, size: int = RECENT_EVENTS) -> None:
        self._size = size
        self._keys: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def add(self, key: str) -> bool:
        """Remember ``key``; False if it was already there."""
        if key in self._keys:
            return False
        self._keys[key] = None
        if len(self._keys) > self._size:
            self._keys.popitem(last=False)
        return True


def events_log_time(timestamp: float, zone: tzinfo) -> str:
    """``t1``/``t2`` as the plugin parses them: local time of the Gerrit JVM, whole seconds."""
    return datetime.fromtimestamp(int(timestamp), zone).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class SourceStatus:
    """What ``!status`` and tests want to know about a source."""

    name: str
    connected: bool
    failures: int  # failed connections or lost streams since the start
    last_error: str | None
    last_created: float | None  # newest eventCreatedOn yielded
    events: int  # events yielded


def import_key(settings: GerritServer) -> asyncssh.SSHKey | None:
    """The configured client key; a bad one fails at start, naming the server, never the key."""
    if settings.ssh_key is None:
        return None
    try:
        return asyncssh.import_private_key(settings.ssh_key.get_secret_value())
    except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
        raise ValueError(f"gerrit {settings.name}: ssh_key: {exc}") from None


async def connect(
    settings: GerritServer, key: asyncssh.SSHKey | None = None
) -> asyncssh.SSHClientConnection:
    """An SSH connection to a Gerrit server: host key checked, explicit key, timeouts set."""
    return await asyncssh.connect(
        settings.host,
        settings.port,
        username=settings.user,
        known_hosts=await known_hosts(settings),
        client_keys=[key] if key else (),
        agent_path=None if key else (),  # with a configured key, no agent keys on the side
        config=None,  # settings are explicit: no ~/.ssh/config surprises
        connect_timeout=settings.connect_timeout,
        keepalive_interval=settings.keepalive_interval,
        keepalive_count_max=settings.keepalive_count_max,
    )


async def known_hosts(settings: GerritServer) -> asyncssh.SSHKnownHosts:
    """The trusted host keys, read in a thread rather than by asyncssh on the event loop."""
    configured = settings.known_hosts
    path = (configured or USER_KNOWN_HOSTS).expanduser()
    try:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    except FileNotFoundError:
        if configured:
            raise
        text = ""  # like ssh: no file, no trusted host, so the check fails closed
    try:
        return asyncssh.import_known_hosts(text)
    except ValueError as exc:  # a broken file: name it, and retry until it is fixed
        raise OSError(f"{path}: {exc}") from None


class GerritStreamSource:
    """Follows ``gerrit stream-events`` of one server, reconnecting and catching up by itself.

    ``backoff``: reconnect delays (default: from 1 s up to ``reconnect_max_delay``);
    ``since``: an ``eventCreatedOn`` to catch up from at the first connection (with ``resume:
    events-log``), e.g. ``status.last_created`` saved before a restart; ``healthy_after``:
    seconds of streaming after which a lost stream is retried at the initial delay again.
    """

    def __init__(
        self,
        settings: GerritServer,
        *,
        backoff: Backoff | None = None,
        since: float | None = None,
        healthy_after: float = HEALTHY_AFTER,
    ) -> None:
        self.name = settings.name
        self._settings = settings
        self._where = f"{settings.user}@{settings.host}:{settings.port}"
        self._backoff = backoff or Backoff(maximum=settings.reconnect_max_delay)
        self._healthy_after = healthy_after
        zone = settings.events_log_timezone
        self._zone: tzinfo = UTC if zone == "UTC" else zoneinfo.ZoneInfo(zone)
        self._client_key = import_key(settings)
        self._recent = RecentSet()
        self._last_created = since
        self._connected = False
        self._connected_at = 0.0
        self._failures = 0
        self._last_error: str | None = None
        self._count = 0

    @property
    def status(self) -> SourceStatus:
        connection = (self._connected, self._failures, self._last_error)
        return SourceStatus(self.name, *connection, self._last_created, self._count)

    async def events(self) -> AsyncGenerator[RawEvent, None]:
        """Events until cancelled or closed; connection trouble never ends the iteration."""
        loop = asyncio.get_running_loop()
        while True:
            failure: BaseException = StreamEnded("stream ended")
            try:
                # aclosing: when our consumer stops, the session closes its connection now.
                async with aclosing(self._session()) as session:
                    async for event in session:
                        if self._accept(event):
                            yield RawEvent(server=self.name, data=event, kind="gerrit")
            except Exception as exc:  # whatever happens, the source goes on (after a pause)
                failure = exc
            finally:
                was_connected, self._connected = self._connected, False
            if was_connected and loop.time() - self._connected_at >= self._healthy_after:
                self._backoff.reset()  # it was a healthy session: retry quickly
            delay = self._backoff.next_delay()
            self._record_failure(failure, delay, was_connected)
            await asyncio.sleep(delay)

    def _accept(self, event: Mapping[str, Any]) -> bool:
        if not self._recent.add(event_identity(event)):
            log.debug("gerrit %s: duplicate %s skipped", self.name, event.get("type"))
            return False
        created = created_on(event)
        if created is not None and (self._last_created is None or created > self._last_created):
            self._last_created = created
        self._count += 1
        return True

    def _record_failure(self, exc: BaseException, delay: float, was_connected: bool) -> None:
        self._failures += 1
        self._last_error = reason = _describe(exc)
        what = "stream lost" if was_connected else "cannot connect"
        level, trace = logging.WARNING, None
        if isinstance(exc, asyncssh.HostKeyNotVerifiable):
            trusted = self._settings.known_hosts or "~/.ssh/known_hosts"
            level, what = logging.ERROR, f"refused, host key not trusted by {trusted}"
        elif isinstance(exc, asyncssh.PermissionDenied):
            level, what = logging.ERROR, "login refused"
        elif not isinstance(exc, _EXPECTED):
            level, what, trace = logging.ERROR, "unexpected error", exc  # a bug: show where
        log.log(
            level,
            "gerrit %s: %s: %s (%s); retrying in %.1f s",
            *(self.name, self._where, what, reason, delay),
            exc_info=trace,
        )

    async def _session(self) -> AsyncGenerator[dict[str, Any], None]:
        """One connection: open the stream, catch up if needed, then read the stream."""
        s = self._settings
        async with await self._connect() as conn:
            async with asyncio.timeout(s.connect_timeout):
                # Invalid UTF-8 from the server must not kill the session: replace it.
                process = await conn.create_process(STREAM_COMMAND, errors="replace")
            self._connected, self._connected_at = True, asyncio.get_running_loop().time()
            log.info("gerrit %s: streaming events from %s", self.name, self._where)
            if self._last_created is not None and s.resume == "events-log":
                for event in await self._catch_up(self._last_created - CATCH_UP_OVERLAP):
                    yield event
            async with aclosing(self._read_stream(process)) as stream:
                async for event in stream:
                    yield event

    async def _connect(self) -> asyncssh.SSHClientConnection:
        return await connect(self._settings, self._client_key)

    async def _read_stream(
        self, process: asyncssh.SSHClientProcess[str]
    ) -> AsyncGenerator[dict[str, Any], None]:
        # No read timeout on purpose: a stream may be quiet for hours; the SSH keepalive
        # (keepalive_interval x keepalive_count_max) is what detects a dead server.
        while True:
            line = await process.stdout.readline()
            if not line:
                raise StreamEnded(await _exit_reason(process))
            event, reason = decode_event_line(line)
            if event is not None:
                yield event
            elif reason:
                log.warning("gerrit %s: skipped a line, %s: %r", self.name, reason, line[:SNIPPET])

    async def _catch_up(self, since: float) -> list[dict[str, Any]]:
        """Events since ``since`` from the events-log plugin; on trouble, what was fetched."""
        found: list[dict[str, Any]] = []
        try:
            async with self._http() as http:
                await self._fetch_pages(http, since, found)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning(
                "gerrit %s: catch-up from events-log failed (%s); events since %s may be missing",
                self.name,
                _describe(exc),
                events_log_time(since, self._zone),
            )
        log.info("gerrit %s: catch-up found %d events", self.name, len(found))
        return found

    def _http(self) -> aiohttp.ClientSession:
        s = self._settings
        headers = {}
        if s.http_password:  # by hand: aiohttp 3.14 deprecates BasicAuth and auth=
            pair = f"{s.user}:{s.http_password.get_secret_value()}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        return aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=s.http_timeout), headers=headers
        )

    async def _fetch_pages(
        self, http: aiohttp.ClientSession, since: float, found: list[dict[str, Any]]
    ) -> None:
        # The plugin answers the *oldest* returnLimit events of the window, and t1 has whole
        # seconds: page by moving t1 to the newest second of a page (the page may have cut that
        # second short), and past it once a page brings nothing new; stop at an empty page.
        seen: set[str] = set()
        for _ in range(CATCH_UP_MAX_PAGES):
            page = await self._fetch_page(http, since)
            if not page:
                return
            fresh = [e for e in page if _is_new(e, self._recent, seen)]
            found.extend(fresh)
            newest = max((c for c in map(created_on, page) if c is not None), default=since)
            since = max(since, float(int(newest)) + (0 if fresh else 1))
        log.warning("gerrit %s: catch-up stopped after %d pages", self.name, CATCH_UP_MAX_PAGES)

    async def _fetch_page(self, http: aiohttp.ClientSession, since: float) -> list[dict[str, Any]]:
        s = self._settings
        prefix = "a/" if s.http_password else ""  # /a/ = authenticated REST (Gerrit convention)
        url = f"{(s.http_url or '').rstrip('/')}/{prefix}{EVENTS_LOG_PATH}"
        # Only t1: without t2 the plugin takes its own "now", immune to clock skew; events
        # after the stream was opened come through the stream anyway.
        params = {"t1": events_log_time(since, self._zone)}
        async with http.get(url, params=params) as response:
            if response.status == 404:
                raise ValueError("404: is the events-log plugin installed?")
            response.raise_for_status()
            body = await response.text(errors="replace")
        events, problems = decode_events_log(body)
        for problem in problems:
            log.warning("gerrit %s: events-log: skipped %s", self.name, problem)
        return events


def _is_new(event: Mapping[str, Any], recent: RecentSet, seen: set[str]) -> bool:
    key = event_identity(event)
    if key in recent or key in seen:
        return False
    seen.add(key)
    return True


async def _exit_reason(process: asyncssh.SSHClientProcess[str]) -> str:
    """Why the stream ended: exit status and Gerrit's ``fatal: …`` line when there is one."""
    try:
        async with asyncio.timeout(_EXIT_WAIT):
            await process.wait_closed()
            stderr = (await process.stderr.read()).strip()
    except (asyncssh.Error, OSError, TimeoutError):
        return "connection closed"
    status = process.exit_status
    if status is None:
        return "connection closed by the server"
    detail = f": {stderr.splitlines()[-1][:SNIPPET]}" if stderr else ""
    return f"stream-events exited with status {status}{detail}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status} {exc.message}"
    if isinstance(exc, asyncssh.DisconnectError):
        return exc.reason or type(exc).__name__
    return str(exc) or type(exc).__name__
