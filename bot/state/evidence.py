"""The journal's evidence: the log lines each verdict's queries matched, kept with the verdict.

A row per line: which build (its journal key), which failed job, which query (and the bug it
announces), and the line itself (:class:`~bot.search.lines.LogLine`). Rows are written in the
transaction that saves the verdict, so a verdict is never journaled without its lines, and go
when their build is pruned. Journals written before the table existed get it when opened (an
empty one: verdicts of those builds have no lines to show).

Two questions are asked of it: what the judged builds of one change said (``!why``), and where
one query matched lately (a bug's page). Both by index: the table's on query, and one on the
change number inside the builds' JSON.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot.core.sqlite import SqliteWorker
from bot.events.model import FailedBuild
from bot.search.lines import LogLine
from bot.state.codec import build_from_json

SCHEMA = """
CREATE TABLE IF NOT EXISTS evidence (
    build_key TEXT NOT NULL,
    job TEXT NOT NULL,
    query TEXT NOT NULL,
    bug TEXT NOT NULL,
    n INTEGER NOT NULL,
    message TEXT NOT NULL,
    file TEXT NOT NULL,
    url TEXT,
    logged TEXT NOT NULL,
    saved REAL NOT NULL,
    PRIMARY KEY (build_key, job, query, n)
);
CREATE INDEX IF NOT EXISTS evidence_query ON evidence (query, saved);
CREATE INDEX IF NOT EXISTS builds_change ON builds (json_extract(build, '$.change'));
"""
#: Judged builds of one change read at most (a change is rechecked a few times, not hundreds).
MAX_JUDGED = 50
_LINE_COLUMNS = "job, query, bug, message, file, url, logged"


@dataclass(frozen=True)
class Matched:
    """The lines one query matched in one failed job."""

    query: str  # the query's id
    bug: str  # the id of the bug it announces, as announced
    lines: tuple[LogLine, ...] = ()


#: Per failed job name, what matched in it.
JobsEvidence = Mapping[str, Sequence[Matched]]


@dataclass(frozen=True)
class Judged:
    """A journaled build with its saved verdict and the evidence saved with it."""

    key: str
    build: FailedBuild
    verdict: Mapping[str, Any]  # as saved (``bot.watch.outcome.Outcome.to_json``)
    received: float  # epoch seconds the event was journaled
    evidence: JobsEvidence = field(default_factory=dict)


@dataclass(frozen=True)
class Sighting:
    """One failed job a query matched, with the lines."""

    key: str  # the build's journal key
    build: FailedBuild
    job: str
    saved: float  # epoch seconds the verdict was saved
    matched: Matched


def insert(conn: sqlite3.Connection, key: str, evidence: JobsEvidence, now: float) -> None:
    """Replace ``key``'s rows by ``evidence`` (inside the caller's transaction)."""
    conn.execute("DELETE FROM evidence WHERE build_key = ?", (key,))
    conn.executemany(
        "INSERT OR REPLACE INTO evidence (build_key, job, query, bug, n, message, file, url,"
        " logged, saved) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (key, job, m.query, m.bug, n, line.message, line.file, line.url, line.logged, now)
            for job, matched in evidence.items()
            for m in matched
            for n, line in enumerate(m.lines)
        ],
    )


def prune(conn: sqlite3.Connection) -> None:
    """Drop the rows of builds no longer journaled (inside the caller's transaction)."""
    conn.execute(
        "DELETE FROM evidence WHERE NOT EXISTS (SELECT 1 FROM builds WHERE key = build_key)"
    )


def select_judged(
    conn: sqlite3.Connection, change: str, patchset: str | None, limit: int
) -> list[Judged]:
    """The judged builds of ``change`` (``patchset`` only, if given), newest first."""
    rows = conn.execute(
        "SELECT key, build, verdict, received FROM builds"
        " WHERE json_extract(build, '$.change') = ? AND verdict IS NOT NULL"
        " AND (? IS NULL OR json_extract(build, '$.patchset') = ?)"
        " ORDER BY received DESC, key LIMIT ?",
        (change, patchset, patchset, limit),
    ).fetchall()
    found = _evidence_of(conn, [row[0] for row in rows])
    return [
        Judged(key, build_from_json(text), json.loads(verdict), received, found.get(key, {}))
        for key, text, verdict, received in rows
    ]


def select_sightings(conn: sqlite3.Connection, query: str, limit: int) -> list[Sighting]:
    """Where ``query`` matched, newest verdict first: the latest ``limit`` builds and jobs."""
    rows = conn.execute(
        "WITH latest AS (SELECT build_key, job, max(saved) AS saved FROM evidence"
        " WHERE query = ? GROUP BY build_key, job ORDER BY saved DESC, build_key, job LIMIT ?)"
        " SELECT e.build_key, b.build, l.saved, e.job, e.query, e.bug, e.message, e.file,"
        " e.url, e.logged FROM latest l"
        " JOIN evidence e ON e.build_key = l.build_key AND e.job = l.job AND e.query = ?"
        " JOIN builds b ON b.key = e.build_key"
        " ORDER BY l.saved DESC, e.build_key, e.job, e.n",
        (query, limit, query),
    )
    found: dict[tuple[str, str], Sighting] = {}
    for key, text, saved, *line in rows:
        job, matched = _matched(line)
        seen = found.get((key, job))
        if seen is None:
            found[(key, job)] = Sighting(key, build_from_json(text), job, saved, matched)
        else:
            lines = seen.matched.lines + matched.lines
            found[(key, job)] = replace(seen, matched=replace(matched, lines=lines))
    return list(found.values())


def _evidence_of(conn: sqlite3.Connection, keys: Sequence[str]) -> dict[str, JobsEvidence]:
    if not keys:
        return {}
    marks = ", ".join("?" * len(keys))
    rows = conn.execute(
        f"SELECT build_key, {_LINE_COLUMNS} FROM evidence WHERE build_key IN ({marks})"
        " ORDER BY build_key, job, query, n",
        tuple(keys),
    )
    found: dict[str, dict[str, dict[str, Matched]]] = {}
    for key, *line in rows:
        job, matched = _matched(line)
        by_query = found.setdefault(key, {}).setdefault(job, {})
        seen = by_query.get(matched.query)
        lines = (seen.lines if seen else ()) + matched.lines
        by_query[matched.query] = replace(matched, lines=lines)
    return {
        key: {job: tuple(by_query.values()) for job, by_query in jobs.items()}
        for key, jobs in found.items()
    }


def _matched(row: Iterable[Any]) -> tuple[str, Matched]:
    job, query, bug, message, file, url, logged = row
    return job, Matched(query, bug, (LogLine(message, file, url, logged),))


class EvidenceJournal(SqliteWorker):
    """The evidence questions of :class:`bot.state.StateStore` (which runs them)."""

    async def judged(self, change: str, patchset: str | None = None) -> list[Judged]:
        """The judged builds of a change (one patchset's, if given), newest first, with their
        verdicts and evidence; at most :data:`MAX_JUDGED`."""
        return await self._run(lambda conn: select_judged(conn, change, patchset, MAX_JUDGED))

    async def sightings(self, query: str, limit: int = 10) -> list[Sighting]:
        """The latest ``limit`` failed jobs ``query`` matched, with the lines it matched."""
        return await self._run(lambda conn: select_sightings(conn, query, limit))
