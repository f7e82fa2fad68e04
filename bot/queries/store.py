"""The queries in use: one set at a time, replaced whole when the repo changes on disk.

Every part of the bot that reads queries (classification, the dashboard, chat, the returned-bug
check) holds the store and takes ``store.queries`` when it starts a piece of work, so a reload
never changes a set under a reader: :meth:`QueryStore.replace` swaps it in one assignment.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bot.queries.model import Query, QueryRepo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Current:
    queries: tuple[Query, ...] = ()
    by_id: Mapping[str, Query] = field(default_factory=dict)


class QueryStore:
    """Holds the current queries; :class:`~bot.queries.reload.QueryWatcher` replaces them."""

    def __init__(self, queries: Iterable[Query] = ()) -> None:
        self._current = _Current()
        self.version = 0  # bumped by every replace: readers that compile queries cache on it
        self.replace(queries)

    @property
    def queries(self) -> tuple[Query, ...]:
        return self._current.queries

    @property
    def by_id(self) -> Mapping[str, Query]:
        return self._current.by_id

    def repo(self) -> QueryRepo:
        """The queries as a repo (lookups by bug id, tracker URL or query id)."""
        return QueryRepo(queries=self._current.queries)

    def replace(self, queries: Iterable[Query]) -> None:
        """Use ``queries`` from now on (a query id given twice: the last one wins)."""
        by_id: dict[str, Query] = {}
        for query in queries:
            if query.id in by_id:
                log.warning("query %s is defined twice; using the last one", query.id)
            by_id[query.id] = query
        self._current = _Current(tuple(by_id.values()), by_id)
        self.version += 1

    def __len__(self) -> int:
        return len(self._current.queries)
