"""The impact journal: the facts a bug's cost is counted from, in the state journal's SQLite file.

The search index knows which builds failed; it does not know what the failures cost people. The
bot does: it judged each failed build, and it reads the Gerrit comments around it. So it writes
down, in tables of its own next to :mod:`bot.state`'s:

* every judged failed build: its change, patchset, project, queue, time, and each failed job
  whose verdict named a bug, with the job's duration from Zuul's report;
* every report a CI account posted on a patchset (failed builds and the rest): a report ends the
  time in which a recheck is blamed on the failure before it;
* every ``recheck`` / ``reverify`` comment;
* each named bug's id, link and title as the verdict gave them.

:mod:`bot.intel.impact` counts from these. The tables have their own schema version
(``impact_version``), so they migrate without touching the rest of the file; the connection is
our own, on its own worker thread, like :class:`bot.state.StateStore`'s (SQLite in WAL mode lets
the two share the file). Rows older than what the impact windows need are dropped by
:meth:`ImpactJournal.prune`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.errors import ReadableError
from bot.core.sqlite import SqliteWorker

#: Each entry moves the tables from version N (its index) to N + 1; never edit a released one.
_MIGRATIONS = (
    """
    CREATE TABLE impact_builds (
        build_key TEXT NOT NULL, created REAL NOT NULL, server TEXT NOT NULL,
        change TEXT NOT NULL, patchset TEXT NOT NULL, project TEXT NOT NULL, queue TEXT,
        PRIMARY KEY (build_key, created)
    );
    CREATE TABLE impact_jobs (
        build_key TEXT NOT NULL, created REAL NOT NULL, job TEXT NOT NULL, bug TEXT NOT NULL,
        seconds REAL, PRIMARY KEY (build_key, created, job, bug)
    );
    CREATE TABLE impact_reports (
        server TEXT NOT NULL, change TEXT NOT NULL, patchset TEXT NOT NULL,
        created REAL NOT NULL, build_key TEXT NOT NULL,
        PRIMARY KEY (server, change, patchset, created, build_key)
    );
    CREATE TABLE impact_rechecks (
        server TEXT NOT NULL, change TEXT NOT NULL, patchset TEXT NOT NULL,
        created REAL NOT NULL, author TEXT NOT NULL, word TEXT NOT NULL,
        PRIMARY KEY (server, change, patchset, created, author)
    );
    CREATE TABLE impact_bugs (
        bug TEXT PRIMARY KEY, id TEXT NOT NULL, url TEXT NOT NULL, title TEXT, seen REAL NOT NULL
    );
    CREATE INDEX impact_builds_created ON impact_builds (created);
    CREATE INDEX impact_reports_created ON impact_reports (created);
    CREATE INDEX impact_rechecks_created ON impact_rechecks (created);
    """,
)
VERSION = len(_MIGRATIONS)


class ImpactJournalError(ReadableError):
    """The impact tables cannot be used (the file is no SQLite, or newer than this bot)."""


@dataclass(frozen=True)
class JudgedJob:
    """A failed job of a judged build and the bugs its verdict named (``Bug.key``s)."""

    name: str
    seconds: float | None  # from Zuul's report ("FAILURE in 12m 03s"); None: not reported
    bugs: tuple[str, ...]


@dataclass(frozen=True)
class JudgedBuild:
    """A failed build the bot judged. ``key`` + ``created`` tell two failures of one patchset
    in one queue apart (the journal's key alone does not: a recheck fails under the same key)."""

    key: str
    created: float
    server: str
    change: str
    patchset: str
    project: str
    queue: str | None
    jobs: tuple[JudgedJob, ...]  # only the jobs whose verdict named a bug


@dataclass(frozen=True)
class ReportFact:
    """A CI report on a patchset; ``build_key`` is set when it reported a failed build."""

    server: str
    change: str
    patchset: str
    created: float
    build_key: str | None = None


@dataclass(frozen=True)
class RecheckFact:
    server: str
    change: str
    patchset: str
    created: float
    author: str
    word: str = "recheck"


@dataclass(frozen=True)
class BugLabel:
    """How a bug was shown in its latest verdict."""

    key: str  # Bug.key, "launchpad:1716008"
    id: str
    url: str  # "" when no bug is filed
    title: str | None


@dataclass(frozen=True)
class ImpactFacts:
    """Everything journaled since some time, for :func:`bot.intel.impact.impact_report`."""

    builds: tuple[JudgedBuild, ...] = ()
    reports: tuple[ReportFact, ...] = ()
    rechecks: tuple[RecheckFact, ...] = ()
    bugs: tuple[BugLabel, ...] = ()


class ImpactJournal(SqliteWorker):
    """The impact tables; open with ``await ImpactJournal.open(path)`` (the state file)."""

    @classmethod
    async def open(cls, path: Path | str) -> ImpactJournal:
        """Open the file (created when missing) and bring its impact tables up to date."""
        failures = (sqlite3.Error, OSError, ImpactJournalError)
        opened = await cls.connect_in_thread(
            str(path), _connect, name="impact", error=ImpactJournalError, failures=failures
        )
        return cls(*opened)

    async def _write(self, statements: Sequence[tuple[str, Iterable[tuple[Any, ...]]]]) -> None:
        """Run ``(sql, rows)`` pairs in one transaction; a row already there is left alone."""

        def write(conn: sqlite3.Connection) -> None:
            with conn:
                for sql, rows in statements:
                    conn.executemany(sql, rows)

        await self._run(write)

    async def add_judged(self, build: JudgedBuild, bugs: Sequence[BugLabel] = ()) -> None:
        """A judged failed build, its bug-named jobs and the bugs' labels (idempotent: judging
        resumed after a restart writes the same rows)."""
        ident = (build.key, build.created)
        where = (build.server, build.change, build.patchset)
        await self._write(
            [
                (
                    "INSERT OR REPLACE INTO impact_builds VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(*ident, *where, build.project, build.queue)],
                ),
                (
                    "INSERT OR REPLACE INTO impact_jobs VALUES (?, ?, ?, ?, ?)",
                    [
                        (*ident, job.name, bug, job.seconds)
                        for job in build.jobs
                        for bug in job.bugs
                    ],
                ),
                (
                    "INSERT OR REPLACE INTO impact_reports VALUES (?, ?, ?, ?, ?)",
                    [(*where, build.created, build.key)],
                ),
                (
                    "INSERT OR REPLACE INTO impact_bugs VALUES (?, ?, ?, ?, ?)",
                    [(b.key, b.id, b.url, b.title, time.time()) for b in bugs],
                ),
            ]
        )

    async def add_report(self, report: ReportFact) -> None:
        row = (report.server, report.change, report.patchset, report.created, report.build_key)
        await self._write(
            [("INSERT OR IGNORE INTO impact_reports VALUES (?, ?, ?, ?, ?)", [_blank_key(row)])]
        )

    async def add_recheck(self, recheck: RecheckFact) -> None:
        r = recheck
        row = (r.server, r.change, r.patchset, r.created, r.author, r.word)
        await self._write(
            [("INSERT OR IGNORE INTO impact_rechecks VALUES (?, ?, ?, ?, ?, ?)", [row])]
        )

    async def facts(self, since: float) -> ImpactFacts:
        """What was journaled about events at or after ``since`` (epoch seconds)."""
        return await self._run(lambda conn: _select_facts(conn, since))

    async def prune(self, older_than: float) -> int:
        """Drop facts about events more than ``older_than`` seconds old; how many builds."""
        cutoff = time.time() - older_than

        def delete(conn: sqlite3.Connection) -> int:
            with conn:
                dropped = conn.execute("DELETE FROM impact_builds WHERE created < ?", (cutoff,))
                for table in ("impact_jobs", "impact_reports", "impact_rechecks"):
                    conn.execute(f"DELETE FROM {table} WHERE created < ?", (cutoff,))
                conn.execute("DELETE FROM impact_bugs WHERE seen < ?", (cutoff,))
            return int(dropped.rowcount)

        return await self._run(delete)


def _blank_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # '' and not NULL for "no failed build": NULLs are all distinct in a primary key, so the
    # same report read twice (stream and catch-up) would be two rows.
    return (*row[:-1], row[-1] or "")


def _select_facts(conn: sqlite3.Connection, since: float) -> ImpactFacts:
    def rows(sql: str) -> list[tuple[Any, ...]]:
        return list(conn.execute(sql, (since,)))

    jobs = _judged_jobs(
        rows(
            "SELECT build_key, created, job, seconds, bug FROM impact_jobs WHERE created >= ?"
            " ORDER BY build_key, created, job, bug"
        )
    )
    builds = tuple(
        JudgedBuild(key, created, server, change, ps, project, queue, jobs.get((key, created), ()))
        for key, created, server, change, ps, project, queue in rows(
            "SELECT build_key, created, server, change, patchset, project, queue"
            " FROM impact_builds WHERE created >= ? ORDER BY created, build_key"
        )
    )
    reports = tuple(
        ReportFact(server, change, patchset, created, key or None)
        for server, change, patchset, created, key in rows(
            "SELECT server, change, patchset, created, build_key FROM impact_reports"
            " WHERE created >= ? ORDER BY created"
        )
    )
    rechecks = tuple(
        RecheckFact(*row)
        for row in rows(
            "SELECT server, change, patchset, created, author, word FROM impact_rechecks"
            " WHERE created >= ? ORDER BY created"
        )
    )
    labels = conn.execute("SELECT bug, id, url, title FROM impact_bugs ORDER BY bug")
    return ImpactFacts(builds, reports, rechecks, tuple(BugLabel(*row) for row in labels))


def _judged_jobs(
    rows: Iterable[tuple[Any, ...]],
) -> dict[tuple[str, float], tuple[JudgedJob, ...]]:
    """``(build key, created, job, seconds, bug)`` rows, sorted → the jobs of each build."""
    named: dict[tuple[str, float, str], tuple[float | None, list[str]]] = {}
    for key, created, job, seconds, bug in rows:
        named.setdefault((key, created, job), (seconds, []))[1].append(bug)
    jobs: dict[tuple[str, float], list[JudgedJob]] = {}
    for (key, created, job), (seconds, bugs) in named.items():
        jobs.setdefault((key, created), []).append(JudgedJob(job, seconds, tuple(bugs)))
    return {build: tuple(found) for build, found in jobs.items()}


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=10, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL: in WAL mode a commit survives a crash of the process; a power cut may lose the
    # last few facts, which only makes a count a little low (deliveries keep FULL in bot.state).
    conn.execute("PRAGMA synchronous=NORMAL")
    _migrate(conn)
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    """Run the migrations this file has not had yet, each in its own transaction."""
    with conn:
        conn.execute("CREATE TABLE IF NOT EXISTS impact_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM impact_version").fetchone()
        if row is None:
            conn.execute("INSERT INTO impact_version VALUES (0)")
    version = row[0] if row else 0
    if version > VERSION:
        raise ImpactJournalError(f"impact tables of version {version}; this bot knows {VERSION}")
    for number, script in enumerate(_MIGRATIONS[version:], start=version):
        # executescript commits on its own: the script and the version move together because
        # the version is written inside it.
        conn.executescript(
            f"BEGIN; {script}; UPDATE impact_version SET version = {number + 1}; COMMIT;"
        )
