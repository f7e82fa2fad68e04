"""Build the dashboard files: graph JSON (all, gate), the pages, the uncategorized report.

Every part is rendered in memory first, then written with temp files + ``os.replace``: readers
(the web server, Apache) see the old files or the new ones, never half of one, and a failed write
(disk full, read-only volume) leaves the last good files in place.

Layout (ER's paths, relative, so it can be served under any prefix)::

    index.html  gate.html  uncategorized.html
    data/all.json  data/gate.json  data/uncategorized.json
    static/dashboard.css  static/dashboard.js
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from bot.core.errors import describe
from bot.dashboard.graph import BugLookUp, GraphData, by_impact, graph, graph_json, query_bug
from bot.dashboard.render import render_bugs_page, render_uncategorized, static_files
from bot.impact_store import ImpactJournalError
from bot.intel import REPORT_TIMEOUT, clusters_json, find_clusters
from bot.intel.impact import ImpactReport
from bot.intel.uncategorized import uncat_json, uncategorized
from bot.queries import Query
from bot.search.base import SearchBackend, SearchError

log = logging.getLogger(__name__)

#: The parts of a build, each refreshed on its own (its own files, its own status).
PARTS = ("all", "gate", "uncategorized")

#: Every file a build may write; the web server serves these and nothing else.
PAGE_FILES = ("index.html", "gate.html", "uncategorized.html")
DATA_FILES = (
    "data/all.json",
    "data/gate.json",
    "data/uncategorized.json",
    "data/clusters.json",
)

Counts = Mapping[str, int]
QuerySource = Callable[[], Sequence[Query]]


class ImpactSource(Protocol):
    """The bugs' impact from the bot's journal (:func:`bot.intel.impact.gather_impact`)."""

    def __call__(self, *, queue: str | None) -> Awaitable[ImpactReport]: ...


def write_files(output_dir: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` (relative path -> content) all or nothing; blocking, use a thread.

    All temp files are written first; only when every one is complete are they moved into place.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for name, content in files.items():
            target = output_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp_name = tempfile.mkstemp(
                dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
            )
            staged.append((Path(temp_name), target))
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            os.chmod(temp_name, 0o644)  # mkstemp makes 0600; the files are public pages
        for staged_file, target in staged:
            os.replace(staged_file, target)
    finally:
        for staged_file, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                staged_file.unlink()


def _json_bytes(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()  # served, not read by people


@dataclass
class DashboardBuilder:
    """Builds the dashboard parts into ``output_dir`` from a search backend and the queries.

    ``queries`` is a callable so that each build sees the query repo as it is now.
    """

    output_dir: Path
    backend: SearchBackend
    queries: QuerySource
    days: int = 10
    gate_queue: str = "gate"
    kibana: str | None = None
    look_up: BugLookUp = query_bug
    parts: tuple[str, ...] = field(default=PARTS)
    impact: ImpactSource | None = None  # without it the pages keep ER's order and fields

    async def build_part(self, part: str) -> Counts:
        """Build one part and write its files; returns what it counted."""
        if part == "uncategorized":
            return await self._uncategorized()
        if part in ("all", "gate"):
            return await self._bugs(part)
        raise ValueError(f"unknown dashboard part {part!r}")

    async def _bugs(self, part: str) -> Counts:
        queue = self.gate_queue if part == "gate" else None
        data = await graph(
            self.backend, self.queries(), days=self.days, queue=queue, look_up=self.look_up
        )
        data = await self._with_impact(data, queue)
        page = "gate.html" if part == "gate" else "index.html"
        data_file = f"data/{part}.json"
        # The page lists the costliest bugs first; the JSON keeps ER's order for ER's readers.
        html = render_bugs_page(by_impact(data), page=page, data_file=data_file, kibana=self.kibana)
        files = {
            **static_files(),
            data_file: _json_bytes(graph_json(data, kibana=self.kibana)),
            page: html.encode(),
        }
        await asyncio.to_thread(write_files, self.output_dir, files)
        return graph_counts(data)

    async def _with_impact(self, data: GraphData, queue: str | None) -> GraphData:
        # The figures are an addition: without them the page still shows every bug.
        if self.impact is None:
            return data
        try:
            report = await self.impact(queue=queue)
        except (ImpactJournalError, sqlite3.Error, OSError) as exc:
            log.warning("dashboard without impact figures: %s", describe(exc))
            return data
        return replace(data, impact=report)

    async def _uncategorized(self) -> Counts:
        report = await uncategorized(self.backend, self.queries(), self.days, self.gate_queue)
        clusters = await self._clusters()
        files = {
            **static_files(),
            "data/uncategorized.json": _json_bytes(uncat_json(report)),
            "data/clusters.json": _json_bytes(clusters),
            "uncategorized.html": render_uncategorized(report, clusters).encode(),
        }
        await asyncio.to_thread(write_files, self.output_dir, files)
        return {
            "failures": report.total,
            "classified": report.classified,
            "uncategorized": report.unclassified,
        }

    async def _clusters(self) -> list[dict[str, Any]]:
        # The clusters are a help, not the page: without them it still shows every failure.
        try:
            async with asyncio.timeout(REPORT_TIMEOUT):
                found = await find_clusters(
                    self.backend, self.queries(), days=self.days, queue=self.gate_queue
                )
        except (SearchError, TimeoutError) as exc:
            log.warning("uncategorized page without clusters: %s", exc)
            return []
        return clusters_json(found)


def graph_counts(data: GraphData) -> Counts:
    return {
        "bugs": len(data.bugs),
        "fails": sum(b.fails for b in data.bugs),
        "fails24": sum(b.fails24 for b in data.bugs),
    }
