"""The journal's digests: which room had which week's digest, so a restart never sends it twice.

A row per (room, week) once the digest was sent or given up (the delivery journal keeps the
message itself exactly once; this table lets the bot skip gathering a digest it already sent).
Journals written before the table existed get it when opened.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection

from bot.core.sqlite import SqliteWorker

#: Seconds a row is kept at least, whatever the journal's own ``keep_days``: longer than a week,
#: so this week's row is there as long as this week's digest could go out.
KEEP = 8 * 86_400.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS digests (
    room TEXT NOT NULL,
    week TEXT NOT NULL,
    sent REAL NOT NULL,
    result TEXT NOT NULL,
    PRIMARY KEY (room, week)
);
"""


def prune(conn: sqlite3.Connection, cutoff: float) -> None:
    """Drop the rows of digests sent before ``cutoff`` (inside the caller's transaction): their
    weeks are long over."""
    conn.execute("DELETE FROM digests WHERE sent < ?", (cutoff,))


class DigestJournal(SqliteWorker):
    """The digest questions of :class:`bot.state.StateStore` (which runs them)."""

    async def digested(self, week: str, rooms: Collection[str]) -> set[str]:
        """Which of ``rooms`` (room keys) had the digest of ``week`` (``2026-W22``)."""

        def select(conn: sqlite3.Connection) -> set[str]:
            rows = conn.execute("SELECT room FROM digests WHERE week = ?", (week,))
            return {room for (room,) in rows} & set(rooms)

        return await self._run(select)

    async def record_digest(self, room: str, week: str, result: str, now: float) -> None:
        """``room`` had the digest of ``week``: ``sent``, ``already`` or ``given-up``."""

        def insert(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute(
                    "INSERT OR REPLACE INTO digests (room, week, sent, result) VALUES (?, ?, ?, ?)",
                    (room, week, now, result),
                )

        await self._run(insert)
