"""The incremental graph on osmem: refreshes that keep the settled hours give exactly what asking
for every hour gives, on the same data, as the window slides, queries are edited, added and
removed, logs arrive late inside the settle margin, and the bot restarts on its journal.

Each step compares the whole :class:`GraphData` (every bug's series, counts, breakdowns, first
and last hit, newest builds, each job's hours) and the graph JSON of a refresh through a
:class:`GraphCache` with those of :func:`graph` asked afresh at the same moment."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.dashboard.graph import STEP_MS, GraphData, graph, graph_json
from bot.dashboard.incremental import GraphCache
from bot.queries import Query
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.search.schema import Schema
from bot.state import StateStore
from tests.support.graph import NOW, NOW_MS, QUERIES, Build, bug, documents

HOUR = timedelta(hours=1)


def later(hours: float) -> int:
    return NOW_MS + int(hours * STEP_MS)


def late_build(uuid: str, start_hours: float, message: str, job: str = "grenade") -> Build:
    """A failed build whose lines start ``start_hours`` after :data:`NOW`."""
    return Build(
        uuid=uuid,
        job=job,
        project="openstack/nova",
        queue="gate",
        status="FAILURE",
        voting=True,
        start=NOW + start_hours * HOUR,
        messages=(f"ERROR: {message} on node", "all fine", f"ERROR: {message} on node"),
        change="955555",
    )


async def index(search: OpenSearchBackend, builds: list[Build], schema: Schema) -> None:
    await bulk_index(search.client, documents(builds, schema), schema=schema)


async def both(
    search: OpenSearchBackend, queries: tuple[Query, ...], cache: GraphCache, now: int, **kw: Any
) -> tuple[GraphData, GraphData]:
    """The graph through ``cache``, and asked afresh."""
    kept = await graph(search, queries, now=now, cache=cache, with_hidden=True, **kw)
    fresh = await graph(search, queries, now=now, with_hidden=True, **kw)
    return kept, fresh


def assert_identical(kept: GraphData, fresh: GraphData) -> None:
    assert kept == fresh
    assert json.dumps(graph_json(kept)) == json.dumps(graph_json(fresh))


@pytest.mark.parametrize("queue", [None, "gate"])
async def test_refreshes_keep_settled_hours_and_match_a_full_recompute(
    graph_search: Any, schema: Schema, queue: str | None, tmp_path: Path
) -> None:
    search, _ = graph_search
    journal = await StateStore.open(tmp_path / "state.sqlite")
    cache = GraphCache(margin_minutes=120, journal=journal)
    name = queue or "all"
    try:
        # The first refresh asks every query for the whole window.
        kept, fresh = await both(search, QUERIES, cache, NOW_MS, queue=queue)
        assert_identical(kept, fresh)
        assert cache.last_plan[name].kept is None
        assert kept.bugs[0].fails > 0

        # 90 minutes on: logs arrive late inside the margin (a new build 40 minutes ago, a new
        # line of a build already counted, in an hour not settled yet), one query is edited,
        # one added and one removed.
        counted = next(b for b in kept.bugs if b.query.id == "1001").details.latest[0]
        await index(
            search,
            [
                late_build("7001" + "ef" * 14, 0.8, "disk quota exceeded"),
                late_build(counted.uuid, 1.2, "disk quota exceeded", job=counted.job),
            ],
            schema,
        )
        edited = replace(QUERIES[1], lucene='message:"mirror unreachable"')
        added = bug("1006", 'message:"disk quota exceeded" AND build_name:"grenade"')
        queries = (QUERIES[0], edited, QUERIES[2], QUERIES[4], added)  # 1004 removed
        kept, fresh = await both(search, queries, cache, later(1.5), queue=queue)
        assert_identical(kept, fresh)
        todo = cache.last_plan[name]
        assert todo.kept is not None
        assert set(todo.fresh) == {"1002", "1006"}  # edited and new: the whole window
        assert set(todo.carried) == {"1001", "1003", "1005"}
        assert "1004" not in {b.query.id for b in (*kept.bugs, *kept.hidden)}

        # A restart: a new cache on the same journal carries on from the settle point.
        restarted = GraphCache(margin_minutes=120, journal=journal)
        kept, fresh = await both(search, queries, restarted, later(2.5), queue=queue)
        assert_identical(kept, fresh)
        assert set(restarted.last_plan[name].carried) == {q.id for q in queries}
    finally:
        await journal.close()


async def test_late_logs_beyond_the_margin_wait_for_a_full_recompute(
    graph_search: Any, schema: Schema
) -> None:
    search, _ = graph_search
    cache = GraphCache(margin_minutes=60, full_every_hours=24)
    await graph(search, QUERIES, now=later(3), cache=cache)
    # A build logged five hours before "now": its hours were settled already.
    await index(search, [late_build("7002" + "ef" * 14, -2, "disk quota exceeded")], schema)
    kept, fresh = await both(search, QUERIES, cache, later(3.5))
    fails = {b.query.id: b.fails for b in kept.bugs}
    assert fails["1001"] == next(b.fails for b in fresh.bugs if b.query.id == "1001") - 1
    full, fresh = await both(search, QUERIES, cache, later(3.5), full=True)
    assert cache.last_plan["all"].kept is None
    assert_identical(full, fresh)
    # A day after the last full recompute, every hour is asked again by itself.
    await graph(search, QUERIES, now=later(3.5 + 24), cache=cache)
    assert cache.last_plan["all"].kept is None


async def test_an_incremental_refresh_asks_only_for_the_newer_hours(graph_search: Any) -> None:
    search, _ = graph_search
    cache = GraphCache(margin_minutes=120)
    await graph(search, QUERIES, now=NOW_MS, cache=cache)
    await graph(search, QUERIES, now=later(0.5), cache=cache)
    todo = cache.last_plan["all"]
    assert todo.kept is not None
    settle = (later(0.5) - 2 * STEP_MS) // STEP_MS * STEP_MS
    assert todo.settle_ms == settle
    assert todo.carried_span.from_ms == (NOW_MS - 2 * STEP_MS) // STEP_MS * STEP_MS
    assert todo.carried_span.from_ms >= later(0.5) - 4 * STEP_MS  # hours, not days
    assert todo.fresh == ()
