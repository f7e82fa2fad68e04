"""The journal's writes to the trackers: each week's impact comment per bug, each cluster a
bug was filed for. Neither ever happens twice, restarts included.

A write is journaled *before* it is sent (``posting``/``filing``) and again once the tracker
answered (``posted``/``edited``/``filed``, with what names the comment or the bug there) or
refused (``given-up``, with why). A row left at ``posting``/``filing`` by a process that died
mid-request means the tracker may have the comment or the bug: it is never sent again (at most
once, as for chat deliveries: a duplicate on a bug is worse than a missed week).

``feedback_comments``: a row per (bug, week). The newest row of a bug that names a comment is
what next week's edit updates. ``filed_clusters``: a row per cluster id, kept for good (a few
bytes each), so a cluster that comes back months later is not filed again. Journals written
before the tables existed get them when opened.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Literal

from bot.core.sqlite import SqliteWorker

CommentState = Literal["posting", "posted", "edited", "given-up"]
FilingState = Literal["filing", "filed", "given-up"]

#: Seconds a weekly comment's row is kept, unless it is its bug's newest (to edit next week).
KEEP = 120 * 86_400.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback_comments (
    bug TEXT NOT NULL,
    week TEXT NOT NULL,
    state TEXT NOT NULL,
    comment TEXT,
    url TEXT,
    at REAL NOT NULL,
    reason TEXT,
    PRIMARY KEY (bug, week)
);
CREATE TABLE IF NOT EXISTS filed_clusters (
    cluster TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    bug TEXT,
    url TEXT,
    at REAL NOT NULL,
    proposal TEXT,
    reason TEXT
);
"""


@dataclass(frozen=True)
class CommentRow:
    bug: str  # kind:id
    week: str
    state: CommentState
    comment: str | None  # what names the comment on the tracker
    url: str | None
    at: float
    reason: str | None = None


@dataclass(frozen=True)
class FiledRow:
    cluster: str
    state: FilingState
    bug: str | None  # kind:id of the filed bug
    url: str | None
    at: float
    proposal: str | None = None  # the change that adopts its query
    reason: str | None = None


def prune(conn: sqlite3.Connection, cutoff: float) -> None:
    """Drop comment rows older than ``cutoff`` except each bug's newest naming a comment
    (inside the caller's transaction)."""
    conn.execute(
        "DELETE FROM feedback_comments WHERE at < ? AND rowid NOT IN (SELECT rowid FROM"
        " feedback_comments AS f WHERE comment IS NOT NULL AND at = (SELECT max(at) FROM"
        " feedback_comments WHERE bug = f.bug AND comment IS NOT NULL))",
        (cutoff,),
    )


class LifecycleJournal(SqliteWorker):
    """The feedback questions of :class:`bot.state.StateStore` (which runs them)."""

    # --- weekly comments ----------------------------------------------------------------------

    async def comment_row(self, bug: str, week: str) -> CommentRow | None:
        """What happened to ``bug``'s comment of ``week`` (None: nothing yet)."""

        def select(conn: sqlite3.Connection) -> CommentRow | None:
            row = conn.execute(
                "SELECT bug, week, state, comment, url, at, reason FROM feedback_comments"
                " WHERE bug = ? AND week = ?",
                (bug, week),
            ).fetchone()
            return CommentRow(*row) if row else None

        return await self._run(select)

    async def last_comment(self, bug: str) -> CommentRow | None:
        """The newest row of ``bug`` that names a comment on its tracker."""

        def select(conn: sqlite3.Connection) -> CommentRow | None:
            row = conn.execute(
                "SELECT bug, week, state, comment, url, at, reason FROM feedback_comments"
                " WHERE bug = ? AND comment IS NOT NULL ORDER BY at DESC LIMIT 1",
                (bug,),
            ).fetchone()
            return CommentRow(*row) if row else None

        return await self._run(select)

    async def claim_comment(self, bug: str, week: str, now: float) -> bool:
        """Journal ``posting`` for (bug, week) unless any row is there; True: go ahead."""

        def insert(conn: sqlite3.Connection) -> bool:
            with conn:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO feedback_comments (bug, week, state, at)"
                    " VALUES (?, ?, 'posting', ?)",
                    (bug, week, now),
                )
            return cur.rowcount == 1

        return await self._run(insert)

    async def settle_comment(
        self,
        bug: str,
        week: str,
        state: CommentState,
        now: float,
        *,
        comment: str | None = None,
        url: str | None = None,
        reason: str | None = None,
    ) -> None:
        """The tracker answered (``posted``/``edited`` with the comment) or refused."""

        def update(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute(
                    "UPDATE feedback_comments SET state = ?, comment = ?, url = ?, at = ?,"
                    " reason = ? WHERE bug = ? AND week = ?",
                    (state, comment, url, now, (reason or "")[:500] or None, bug, week),
                )

        await self._run(update)

    async def release_comment(self, bug: str, week: str) -> None:
        """The tracker refused before taking anything (a rate limit): the claim goes."""

        def delete(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute(
                    "DELETE FROM feedback_comments WHERE bug = ? AND week = ?"
                    " AND state = 'posting'",
                    (bug, week),
                )

        await self._run(delete)

    async def comment_rows(self, week: str) -> list[CommentRow]:
        def select(conn: sqlite3.Connection) -> list[CommentRow]:
            rows = conn.execute(
                "SELECT bug, week, state, comment, url, at, reason FROM feedback_comments"
                " WHERE week = ? ORDER BY bug",
                (week,),
            )
            return [CommentRow(*row) for row in rows]

        return await self._run(select)

    # --- filed clusters -----------------------------------------------------------------------

    async def filed(self, cluster: str) -> FiledRow | None:
        def select(conn: sqlite3.Connection) -> FiledRow | None:
            row = conn.execute(
                "SELECT cluster, state, bug, url, at, proposal, reason FROM filed_clusters"
                " WHERE cluster = ?",
                (cluster,),
            ).fetchone()
            return FiledRow(*row) if row else None

        return await self._run(select)

    async def claim_cluster(self, cluster: str, now: float) -> bool:
        """Journal ``filing`` for ``cluster`` unless it has a row; True: go ahead and file."""

        def insert(conn: sqlite3.Connection) -> bool:
            with conn:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO filed_clusters (cluster, state, at)"
                    " VALUES (?, 'filing', ?)",
                    (cluster, now),
                )
            return cur.rowcount == 1

        return await self._run(insert)

    async def settle_cluster(
        self,
        cluster: str,
        state: FilingState,
        now: float,
        *,
        bug: str | None = None,
        url: str | None = None,
        reason: str | None = None,
    ) -> None:
        def update(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute(
                    "UPDATE filed_clusters SET state = ?, bug = ?, url = ?, at = ?, reason = ?"
                    " WHERE cluster = ?",
                    (state, bug, url, now, (reason or "")[:500] or None, cluster),
                )

        await self._run(update)

    async def release_cluster(self, cluster: str) -> None:
        """The tracker refused before taking anything (a rate limit): the claim goes."""

        def delete(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute(
                    "DELETE FROM filed_clusters WHERE cluster = ? AND state = 'filing'",
                    (cluster,),
                )

        await self._run(delete)

    async def record_proposal(self, cluster: str, proposal: str) -> None:
        """The change that adopts the filed bug's query (its URL, or why there is none)."""

        def update(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute(
                    "UPDATE filed_clusters SET proposal = ? WHERE cluster = ?",
                    (proposal[:500], cluster),
                )

        await self._run(update)

    async def filed_rows(self) -> list[FiledRow]:
        def select(conn: sqlite3.Connection) -> list[FiledRow]:
            rows = conn.execute(
                "SELECT cluster, state, bug, url, at, proposal, reason FROM filed_clusters"
                " ORDER BY at"
            )
            return [FiledRow(*row) for row in rows]

        return await self._run(select)
