"""The journal's ``settled`` table: the dashboard's settled hours, kept between restarts.

A row per (graph, query): the graph's own under the query id ``""`` (its window, settle point
and last full recompute), each query's tally of its settled hours under its id. The rows are
text the dashboard writes and reads (:mod:`bot.dashboard.settled`); the journal only keeps them.
Losing them costs one refresh asking for every hour, nothing more. Journals written before the
table existed get it when opened.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Mapping
from typing import TypeVar

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS settled (
    graph TEXT NOT NULL,
    query TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (graph, query)
);
"""


class SettledJournal:
    """The dashboard's questions of :class:`bot.state.StateStore` (which runs them)."""

    async def _run(self, func: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def settled_rows(self, graph: str) -> dict[str, str]:
        """The rows of ``graph`` (``all``, or a queue): query id (``""``: the graph) -> text."""

        def select(conn: sqlite3.Connection) -> dict[str, str]:
            rows = conn.execute("SELECT query, data FROM settled WHERE graph = ?", (graph,))
            return {str(query): str(data) for query, data in rows.fetchall()}

        return await self._run(select)

    async def save_settled(
        self, graph: str, rows: Mapping[str, str], gone: Collection[str], *, replace: bool
    ) -> None:
        """Write ``rows`` and forget the queries ``gone``, in one transaction; with ``replace``
        every row of ``graph`` not in ``rows`` goes too."""

        def write(conn: sqlite3.Connection) -> None:
            with conn:
                if replace:
                    conn.execute("DELETE FROM settled WHERE graph = ?", (graph,))
                conn.executemany(
                    "DELETE FROM settled WHERE graph = ? AND query = ?",
                    [(graph, query) for query in gone],
                )
                conn.executemany(
                    "INSERT OR REPLACE INTO settled (graph, query, data) VALUES (?, ?, ?)",
                    [(graph, query, data) for query, data in rows.items()],
                )

        await self._run(write)
