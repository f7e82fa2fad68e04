"""Build the dashboard files: graph JSON (all, gate), the pages, the uncategorized report.

Every part is rendered in memory first, then written with temp files + ``os.replace``: readers
(the web server, Apache) see the old files or the new ones, never half of one, and a failed write
(disk full, read-only volume) leaves the last good files in place. The list page and its JSON go
first; the bug pages follow once rendered.

Layout (ER's paths, relative, so it can be served under any prefix)::

    index.html  gate.html  uncategorized.html  tests.html
    bug/<query id>.html          (a page per query, served at /bug/<query id>)
    data/all.json  data/gate.json  data/uncategorized.json  data/tests.json
    static/dashboard.css  static/dashboard.js

The bug pages are written with the "all" part, from the same graph requests (the queries marked
``suppress-graph`` included, so that every announced bug has its page); pages of queries gone
from the repository are removed after the new ones are in place. The Tests page is a part of its
own (:mod:`bot.dashboard.testspage`).

With a :class:`~bot.dashboard.incremental.GraphCache` the graph parts keep their settled hours
and ask only for the hours since; :meth:`DashboardBuilder.recompute` makes the next build of a
part ask for every hour (``!refresh full``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from bot.core.errors import describe
from bot.dashboard.bugpage import render_bug_page
from bot.dashboard.graph import (
    BugGraph,
    BugLookUp,
    GraphData,
    by_impact,
    graph,
    graph_json,
    impact_ranks,
    query_bug,
)
from bot.dashboard.incremental import GraphCache
from bot.dashboard.links import bug_page_file
from bot.dashboard.render import (
    known_bugs,
    render_bugs_page,
    render_uncategorized,
    static_files,
)
from bot.dashboard.testspage import gather_tests, render_tests_page, tests_counts, tests_json
from bot.impact_store import ImpactJournalError
from bot.intel import REPORT_TIMEOUT, clusters_json, find_clusters
from bot.intel.impact import ImpactReport
from bot.intel.test_history import bug_tests
from bot.intel.tests import TestStats
from bot.intel.uncategorized import UncatReport, uncat_json, uncategorized
from bot.queries import Query
from bot.search.base import SearchBackend, SearchError
from bot.search.lines import LogLine
from bot.state.evidence import Sighting
from bot.watch.evidence import uncategorized_evidence

log = logging.getLogger(__name__)

#: The parts of a build, each refreshed on its own (its own files, its own status).
PARTS = ("all", "gate", "uncategorized", "tests")

#: Every file a build may write; the web server serves these and nothing else.
PAGE_FILES = ("index.html", "gate.html", "uncategorized.html", "tests.html")
DATA_FILES = (
    "data/all.json",
    "data/gate.json",
    "data/uncategorized.json",
    "data/clusters.json",
    "data/tests.json",
)

Counts = Mapping[str, int]
QuerySource = Callable[[], Sequence[Query]]
#: The figures of the tests each query's ``test_ids`` name, by query id (None: not known).
BugTests = Mapping[str, tuple[TestStats, ...]] | None


class ImpactSource(Protocol):
    """The bugs' impact from the bot's journal (:func:`bot.intel.impact.gather_impact`)."""

    def __call__(self, *, queue: str | None) -> Awaitable[ImpactReport]: ...


#: The latest failed jobs a query matched, with the lines (:func:`bot.watch.evidence.bug_evidence`
#: on the bot's journal).
EvidenceSource = Callable[[str], Awaitable[Sequence[Sighting]]]
#: Bug pages' journal reads at once (each a small indexed SQLite query, in the journal's thread).
EVIDENCE_READS = 8


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
    evidence: EvidenceSource | None = None  # without it the bug pages show no matched lines
    subunit_index: str = "subunit-*"  # the test results (search.subunit_index)
    cache: GraphCache | None = None  # without it every build asks for every hour
    _full_next: set[str] = field(default_factory=set)

    def recompute(self, parts: Collection[str]) -> None:
        """The next build of each of ``parts`` asks for every hour, not only the newer ones."""
        self._full_next.update(parts)

    async def build_part(self, part: str) -> Counts:
        """Build one part and write its files; returns what it counted."""
        if part == "uncategorized":
            return await self._uncategorized()
        if part in ("all", "gate"):
            return await self._bugs(part)
        if part == "tests":
            return await self._tests()
        raise ValueError(f"unknown dashboard part {part!r}")

    async def _bugs(self, part: str) -> Counts:
        queue = self.gate_queue if part == "gate" else None
        pages = part == "all"  # the bug pages show every queue
        full = part in self._full_next
        self._full_next.discard(part)
        data = await graph(
            self.backend,
            self.queries(),
            days=self.days,
            queue=queue,
            look_up=self.look_up,
            with_hidden=pages,
            cache=self.cache,
            full=full,
        )
        data = await self._with_impact(data, queue)
        page = "gate.html" if part == "gate" else "index.html"
        data_file = f"data/{part}.json"
        # Rendering takes a while (a thousand bug pages: seconds): not on the event loop. The
        # list and its JSON are written first, so they are up while the bug pages follow.
        files = await asyncio.to_thread(self._render_list, data, page, data_file)
        await asyncio.to_thread(write_files, self.output_dir, files)
        if pages:
            sightings = await self._sightings(data)
            tests = await self._bug_tests(data)
            bug_pages = await asyncio.to_thread(self._render_pages, data, sightings, tests)
            await asyncio.to_thread(write_files, self.output_dir, bug_pages)
            await asyncio.to_thread(remove_stale_pages, self.output_dir, set(bug_pages))
        return graph_counts(data)

    def _render_list(self, data: GraphData, page: str, data_file: str) -> dict[str, bytes]:
        """The list page (the costliest bugs first; the JSON keeps ER's order for ER's
        readers), its JSON and the assets; blocking, use a thread."""
        html = render_bugs_page(by_impact(data), page=page, data_file=data_file, kibana=self.kibana)
        return {
            **static_files(),
            data_file: _json_bytes(graph_json(data, kibana=self.kibana)),
            page: html.encode(),
        }

    def _render_pages(
        self,
        data: GraphData,
        sightings: Mapping[str, Sequence[Sighting] | None],
        tests: BugTests = None,
    ) -> dict[str, bytes]:
        """Every bug's page, the hidden ones' too; blocking, use a thread."""
        ranks = dict(zip((b.query.id for b in data.bugs), impact_ranks(data), strict=False))
        pages = {}
        for bug in (*data.bugs, *data.hidden):
            if name := bug_page_file(bug.query.id):
                text = render_bug_page(
                    bug,
                    data,
                    kibana=self.kibana,
                    sightings=sightings.get(bug.query.id),
                    rank=ranks.get(bug.query.id, 0),
                    tests=None if tests is None else tests.get(bug.query.id, ()),
                )
                pages[name] = text.encode()
        return pages

    async def _sightings(self, data: GraphData) -> dict[str, Sequence[Sighting] | None]:
        """What the journal says each bug's query matched; None per bug without a journal (or
        when it cannot be read: the page is still written, without the lines)."""
        bugs = (*data.bugs, *data.hidden)
        if self.evidence is None:
            return dict.fromkeys((b.query.id for b in bugs), None)
        gate = asyncio.Semaphore(EVIDENCE_READS)
        found = await asyncio.gather(*(self._sighting(bug, gate) for bug in bugs))
        return dict(zip((b.query.id for b in bugs), found, strict=True))

    async def _sighting(self, bug: BugGraph, gate: asyncio.Semaphore) -> Sequence[Sighting] | None:
        assert self.evidence is not None
        async with gate:
            try:
                return await self.evidence(bug.query.id)
            except (sqlite3.Error, OSError) as exc:
                log.warning("bug %s: page without matched lines: %s", bug.query.id, describe(exc))
                return None

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

    async def _bug_tests(self, data: GraphData) -> BugTests:
        """The figures of the tests the queries' ``test_ids`` name, one request for every bug
        page (none when no query names a test); None when the server could not answer."""
        queries = [bug.query for bug in (*data.bugs, *data.hidden)]
        # The figures are an addition: without them the pages still show the rest.
        try:
            async with asyncio.timeout(REPORT_TIMEOUT):
                return await bug_tests(self.backend, self.subunit_index, queries, days=self.days)
        except (SearchError, TimeoutError) as exc:
            log.warning("bug pages without their tests' figures: %s", describe(exc))
            return None

    async def _tests(self) -> Counts:
        view = await gather_tests(self.backend, self.subunit_index, days=self.days)
        html = await asyncio.to_thread(render_tests_page, view, self.queries())
        files = {
            **static_files(),
            "data/tests.json": _json_bytes(tests_json(view)),
            "tests.html": html.encode(),
        }
        await asyncio.to_thread(write_files, self.output_dir, files)
        return tests_counts(view)

    async def _uncategorized(self) -> Counts:
        queries = self.queries()
        report = await uncategorized(self.backend, queries, self.days, self.gate_queue)
        clusters = await self._clusters()
        evidence = await self._uncategorized_lines(report)
        html = render_uncategorized(report, clusters, evidence=evidence, known=known_bugs(queries))
        files = {
            **static_files(),
            "data/uncategorized.json": _json_bytes(uncat_json(report)),
            "data/clusters.json": _json_bytes(clusters),
            "uncategorized.html": html.encode(),
        }
        await asyncio.to_thread(write_files, self.output_dir, files)
        return {
            "failures": report.total,
            "classified": report.classified,
            "uncategorized": report.unclassified,
        }

    async def _uncategorized_lines(self, report: UncatReport) -> Mapping[str, tuple[LogLine, ...]]:
        # The lines are a help, not the page: without them it still lists every failure.
        builds = [build for job in report.jobs for build in job.unclassified]
        if not builds:
            return {}
        try:
            async with asyncio.timeout(REPORT_TIMEOUT):
                return await uncategorized_evidence(self.backend, builds, days=self.days)
        except (SearchError, TimeoutError) as exc:
            log.warning("uncategorized page without error lines: %s", describe(exc))
            return {}

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


def remove_stale_pages(output_dir: Path, current: set[str]) -> None:
    """Remove the bug pages not in ``current`` (queries gone); blocking, use a thread."""
    folder = output_dir / "bug"
    if not folder.is_dir():
        return
    for path in folder.glob("*.html"):
        if f"bug/{path.name}" not in current:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def graph_counts(data: GraphData) -> Counts:
    return {
        "bugs": len(data.bugs),
        "fails": sum(b.fails for b in data.bugs),
        "fails24": sum(b.fails24 for b in data.bugs),
    }
