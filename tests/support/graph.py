"""The graph data set: hand-made builds, their log lines, and the queries that match them.

Used by the graph, uncategorized, scheduler, dashboard server and browser tests. Builds over 11
days whose lines are 17 minutes apart, so a build often spans two hourly buckets, and some lines
sit in the current hour (counted in ``fails``, left out of the series, as in ER). :data:`MATCHERS`
are the queries again as Python predicates: the independent side of the tests' expectations.
The documents come in either layout (``schema``); a third of the builds log their last line in
a file below the log directory, so a build's newest document is not always its console's.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.bugs import Bug
from bot.config import SearchSettings
from bot.dashboard.build import Counts, DashboardBuilder
from bot.queries import Query
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.search.schema import DEFAULT_SCHEMA, Schema, shape

NOW = datetime.now(UTC).replace(microsecond=0)
NOW_MS = int(NOW.timestamp() * 1000)
JOBS = ("tempest-full", "grenade", "tox-py311")
PROJECTS = ("openstack/nova", "openstack/neutron")
LINE_GAP = timedelta(minutes=17)
LOG_HOST = "https://logs.example.org"
REVIEW_HOST = "https://review.example.org"
DEEP_FILE = "controller/logs/screen-n-cpu.txt"


def bug(qid: str, lucene: str, **kw: Any) -> Query:
    ref = Bug("launchpad", qid, f"https://bugs.launchpad.net/bugs/{qid}", "nova")
    return Query(id=qid, lucene=lucene, bug=ref, **kw)


QUERIES = (
    bug("1001", 'message:"disk quota exceeded"', title="Disk quota <exceeded> on nodes"),
    bug("1002", 'message:"mirror unreachable" AND build_name:"grenade"'),
    bug("1003", 'message:"kernel panic"', suppress_graph=True),
    bug("1004", 'message:"flaky test"', allow_nonvoting=True, owner="qa"),
    bug("1005", 'message:"never logged anywhere"'),
)

#: The same queries as Python predicates over one document: the independent side of the tests.
MATCHERS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "1001": lambda d: "disk quota exceeded" in d["message"],
    "1002": lambda d: "mirror unreachable" in d["message"] and d["build_name"] == "grenade",
    "1003": lambda d: "kernel panic" in d["message"],
    "1004": lambda d: "flaky test" in d["message"],
    "1005": lambda d: False,
}
ERRORS = ("disk quota exceeded", "mirror unreachable", "kernel panic", "flaky test")


@dataclass(frozen=True)
class Build:
    uuid: str
    job: str
    project: str
    queue: str
    status: str
    voting: bool
    start: datetime
    messages: tuple[str, ...]
    change: str = "900000"
    patchset: str = "1"

    @property
    def log_dir(self) -> str:
        return f"{LOG_HOST}/{self.queue}/{self.job}/{self.uuid[:7]}/"

    def filename(self, line: int) -> str:
        """The file line ``line`` is in: the console, but a third of the builds end elsewhere."""
        last = line == len(self.messages) - 1
        return DEEP_FILE if last and int(self.uuid[:4]) % 3 == 0 else "job-output.txt"


def make_builds(seed: int = 13, n: int = 160) -> list[Build]:
    rng = random.Random(seed)
    builds = []
    for i in range(n):
        # A third in the last 30 hours, so that fails24 and the current hour have data.
        age = rng.uniform(0.05, 30) if rng.random() < 0.33 else rng.uniform(0.05, 11 * 24)
        while 10 * 24 - 3 < age < 10 * 24 + 2:  # stay clear of the window's edge
            age = rng.uniform(0.05, 11 * 24)
        status = rng.choice(("FAILURE", "FAILURE", "SUCCESS"))
        messages = ["all fine"] * 4
        for _ in range(rng.choice((0, 1, 1, 2)) if status == "FAILURE" else rng.choice((0, 0, 1))):
            messages[rng.randrange(4)] = f"ERROR: {rng.choice(ERRORS)} on node"
        builds.append(
            Build(
                uuid=f"{i:04d}" + "ab" * 14,
                job=rng.choice(JOBS),
                project=rng.choice(PROJECTS),
                queue=rng.choice(("gate", "gate", "check")),
                status=status,
                voting=rng.random() > 0.15,
                start=NOW - timedelta(hours=age),
                messages=tuple(messages),
                change=str(900000 + i),
                patchset=str(1 + i % 5),
            )
        )
    # One failure inside the current hour, whatever minute the tests run at: ER counts it in
    # ``fails`` but not in the series.
    hour = NOW.replace(minute=0, second=0)
    builds.append(
        Build(
            uuid="9999" + "cd" * 14,
            job="grenade",
            project=PROJECTS[0],
            queue="gate",
            status="FAILURE",
            voting=True,
            start=hour + (NOW - hour) / 2,
            messages=("ERROR: disk quota exceeded on node", "all fine"),
        )
    )
    return builds


def documents(builds: list[Build], schema: Schema = DEFAULT_SCHEMA) -> list[dict[str, Any]]:
    docs = []
    for b in builds:
        for n, message in enumerate(b.messages):
            when = b.start + n * LINE_GAP
            filename = b.filename(n)
            doc = {
                "@timestamp": when.isoformat(timespec="seconds"),
                "message": message,
                "build_uuid": b.uuid,
                "build_name": b.job,
                "build_status": b.status,
                "build_queue": b.queue,
                "build_change": b.change,
                "build_patchset": b.patchset,
                "change_url": f"{REVIEW_HOST}/c/{b.project}/+/{b.change}",
                "project": b.project,
                "voting": "1" if b.voting else "0",
                "log_url": b.log_dir,
                "filename": filename,
                "tags": ["console"] if filename == "job-output.txt" else [],
            }
            docs.append(shape(doc, schema))
    return docs


def matches(query: Query, doc: dict[str, Any], queue: str | None = None) -> bool:
    voting_ok = query.allow_nonvoting or str(doc["voting"]) == "1"  # "1" (ER's era) or 1
    queue_ok = queue is None or doc["build_queue"] == queue
    return MATCHERS[query.id](doc) and voting_ok and queue_ok


def write_repo(folder: Path) -> Path:
    """The test queries as an ER-format query repo."""
    folder.mkdir()
    for q in QUERIES:
        lines = [f"query: >-\n  {q.lucene}"]
        if q.title:
            lines.append(f'title: "{q.title}"')
        if q.suppress_graph:
            lines.append("suppress-graph: true")
        if q.allow_nonvoting:
            lines.append("allow-nonvoting: true")
        if q.owner:
            lines.append(f"owner: {q.owner}")
        (folder / f"{q.id}.yaml").write_text("\n".join(lines) + "\n")
    return folder


async def index_graph_data(
    backend: OpenSearchBackend, schema: Schema = DEFAULT_SCHEMA
) -> list[dict[str, Any]]:
    """Index :func:`documents` of :func:`make_builds` into ``backend``; returns the documents."""
    docs = documents(make_builds(), schema)
    await bulk_index(backend.client, docs, schema=schema)
    return docs


def seed_graph_data(
    settings: SearchSettings, schema: Schema = DEFAULT_SCHEMA
) -> list[dict[str, Any]]:
    """:func:`index_graph_data` from a synchronous test (a CLI runs its own event loop)."""

    async def load() -> list[dict[str, Any]]:
        backend = OpenSearchBackend(settings)
        try:
            return await index_graph_data(backend, schema)
        finally:
            await backend.close()

    return asyncio.run(load())


@pytest.fixture
async def graph_search(
    search: OpenSearchBackend, schema: Schema
) -> tuple[OpenSearchBackend, list[dict[str, Any]]]:
    """This test's search backend holding the data set (in each layout), and the documents."""
    return search, await index_graph_data(search, schema)


async def build_dashboard(
    output_dir: Path,
    backend: OpenSearchBackend,
    queries: Sequence[Query],
    *,
    kibana: str | None = None,
) -> dict[str, Counts]:
    """Every part of the dashboard built once into ``output_dir``, with what each counted."""
    fixed = tuple(queries)
    builder = DashboardBuilder(output_dir, backend, lambda: fixed, kibana=kibana)
    counts = await asyncio.gather(*(builder.build_part(part) for part in builder.parts))
    return dict(zip(builder.parts, counts, strict=True))
