"""Query quality on a real osmem server: too broad, dead, slow, fixed but still hitting."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.bugs import untracked
from bot.config import SearchSettings
from bot.intel.quality import (
    QueryQuality,
    check_quality,
    explain,
    format_quality,
    judge,
    quality_json,
    quality_problems,
)
from bot.queries import Query
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from tests.support.clusters import documents, seed_builds


def query(qid: str, lucene: str) -> Query:
    return Query(id=qid, lucene=lucene, bug=untracked(qid), source=Path(f"queries/{qid}.yaml"))


#: Every build runs devstack, failed or not: the query is useless.
BROAD = query("broad", 'message:"Run devstack"')
DEAD = query("dead", 'message:"no log line ever says this"')
GOOD = query("1400905", 'message:"Hash Sum mismatch"')


@pytest.fixture
async def backend(search_settings: SearchSettings) -> AsyncIterator[OpenSearchBackend]:
    client = OpenSearchBackend(search_settings)
    await bulk_index(client.client, documents(seed_builds(3)))
    yield client
    await client.close()


async def test_flags_broad_and_dead_queries_not_good_ones(backend: OpenSearchBackend) -> None:
    report = await check_quality(backend, [GOOD, BROAD, DEAD], days=7)
    flags = {q.query.id: q.flags for q in report.queries}
    assert flags == {"broad": ("too-broad",), "dead": ("no-hits",), "1400905": ()}
    by_id = {q.query.id: q for q in report.queries}
    assert by_id["1400905"].failure == 5
    assert by_id["1400905"].success == 0
    assert by_id["broad"].success_share > 0.10
    assert by_id["dead"].hits == 0
    assert [q.query.id for q in report.queries] == ["broad", "dead", "1400905"]  # flagged first
    lines = [str(p) for p in quality_problems(report)]
    assert lines[0].startswith("queries/broad.yaml: too broad: ")
    assert lines[1] == "queries/dead.yaml: no hits in the last 7 days"
    assert format_quality(report).startswith("2 of 3 queries flagged (last 7 days)")
    rows = {row["id"]: row for row in quality_json(report)}
    assert rows["1400905"]["failure_builds"] == 5
    assert rows["broad"]["flags"] == ["too-broad"]


async def test_a_closed_bug_that_still_hits_is_flagged(backend: OpenSearchBackend) -> None:
    asked: list[str] = []

    async def closed(q: Query) -> bool | None:
        asked.append(q.id)
        return q.id == "1400905"

    report = await check_quality(backend, [GOOD, DEAD], days=7, bug_closed=closed)
    flags = {q.query.id: q.flags for q in report.queries}
    assert flags == {"1400905": ("fixed-but-hitting",), "dead": ("no-hits",)}
    assert asked == ["1400905"]  # queries without failures cost no tracker lookup
    report = await check_quality(backend, [GOOD], days=7, bug_closed=lambda q: None)
    assert report.queries[0].flags == ()


async def test_a_query_the_server_refuses_is_flagged(backend: OpenSearchBackend) -> None:
    bad = query("bad", "message:(unclosed")
    report = await check_quality(backend, [bad, GOOD], days=7)
    assert report.queries[0].flags == ("failed",)
    assert report.queries[1].flags == ()


@pytest.mark.parametrize(
    ("quality", "flags"),
    [
        (QueryQuality(GOOD, failure=10, success=1, hits=20, took_ms=5), ()),
        (QueryQuality(GOOD, failure=9, success=2, hits=20, took_ms=5), ("too-broad",)),
        (QueryQuality(GOOD, failure=9, hits=20, took_ms=2500), ("slow",)),
        (QueryQuality(GOOD, hits=0, took_ms=1), ("no-hits",)),
        (QueryQuality(GOOD, failure=3, hits=3, bug_closed=True), ("fixed-but-hitting",)),
        (QueryQuality(GOOD, failure=0, success=3, hits=3, bug_closed=True), ("too-broad",)),
        (QueryQuality(GOOD, error="boom"), ("failed",)),
    ],
)
def test_judge(quality: QueryQuality, flags: tuple[str, ...]) -> None:
    assert judge(quality) == flags
    assert len(explain(QueryQuality(**{**vars(quality), "flags": judge(quality)}), 7)) == len(flags)


def test_slow_threshold_is_a_parameter() -> None:
    quality: Any = QueryQuality(GOOD, failure=1, hits=1, took_ms=300)
    assert judge(quality, slow_ms=200) == ("slow",)
    assert judge(quality) == ()
