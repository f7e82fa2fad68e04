"""The journal: builds received, their verdicts, and every delivery, in one SQLite file (WAL).

Every stage writes here before the next one runs, so a restart resumes unfinished builds, a
saved verdict is not recomputed, and a message is not sent twice. SQLite calls run on one worker
thread: the event loop never blocks on disk, and the connection is never shared between threads.

**Deliveries and "exactly once".** A message for one (build, room) goes through these states,
each committed before the next step:

* no row — not sent yet. Safe to send (again): nothing left the process.
* ``sending`` — written just before the message is handed to the transport, and only while the
  transport is connected. Replaced by ``sent`` once the transport says the message is written
  out (IRC: written to the socket; Matrix: accepted by the homeserver — or refused for good,
  e.g. the bot was kicked, which the transport logs).
* ``sent`` — done; never sent again.
* ``given-up`` (with a reason) — not delivered within the bounded time, or interrupted while
  ``sending``; never sent again.

A process killed while a row is ``sending`` leaves it unknown whether the message reached the
room: it may be on the wire, or still in the dead process's memory. We do **not** send it again
(at most once for that window) and journal it as given up with the reason. A transport that
writes a message as several lines (IRC) has each line journaled as its own unit (``key#n``),
so the window is one line's write plus one commit: milliseconds on a healthy link; it grows
only if the link breaks in that moment and the transport holds the line until it reconnects.
Everywhere else (killed while waiting for logs, classifying, waiting for a transport to
reconnect, or before the ``sending`` commit) nothing is lost and nothing repeats: each (build,
room) is announced exactly once. A duplicate in chat was judged worse than a rare lost line: a
repeat is noise every member of the room sees, and a dropped announcement is still on the
dashboard.

Each event source's position (the newest ``eventCreatedOn`` it yielded) is saved every few
seconds and on shutdown; after a restart a Gerrit source catches up from there through the
events-log plugin, and builds already journaled are recognised by their key.

Old rows are dropped by :meth:`StateStore.prune` (finished builds, their deliveries, audit rows).
The log lines each verdict matched are kept with it: :mod:`bot.state.evidence`; which room had
which week's digest: :mod:`bot.state.digests`; which bug had which week's impact comment and
which cluster had a bug filed: :mod:`bot.state.lifecycle`; the dashboard's settled hours:
:mod:`bot.state.settled`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Literal

from bot.core.errors import ReadableError
from bot.events.model import FailedBuild
from bot.state import digests, evidence, lifecycle, settled
from bot.state.codec import build_from_json as build_from_json
from bot.state.codec import build_to_json as build_to_json
from bot.state.digests import DigestJournal
from bot.state.evidence import EvidenceJournal, JobsEvidence
from bot.state.lifecycle import LifecycleJournal
from bot.state.settled import SettledJournal

DeliveryStatus = Literal["sending", "sent", "given-up"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS builds (
    key TEXT PRIMARY KEY,
    build TEXT NOT NULL,
    received REAL NOT NULL,
    verdict TEXT,
    done REAL
);
CREATE TABLE IF NOT EXISTS deliveries (
    build_key TEXT NOT NULL,
    room TEXT NOT NULL,
    sent REAL NOT NULL,
    PRIMARY KEY (build_key, room)
);
CREATE TABLE IF NOT EXISTS audit (
    at REAL NOT NULL,
    user TEXT NOT NULL,
    room TEXT NOT NULL,
    command TEXT NOT NULL,
    result TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cache (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS positions (
    source TEXT PRIMARY KEY,
    created REAL NOT NULL
);
"""
#: Columns added after the first release: (table, column, definition). ``deliveries.sent`` is
#: the time of the row's last change; ``builds.gave_up`` says why a build ended unannounced
#: somewhere (a room given up, or judging given up).
_COLUMNS = (
    ("deliveries", "status", "TEXT NOT NULL DEFAULT 'sent'"),
    ("deliveries", "reason", "TEXT"),
    ("builds", "gave_up", "TEXT"),
)


class JournalError(ReadableError):
    """The journal file cannot be opened or read (a directory, no permission, not SQLite)."""


class StateStore(EvidenceJournal, DigestJournal, LifecycleJournal, SettledJournal):
    """Durable bot state; open with ``await StateStore.open(path)``."""

    @classmethod
    async def open(cls, path: Path | str) -> StateStore:
        """Open (or create) the journal; :class:`JournalError` when it cannot be used."""
        return cls(
            *await cls.connect_in_thread(str(path), _connect, name="state", error=JournalError)
        )

    # --- builds ---------------------------------------------------------------------------

    async def add_build(self, build: FailedBuild) -> bool:
        """Journal a received build; False when it was already known (a repeated event)."""

        def insert(conn: sqlite3.Connection) -> bool:
            with conn:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO builds (key, build, received) VALUES (?, ?, ?)",
                    (build.key, build_to_json(build), time.time()),
                )
            return cur.rowcount == 1

        return await self._run(insert)

    async def unfinished(
        self, limit: int | None = None, *, exclude: frozenset[str] = frozenset()
    ) -> list[FailedBuild]:
        """Builds received but not finished, oldest first: the work to resume after a restart.

        ``exclude``: keys not wanted (being worked on already); ``limit``: at most that many.
        """

        def select(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT key, build FROM builds WHERE done IS NULL ORDER BY received, key"
            )
            found: list[str] = []
            for key, text in rows:
                if key not in exclude:
                    found.append(text)
                    if limit is not None and len(found) >= limit:
                        break
            return found

        return [build_from_json(text) for text in await self._run(select)]

    async def count_unfinished(self) -> int:
        def count(conn: sqlite3.Connection) -> int:
            return int(conn.execute("SELECT COUNT(*) FROM builds WHERE done IS NULL").fetchone()[0])

        return await self._run(count)

    async def save_verdict(
        self, key: str, verdict: dict[str, Any], lines: JobsEvidence | None = None
    ) -> None:
        """Save a build's verdict and, in the same commit, the log lines it matched."""

        def update(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute(
                    "UPDATE builds SET verdict = ? WHERE key = ?", (json.dumps(verdict), key)
                )
                evidence.insert(conn, key, lines or {}, time.time())

        await self._run(update)

    async def verdict(self, key: str) -> dict[str, Any] | None:
        def select(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT verdict FROM builds WHERE key = ?", (key,)).fetchone()
            return row[0] if row else None

        text = await self._run(select)
        return json.loads(text) if text else None

    async def finish(self, key: str, gave_up: str | None = None) -> None:
        """The build is done: every room told or given up (``gave_up`` says what was not)."""
        await self._execute(
            "UPDATE builds SET done = ?, gave_up = ? WHERE key = ?", (time.time(), gave_up, key)
        )

    async def build_state(self, key: str) -> tuple[float | None, str | None] | None:
        """``(done, gave_up)`` of a journaled build, or None when unknown."""

        def select(conn: sqlite3.Connection) -> tuple[float | None, str | None] | None:
            row = conn.execute("SELECT done, gave_up FROM builds WHERE key = ?", (key,)).fetchone()
            return (row[0], row[1]) if row else None

        return await self._run(select)

    # --- deliveries -----------------------------------------------------------------------

    async def delivery_status(self, key: str, room: str) -> DeliveryStatus | None:
        """Where the message for (``key``, ``room``) stands; None: not sent yet."""

        def select(conn: sqlite3.Connection) -> Any:
            row = conn.execute(
                "SELECT status FROM deliveries WHERE build_key = ? AND room = ?",
                (key, room),
            ).fetchone()
            return row[0] if row else None

        status: DeliveryStatus | None = await self._run(select)
        return status

    async def delivered(self, key: str, room: str) -> bool:
        """Whether (``key``, ``room``) is done with: sent, or being sent, or given up."""
        return await self.delivery_status(key, room) is not None

    async def mark_sending(self, key: str, room: str) -> None:
        """Just before the message is handed to the transport (see the module docstring)."""
        await self._set_delivery(key, room, "sending", None)

    async def mark_delivered(self, key: str, room: str) -> None:
        """The transport wrote the message out."""
        await self._set_delivery(key, room, "sent", None)

    async def give_up(self, key: str, room: str, reason: str) -> None:
        await self._set_delivery(key, room, "given-up", reason[:500])

    async def forget_sending(self, key: str, room: str) -> None:
        """The transport refused the message before anything went out: back to not sent."""
        await self._execute(
            "DELETE FROM deliveries WHERE build_key = ? AND room = ? AND status = 'sending'",
            (key, room),
        )

    async def deliveries(self, key: str) -> dict[str, tuple[DeliveryStatus, str | None]]:
        """Room (``transport:id``) → (status, reason) for one build key."""

        def select(conn: sqlite3.Connection) -> dict[str, tuple[Any, str | None]]:
            rows = conn.execute(
                "SELECT room, status, reason FROM deliveries WHERE build_key = ?", (key,)
            )
            return {room: (status, reason) for room, status, reason in rows}

        return await self._run(select)

    async def _set_delivery(
        self, key: str, room: str, status: DeliveryStatus, reason: str | None
    ) -> None:
        await self._execute(
            "INSERT OR REPLACE INTO deliveries (build_key, room, sent, status, reason)"
            " VALUES (?, ?, ?, ?, ?)",
            (key, room, time.time(), status, reason),
        )

    # --- where each event source was ------------------------------------------------------

    async def positions(self) -> dict[str, float]:
        """Source name → the newest ``eventCreatedOn`` it had yielded when last saved: where a
        Gerrit source catches up from after a restart."""

        def select(conn: sqlite3.Connection) -> dict[str, float]:
            return dict(conn.execute("SELECT source, created FROM positions"))

        return await self._run(select)

    async def save_positions(self, positions: dict[str, float]) -> None:
        """Remember each source's position; a position never moves back."""

        def upsert(conn: sqlite3.Connection) -> None:
            with conn:
                conn.executemany(
                    "INSERT INTO positions (source, created) VALUES (?, ?) ON CONFLICT(source)"
                    " DO UPDATE SET created = max(created, excluded.created)",
                    positions.items(),
                )

        await self._run(upsert)

    # --- chat audit and cache -------------------------------------------------------------

    async def audit(self, user: str, room: str, command: str, result: str) -> None:
        """Record who ran which chat command where, and what came of it."""
        await self._execute(
            "INSERT INTO audit (at, user, room, command, result) VALUES (?, ?, ?, ?, ?)",
            (time.time(), user, room, command[:500], result[:200]),
        )

    async def audit_log(self, limit: int = 50) -> list[tuple[float, str, str, str, str]]:
        def select(conn: sqlite3.Connection) -> list[tuple[float, str, str, str, str]]:
            rows = conn.execute(
                "SELECT at, user, room, command, result FROM audit ORDER BY at DESC LIMIT ?",
                (limit,),
            )
            return [tuple(row) for row in rows]

        return await self._run(select)

    async def cache_get(self, key: str) -> Any:
        """A cached JSON value, or None when absent or expired."""

        def select(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT value FROM cache WHERE key = ? AND expires > ?", (key, time.time())
            ).fetchone()
            return row[0] if row else None

        text = await self._run(select)
        return json.loads(text) if text else None

    async def cache_put(self, key: str, value: Any, ttl: float) -> None:
        await self._execute(
            "INSERT OR REPLACE INTO cache (key, value, expires) VALUES (?, ?, ?)",
            (key, json.dumps(value), time.time() + ttl),
        )

    # --- upkeep ---------------------------------------------------------------------------

    async def prune(self, older_than: float) -> int:
        """Drop finished builds, their deliveries and audit rows older than ``older_than`` s.

        Deliveries of a build still unfinished are kept whatever their age: they are what stops
        its resumption from announcing again. Returns how many builds were dropped.
        """
        cutoff = time.time() - older_than

        def delete(conn: sqlite3.Connection) -> int:
            with conn:
                n = conn.execute(
                    "DELETE FROM builds WHERE done IS NOT NULL AND done < ?", (cutoff,)
                ).rowcount
                # A build's messages are journaled under its key and under ``key#…`` (its
                # second message, each line of a long one): all belong to the build.
                conn.execute(
                    "DELETE FROM deliveries WHERE sent < ? AND NOT EXISTS (SELECT 1 FROM builds"
                    " WHERE done IS NULL AND (build_key = builds.key"
                    " OR substr(build_key, 1, length(builds.key) + 1) = builds.key || '#'))",
                    (cutoff,),
                )
                conn.execute("DELETE FROM audit WHERE at < ?", (cutoff,))
                evidence.prune(conn)
                digests.prune(conn, min(cutoff, time.time() - digests.KEEP))
                lifecycle.prune(conn, min(cutoff, time.time() - lifecycle.KEEP))
                conn.execute("DELETE FROM cache WHERE expires < ?", (time.time(),))
            return int(n)

        return await self._run(delete)

    async def _execute(self, sql: str, params: tuple[Any, ...]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute(sql, params)

        await self._run(run)


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=10, check_same_thread=False)
    # WAL: readers never block the writer, and a crash mid-write leaves the last commit intact.
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL, not NORMAL: a "sending"/"sent" commit must survive a power cut too, or the
    # exactly-once promise would only hold for process crashes.
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(_SCHEMA)
    _migrate(conn)
    conn.executescript(evidence.SCHEMA)
    conn.executescript(digests.SCHEMA)
    conn.executescript(lifecycle.SCHEMA)
    conn.executescript(settled.SCHEMA)
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    """Add the columns a journal written by an older version lacks."""
    with conn:
        for table, column, definition in _COLUMNS:
            have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
