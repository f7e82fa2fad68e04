"""Gerrit ``stream-events`` over SSH as an :class:`~bot.events.source.EventSource`.

One :class:`GerritStreamSource` per Gerrit server (several servers = several instances, each
tagging its events with its own name). It connects through :mod:`bot.gerrit.ssh` (key from
``ssh_key``; host key checked against ``known_hosts``, else the user's ``~/.ssh/known_hosts``;
never unchecked), runs ``gerrit stream-events`` and yields one :class:`RawEvent` per JSON line;
other lines are logged (first 200 characters) and skipped. The connections run in
:func:`bot.core.retry.reconnecting`: a lost one is logged once with its reason and opened again
with exponential backoff and jitter, reset after a healthy period. Events → failed builds is
:mod:`bot.events.convert`'s job.

Resume: what is and is not possible
-----------------------------------
* ``gerrit stream-events`` has no replay and no "since": it sends only what happens while the
  client is connected. What happens during a disconnection is gone from it.
* The ``events-log`` plugin (:mod:`bot.events.events_log`), where installed, serves the events
  since a moment. With ``resume: events-log`` (needs ``http_url``; ``http_password`` for
  ``/a/``) the source remembers the newest ``eventCreatedOn`` it yielded; after a reconnect it
  fetches the events since then (minus an overlap) and yields them before the new stream. The
  stream is opened *first*, so nothing falls in between. ``since=`` resumes from a timestamp the
  app kept.
* Every event, from either path, passes a bounded set of recent identities
  (:mod:`bot.events.recent`): overlaps never yield duplicates.
* Not possible: catching up without the plugin (the REST poller is the other way); events older
  than ``maxAge`` or beyond ``CATCH_UP_MAX_PAGES`` pages; telling apart two identical comments
  by one account on one patchset within one second (they count as one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any

import asyncssh

from bot.config import GerritServer
from bot.core.errors import ReadableError
from bot.core.retry import Backoff
from bot.events.decode import SNIPPET, BadLine, decode_event
from bot.events.events_log import EventsLog
from bot.events.recent import RecentSet, event_identity
from bot.events.source import RawEvent, SourceBase, default_backoff, sessions
from bot.gerrit.ssh import connect, import_key, last_line, trusted_hosts_file

log = logging.getLogger(__name__)

STREAM_COMMAND = "gerrit stream-events"
#: Seconds re-read before the newest event seen: events do not reach the stream strictly in
#: ``eventCreatedOn`` order, and ``t1`` only has second resolution. Duplicates are filtered.
CATCH_UP_OVERLAP = 60.0
HEALTHY_AFTER = 30.0
_EXIT_WAIT = 5.0


class StreamEnded(ReadableError):
    """The server ended ``stream-events`` (EOF, or the command exited)."""


#: Failures of the network or the server: logged in one line, without a traceback.
_EXPECTED = (asyncssh.Error, OSError, TimeoutError, StreamEnded)


class GerritStreamSource(SourceBase):
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
        super().__init__(settings.name, since=since)
        self._settings = settings
        self._where = f"{settings.user}@{settings.host}:{settings.port}"
        self._backoff = backoff or default_backoff(settings.reconnect_max_delay)
        self._healthy_after = healthy_after
        self._client_key = import_key(settings)
        self._events_log = EventsLog(settings) if settings.resume == "events-log" else None
        self._recent = RecentSet()

    async def events(self) -> AsyncGenerator[RawEvent, None]:
        """Events until cancelled or closed; connection trouble never ends the iteration."""
        connections = sessions(
            self._session,
            self._link,
            self._backoff,
            healthy_after=self._healthy_after,
            on_down=self._on_down,
        )
        async with aclosing(connections):
            async for event in connections:
                if self._accept(event):
                    yield RawEvent(server=self.name, data=event, kind="gerrit")

    def _accept(self, event: Mapping[str, Any]) -> bool:
        if not self._recent.add(event_identity(event)):
            log.debug("gerrit %s: duplicate %s skipped", self.name, event.get("type"))
            return False
        self._tally.add(event)
        return True

    def _on_down(self, exc: BaseException, delay: float, lasted: float) -> None:
        what = "stream lost" if lasted else "cannot connect"
        level, trace = logging.WARNING, None
        if isinstance(exc, asyncssh.HostKeyNotVerifiable):
            trusted = trusted_hosts_file(self._settings)
            level, what = logging.ERROR, f"refused, host key not trusted by {trusted}"
        elif isinstance(exc, asyncssh.PermissionDenied):
            level, what = logging.ERROR, "login refused"
        elif not isinstance(exc, _EXPECTED):
            level, what, trace = logging.ERROR, "unexpected error", exc  # a bug: show where
        log.log(
            level,
            "gerrit %s: %s: %s (%s); retrying in %.1f s",
            *(self.name, self._where, what, self._link.last_error, delay),
            exc_info=trace,
        )

    async def _session(self) -> AsyncIterator[Mapping[str, Any]]:
        """One connection: open the stream, catch up if needed, then read the stream."""
        async with await connect(self._settings, self._client_key) as conn:
            async with asyncio.timeout(self._settings.connect_timeout):
                # Invalid UTF-8 from the server must not kill the session: replace it.
                process = await conn.create_process(STREAM_COMMAND, errors="replace")
            self._link.up()
            log.info("gerrit %s: streaming events from %s", self.name, self._where)
            since = self._tally.last_created
            if since is not None and self._events_log is not None:
                for event in await self._events_log.catch_up(
                    since - CATCH_UP_OVERLAP, self._recent
                ):
                    yield event
            async with aclosing(self._read_stream(process)) as stream:
                async for event in stream:
                    yield event

    async def _read_stream(
        self, process: asyncssh.SSHClientProcess[str]
    ) -> AsyncGenerator[Mapping[str, Any], None]:
        # No read timeout on purpose: a stream may be quiet for hours; the SSH keepalive
        # (keepalive_interval x keepalive_count_max) is what detects a dead server.
        while True:
            line = await process.stdout.readline()
            if not line:
                raise StreamEnded(await _exit_reason(process))
            event = decode_event(line)
            if isinstance(event, BadLine):
                log.warning(
                    "gerrit %s: skipped a line, %s: %r", self.name, event.reason, line[:SNIPPET]
                )
            elif event is not None:
                yield event


async def _exit_reason(process: asyncssh.SSHClientProcess[str]) -> str:
    """Why the stream ended: exit status and Gerrit's ``fatal: …`` line when there is one."""
    try:
        async with asyncio.timeout(_EXIT_WAIT):
            await process.wait_closed()
            stderr = await process.stderr.read()
    except (asyncssh.Error, OSError, TimeoutError):
        return "connection closed"
    status = process.exit_status
    if status is None:
        return "connection closed by the server"
    detail = last_line(stderr)
    return f"stream-events exited with status {status}{': ' + detail if detail else ''}"
