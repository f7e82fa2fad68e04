"""Pruning the query repository: the ``elastic-recheck-cleanup`` the TripleO design lists and
ER never shipped.

A query can go when its bug is closed in its tracker and it did not hit in the last N days (the
fix worked), or when it never hit at all (nothing in the whole index: a query that cannot
match, or one whose failure is long gone). A query whose bug is closed but that still hits is
kept: the fix did not fix it (``quality`` flags it). Queries whose hits or bug could not be
read are not judged. ``--propose`` removes the files through :mod:`bot.lifecycle.propose`; an
entry of a TripleO file holding many queries is named, not removed (edit the file by hand).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from bot.bugs import Bug
from bot.config.propose import ProposeSettings
from bot.lifecycle.propose import Change, ProposeError
from bot.queries import Query
from bot.search.base import SearchBackend
from bot.search.stats import query_hit_counts
from bot.trackers.client import TrackerClient

Reason = Literal["closed", "never-hit"]
#: "Ever", for a search index: ten years back (ER's indices keep days, not years).
EVER_DAYS = 3650


@dataclass(frozen=True)
class Stale:
    """A query that can go, and why."""

    query: Query
    reason: Reason
    detail: str
    tracker: Bug | None = None  # its bug as the tracker described it

    @property
    def removable(self) -> bool:
        """Whether proposing its removal is deleting a file (not an entry of a TripleO file)."""
        return self.query.location is None and self.query.source is not None


@dataclass(frozen=True)
class CleanupReport:
    days: int
    checked: int
    stale: tuple[Stale, ...]
    unknown: tuple[str, ...]  # query ids whose hits could not be read


# --- pure -----------------------------------------------------------------------------------


def stale_queries(
    queries: Sequence[Query],
    recent: Mapping[str, int],
    ever: Mapping[str, int],
    details: Mapping[Bug, Bug | None],
    days: int,
) -> list[Stale]:
    """The queries that can go (see the module doc), in the order given."""
    found: list[Stale] = []
    for query in queries:
        if ever.get(query.id) == 0:
            found.append(Stale(query, "never-hit", "never hit: nothing in the whole index"))
            continue
        bug = details.get(query.bug)
        if bug is None or not bug.closed or recent.get(query.id) != 0:
            continue
        status = f" ({bug.status})" if bug.status else ""
        since = f" since {bug.closed_since:%Y-%m-%d}" if bug.closed_since else ""
        detail = f"bug {bug.id} closed{status}{since}, no hit in {days} days"
        found.append(Stale(query, "closed", detail, bug))
    return found


def repo_path(query: Query, queries_dir: Path, settings: ProposeSettings) -> str:
    """Where ``query``'s file is in the proposed-to repository: ``propose.path`` + its path
    under the local query directory."""
    assert query.source is not None
    try:
        relative = query.source.resolve().relative_to(queries_dir.resolve())
    except ValueError:  # the repo is one file (TripleO): its name
        relative = Path(query.source.name)
    return str(PurePosixPath(settings.path) / relative.as_posix())


def removal_change(
    stale: Sequence[Stale], queries_dir: Path, settings: ProposeSettings, now: datetime
) -> Change:
    """The change that removes every removable stale query's file; ProposeError when none."""
    files = {repo_path(s.query, queries_dir, settings): None for s in stale if s.removable}
    if not files:
        raise ProposeError("no query file to remove")
    lines = [f"- {s.query.id}: {s.detail}" for s in stale if s.removable]
    body = (
        "Removed by recheckbot cleanup: queries whose bug is closed and that stopped hitting,"
        " and queries that never hit.\n\n" + "\n".join(lines)
    )
    noun = "query" if len(files) == 1 else "queries"
    return Change(files, f"Remove {len(files)} stale {noun}", body, f"cleanup-{now:%Y-%m-%d}")


def format_cleanup(report: CleanupReport) -> str:
    """A summary line, then ``path: why`` per stale query."""
    lines = [
        f"{len(report.stale)} of {report.checked} queries can go (bug closed and no hit in "
        f"{report.days} days, or never hit)"
    ]
    for stale in report.stale:
        where = stale.query.source or Path(stale.query.id)
        entry = f"{stale.query.location} ({stale.query.id}): " if stale.query.location else ""
        kept = "" if stale.removable else " — an entry of a file of many: remove it by hand"
        lines.append(f"{where}: {entry}{stale.detail}{kept}")
    if report.unknown:
        lines.append(f"not judged (the search server did not answer): {', '.join(report.unknown)}")
    return "\n".join(lines)


def cleanup_json(report: CleanupReport) -> dict[str, Any]:
    return {
        "days": report.days,
        "checked": report.checked,
        "stale": [
            {
                "id": s.query.id,
                "path": str(s.query.source) if s.query.source else None,
                "location": s.query.location,
                "reason": s.reason,
                "detail": s.detail,
                "bug": s.query.bug.url or None,
                "status": s.tracker.status if s.tracker else None,
                "removable": s.removable,
            }
            for s in report.stale
        ],
        "not_judged": list(report.unknown),
    }


# --- the round trips ------------------------------------------------------------------------


async def find_stale(
    backend: SearchBackend,
    trackers: TrackerClient | None,
    queries: Sequence[Query],
    *,
    days: int,
) -> CleanupReport:
    """Hits over ``days`` and ever, each tracked bug's status, then :func:`stale_queries`."""
    effective = {q.id: q.effective for q in queries}
    recent, ever = await asyncio.gather(
        query_hit_counts(backend, effective, days=days),
        query_hit_counts(backend, effective, days=EVER_DAYS),
    )
    details: dict[Bug, Bug | None] = {}
    if trackers is not None:
        # Only the bugs of queries that hit once and stopped are worth a request.
        quiet = [
            q.bug
            for q in queries
            if recent.get(q.id) == 0 and ever.get(q.id, 0) > 0 and trackers.wants(q.bug)
        ]
        details = await trackers.lookup_all(quiet)
    unknown = tuple(q.id for q in queries if q.id not in recent or q.id not in ever)
    stale = stale_queries(queries, recent, ever, details, days)
    return CleanupReport(days, len(queries), tuple(stale), unknown)
