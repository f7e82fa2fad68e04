"""Refreshing a graph incrementally: the settled hours kept, only the hours since asked.

:class:`GraphCache` keeps each graph's settled hours (:mod:`bot.dashboard.settled`) in memory
and, when given the bot's journal, in its ``settled`` table (:mod:`bot.state.settled`), so a
restart carries on where the last refresh stopped. A refresh asks the kept queries for the hours
from the last settle point in one request, and the new, edited or (once a day) all queries for
the whole window in chunks of :data:`CHUNK` queries: each request stays small enough for a busy
or modest server to answer within its timeout, and two run at once.

Without a cache (:func:`bot.dashboard.graph.graph` called alone, ``recheckbot graph`` without a
state file) every refresh asks for every hour: the same code path, from nothing kept.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

from bot.core.errors import describe
from bot.dashboard.settled import Plan, Settled, advance, changed_rows, load_settled, plan
from bot.dashboard.tally import (
    FILTER_PATH,
    Answer,
    Span,
    Tally,
    incomplete,
    parse_answer,
    tally_body,
)
from bot.dashboard.window import DAY_MS, Window
from bot.search.base import SearchBackend, SearchUnavailable, lean_search

log = logging.getLogger(__name__)

#: Queries per request when asking for the whole window (every query once a day, new ones).
CHUNK = 50
#: Requests of one refresh running at once.
PARALLEL = 2
MINUTE_MS = 60_000


class SettledJournal(Protocol):
    """Where kept hours outlive the process (:class:`bot.state.StateStore` fits)."""

    async def settled_rows(self, graph: str) -> dict[str, str]:
        """The graph's rows: its own under ``""``, each query's under its id."""
        ...

    async def save_settled(
        self, graph: str, rows: Mapping[str, str], gone: Collection[str], *, replace: bool
    ) -> None:
        """Write ``rows``, forget ``gone``; with ``replace`` every other row of the graph too."""
        ...


class GraphCache:
    """Each graph's settled hours between refreshes (a graph: all queues, or one queue)."""

    def __init__(
        self,
        *,
        margin_minutes: float = 120,
        full_every_hours: float = 24,
        journal: SettledJournal | None = None,
        chunk: int = CHUNK,
    ) -> None:
        self.margin_ms = int(margin_minutes * MINUTE_MS)
        self.full_every_ms = int(full_every_hours * 60 * MINUTE_MS)
        self.journal = journal
        self.chunk = chunk
        self._settled: dict[str, Settled | None] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.last_plan: dict[str, Plan] = {}  # what each graph's last refresh asked

    async def tallies(
        self,
        backend: SearchBackend,
        lucene_by_id: Mapping[str, str],
        window: Window,
        *,
        graph: str,
        full: bool = False,
    ) -> tuple[dict[str, Tally], int | None]:
        """Each query's tally over ``window`` and the newest document in it; ``full``: every
        hour asked again."""
        async with self._locks.setdefault(graph, asyncio.Lock()):
            settled = await self._load(graph)
            todo = plan(
                settled,
                lucene_by_id,
                window,
                margin_ms=self.margin_ms,
                full_every_ms=self.full_every_ms,
                full=full,
            )
            answers = await ask(backend, todo, lucene_by_id, self.chunk)
            renewed, views, newest = await asyncio.to_thread(advance, todo, lucene_by_id, answers)
            await self._save(graph, todo.kept, renewed)
            self._settled[graph] = renewed
            self.last_plan[graph] = todo
            return views, newest

    async def _load(self, graph: str) -> Settled | None:
        if graph in self._settled or self.journal is None:
            return self._settled.get(graph)
        try:
            rows = await self.journal.settled_rows(graph)
        except (sqlite3.Error, OSError) as exc:
            log.warning("graph %s: kept hours unreadable, asking for all: %s", graph, describe(exc))
            return None
        return await asyncio.to_thread(load_settled, rows) if rows else None

    async def _save(self, graph: str, kept: Settled | None, renewed: Settled) -> None:
        if self.journal is None:
            return
        rows, gone = await asyncio.to_thread(changed_rows, kept, renewed)
        try:
            await self.journal.save_settled(graph, rows, gone, replace=kept is None)
        except (sqlite3.Error, OSError) as exc:
            # Kept in memory all the same; a restart would then ask for every hour once.
            log.warning("graph %s: kept hours not journaled: %s", graph, describe(exc))


def requests(todo: Plan, chunk: int) -> list[tuple[Span, Sequence[str]]]:
    """The requests of a refresh: the kept queries from the last settle point (in one, unless
    the bot was away for more than a day), the others in chunks; the first also asks for the
    newest document (over the kept span when hours were kept, else over the window)."""
    asked: list[tuple[Span, Sequence[str]]] = []
    if todo.kept is not None:
        span = todo.carried_span
        size = chunk if span.now_ms - span.from_ms > DAY_MS else len(todo.carried) or 1
        asked += _chunks(span, todo.carried, size) or [(span, ())]
    asked += _chunks(todo.fresh_span, todo.fresh, chunk)
    return asked or [(todo.fresh_span, ())]


def _chunks(span: Span, ids: Sequence[str], size: int) -> list[tuple[Span, Sequence[str]]]:
    return [(span, ids[i : i + size]) for i in range(0, len(ids), size)]


async def ask(
    backend: SearchBackend, todo: Plan, lucene_by_id: Mapping[str, str], chunk: int
) -> list[Answer]:
    """Every request of a refresh, :data:`PARALLEL` at a time; the first answer holds the
    newest document. One failing fails the refresh (and stops the others)."""
    gate = asyncio.Semaphore(PARALLEL)

    async def one(position: int, span: Span, ids: Sequence[str]) -> Answer:
        body = tally_body({qid: lucene_by_id[qid] for qid in ids}, span, newest=position == 0)
        async with gate:
            response = await lean_search(backend, body, FILTER_PATH)
        if reason := incomplete(response):
            raise SearchUnavailable(f"graph: a partial answer ({reason}); not kept")
        answer = await asyncio.to_thread(parse_answer, response, ids, span)
        for qid in answer.truncated:
            log.warning("graph: query %s has more builds or values than one request lists", qid)
        return answer

    tasks = [asyncio.ensure_future(one(n, *r)) for n, r in enumerate(requests(todo, chunk))]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        raise
