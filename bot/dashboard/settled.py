"""The settled hours a graph keeps between refreshes, and how a refresh moves them on.

Logs arrive late, but not forever: an hour older than the settle margin (``dashboard.
settle_margin_minutes``) is taken as final. Its tally (:class:`~bot.dashboard.tally.Tally`) is
kept per query, with a digest of what was searched (the query's text and the graphed queue), so
that an edited query is asked over the whole window again and a removed one is dropped. A
refresh (:func:`plan`) asks each kept query only for the hours from the settle point it reached
last time, a new or edited query for the whole window; then (:func:`advance`) the kept hours that
left the window are dropped, those that settled since are added, and the window's tally of each
query is the kept one merged with the newer hours. Everything is asked again once a day
(``dashboard.full_refresh_hours``), on ``!refresh full``, and when the kept hours cannot be
carried on (another window size, a clock gone back, a gap longer than the window).

Pure: the model, the plan, the merge and the codec of what the journal stores
(:mod:`bot.state.settled`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.dashboard.details import LatestBuild, latest_json
from bot.dashboard.tally import Answer, Leaf, Span, Tally, merge
from bot.dashboard.window import STEP_MS, Window, hour_of

#: Bump when a tally's meaning changes: every kept hour is then asked again.
FORMAT = 1
#: The journal row of the graph itself (its queries' rows are named by query id).
GRAPH_ROW = ""


@dataclass(frozen=True)
class Kept:
    """One query's settled hours, and a digest of the text that counted them."""

    digest: str
    tally: Tally


@dataclass(frozen=True)
class Settled:
    """What one graph keeps: every query's tally of the hours before ``until_ms``."""

    days: int
    until_ms: int  # hours before it are settled
    full_ms: int  # when every hour was last asked
    newest_ms: int | None = None  # the newest document of all before until_ms
    queries: Mapping[str, Kept] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """A refresh: what is carried over, and which queries are asked for which hours."""

    window: Window
    settle_ms: int
    kept: Settled | None  # None: every hour is asked
    carried: tuple[str, ...]  # asked from kept.until_ms
    fresh: tuple[str, ...]  # asked over the whole window

    @property
    def carried_span(self) -> Span:
        since = self.kept.until_ms if self.kept else self.window.start_ms
        return Span(since, self.settle_ms, self.window.now_ms)

    @property
    def fresh_span(self) -> Span:
        return Span(self.window.start_ms, self.settle_ms, self.window.now_ms)


def digest(lucene: str) -> str:
    """What identifies a query's kept hours: its searched text (and the tally's format)."""
    return hashlib.sha256(f"{FORMAT}\n{lucene}".encode()).hexdigest()[:16]


def settle_point(window: Window, margin_ms: int) -> int:
    """The start of the first hour not yet settled: whole hours older than the margin are."""
    return min(max(hour_of(window.now_ms - margin_ms), window.start_ms), window.hour_ms)


def plan(
    settled: Settled | None,
    lucene_by_id: Mapping[str, str],
    window: Window,
    *,
    margin_ms: int,
    full_every_ms: int,
    full: bool = False,
) -> Plan:
    """What to ask: from the last settle point for the queries kept with the same text, the
    whole window for the others (every query when nothing can be carried over)."""
    settle_ms = settle_point(window, margin_ms)
    kept = None if full else settled
    if kept is not None and not _carries(kept, window, settle_ms, full_every_ms):
        kept = None
    known = kept.queries if kept else {}
    carried = tuple(
        qid
        for qid, text in lucene_by_id.items()
        if qid in known and known[qid].digest == digest(text)
    )
    fresh = tuple(qid for qid in lucene_by_id if qid not in carried)
    return Plan(window, settle_ms, kept, carried, fresh)


def _carries(settled: Settled, window: Window, settle_ms: int, full_every_ms: int) -> bool:
    return (
        settled.days == window.days
        and window.start_ms <= settled.until_ms <= settle_ms
        and 0 <= window.now_ms - settled.full_ms < full_every_ms
    )


def advance(
    todo: Plan, lucene_by_id: Mapping[str, str], answers: Sequence[Answer]
) -> tuple[Settled, dict[str, Tally], int | None]:
    """The graph's new kept hours, each query's tally over the window, and the newest document
    of all in the window (None: none). ``answers``: every query's, the first with the newest
    document (asked over the carried span when hours were kept, else over the window)."""
    start = todo.window.start_ms
    old = todo.kept.queries if todo.kept else {}
    older = {qid: tally for answer in answers for qid, tally in answer.older.items()}
    newer = {qid: tally for answer in answers for qid, tally in answer.newer.items()}
    queries: dict[str, Kept] = {}
    views: dict[str, Tally] = {}
    for qid, text in lucene_by_id.items():
        base = old[qid].tally.since(start) if qid in todo.carried else Tally()
        kept = merge(base, older.get(qid, Tally()))
        queries[qid] = Kept(digest(text), kept)
        views[qid] = merge(kept, newer.get(qid, Tally()))
    first = answers[0] if answers else Answer({}, {})
    before = todo.kept.newest_ms if todo.kept else None
    if before is not None and before < start:
        before = None  # left the window
    settled_newest = _latest(before, first.settled_newest_ms)
    full_ms = todo.kept.full_ms if todo.kept else todo.window.now_ms
    settled = Settled(todo.window.days, todo.settle_ms, full_ms, settled_newest, queries)
    return settled, views, _latest(settled_newest, first.newest_ms)


def _latest(*stamps: int | None) -> int | None:
    known = [s for s in stamps if s is not None]
    return max(known) if known else None


# --- what the journal stores ---------------------------------------------------------------


def changed_rows(before: Settled | None, after: Settled) -> tuple[dict[str, str], set[str]]:
    """The journal rows to write (the graph's own and each query whose kept hours changed)
    and the queries to forget."""
    old = before.queries if before else {}
    rows = {qid: kept_json(k) for qid, k in after.queries.items() if old.get(qid) != k}
    rows[GRAPH_ROW] = graph_json(after)
    return rows, set(old) - set(after.queries)


def graph_json(settled: Settled) -> str:
    return json.dumps(
        {
            "format": FORMAT,
            "days": settled.days,
            "until": settled.until_ms,
            "full": settled.full_ms,
            "newest": settled.newest_ms,
        }
    )


def kept_json(kept: Kept) -> str:
    """A query's row: builds as ``[status, job, project, queue, uuid, [hour, ...]]`` (hours
    counted from the epoch), each hour's first and last line, the newest failed builds."""
    tally = kept.tally
    builds = [[*leaf, sorted(h // STEP_MS for h in hours)] for leaf, hours in tally.builds.items()]
    seen = [[hour // STEP_MS, low, high] for hour, (low, high) in sorted(tally.seen.items())]
    latest = [latest_json(build) for build in tally.latest]
    return json.dumps({"digest": kept.digest, "builds": builds, "seen": seen, "latest": latest})


def load_settled(rows: Mapping[str, str]) -> Settled | None:
    """The kept hours the journal holds; None when it holds none, or of another format (they
    are then all asked again, and written anew)."""
    try:
        head = json.loads(rows[GRAPH_ROW])
        if head.get("format") != FORMAT:
            return None
        queries = {qid: _kept(json.loads(text)) for qid, text in rows.items() if qid != GRAPH_ROW}
        return Settled(head["days"], head["until"], head["full"], head["newest"], queries)
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def _kept(row: Mapping[str, Any]) -> Kept:
    builds: dict[Leaf, frozenset[int]] = {}
    for status, job, project, queue, uuid, hours in row["builds"]:
        leaf = (str(status), str(job), str(project), str(queue), str(uuid))
        builds[leaf] = frozenset(int(h) * STEP_MS for h in hours)
    seen = {int(h) * STEP_MS: (int(low), int(high)) for h, low, high in row["seen"]}
    latest = tuple(_latest_build(entry) for entry in row["latest"])
    return Kept(str(row["digest"]), Tally(builds, seen, latest))


def _latest_build(entry: Mapping[str, Any]) -> LatestBuild:
    fields = ("uuid", "job", "project", "queue", "change", "patchset", "change_url", "log_url")
    return LatestBuild(**{name: str(entry[name]) for name in fields}, when_ms=int(entry["time"]))
