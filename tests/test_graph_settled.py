"""The settled hours, as pure functions: what a refresh asks (the plan), how tallies merge, the
rows the journal keeps, and the journal's ``settled`` table itself (an older journal gets it)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Collection, Mapping
from dataclasses import replace
from pathlib import Path

import pytest

from bot.dashboard.details import LatestBuild
from bot.dashboard.incremental import GraphCache, requests
from bot.dashboard.settled import (
    GRAPH_ROW,
    Kept,
    Settled,
    changed_rows,
    digest,
    graph_json,
    kept_json,
    load_settled,
    plan,
    settle_point,
)
from bot.dashboard.tally import Tally, merge, newest_builds
from bot.dashboard.window import DAY_MS, STEP_MS, Window
from bot.search.base import Body, Response, SearchUnavailable
from bot.search.opensearch import OpenSearchBackend
from bot.state import StateStore
from tests.support.graph import NOW_MS

WINDOW = Window(NOW_MS, 10)
HOUR = WINDOW.hour_ms
LUCENE = {"1": 'message:"a"', "2": 'message:"b"'}
MARGIN = 2 * STEP_MS
DAY = DAY_MS


def latest(uuid: str, when_ms: int) -> LatestBuild:
    return LatestBuild(uuid, "job", "nova", "gate", "900000", "1", "", "https://l/", when_ms)


def settled(until: int = HOUR - 3 * STEP_MS, full: int = NOW_MS - STEP_MS, **kw: object) -> Settled:
    queries = {qid: Kept(digest(text), Tally()) for qid, text in LUCENE.items()}
    return replace(Settled(10, until, full, None, queries), **kw)  # type: ignore[arg-type]


def test_the_settle_point_is_the_first_hour_within_the_margin() -> None:
    assert settle_point(WINDOW, MARGIN) == (NOW_MS - MARGIN) // STEP_MS * STEP_MS
    assert settle_point(WINDOW, 0) == HOUR  # the current hour is never settled
    assert settle_point(WINDOW, 30 * DAY) == WINDOW.start_ms


def test_kept_queries_are_asked_from_the_last_settle_point() -> None:
    todo = plan(settled(), LUCENE, WINDOW, margin_ms=MARGIN, full_every_ms=DAY)
    assert (todo.carried, todo.fresh) == (("1", "2"), ())
    assert todo.carried_span.from_ms == HOUR - 3 * STEP_MS
    assert todo.fresh_span.from_ms == WINDOW.start_ms


def test_edited_and_new_queries_are_asked_for_the_whole_window() -> None:
    lucene = {"1": 'message:"a" AND tags:"console"', "2": LUCENE["2"], "3": 'message:"c"'}
    todo = plan(settled(), lucene, WINDOW, margin_ms=MARGIN, full_every_ms=DAY)
    assert (todo.carried, todo.fresh) == (("2",), ("1", "3"))


@pytest.mark.parametrize(
    "kept",
    [
        settled(days=7),  # another window size
        settled(until=HOUR),  # a settle point ahead of this one: the clock went back
        settled(until=WINDOW.start_ms - STEP_MS),  # a gap longer than the window
        settled(full=NOW_MS - DAY),  # the daily full recompute is due
    ],
)
def test_nothing_is_carried_over_when_it_cannot_be(kept: Settled) -> None:
    todo = plan(kept, LUCENE, WINDOW, margin_ms=MARGIN, full_every_ms=DAY)
    assert todo.kept is None
    assert todo.fresh == ("1", "2")


def test_a_full_refresh_carries_nothing() -> None:
    todo = plan(settled(), LUCENE, WINDOW, margin_ms=MARGIN, full_every_ms=DAY, full=True)
    assert (todo.kept, todo.carried) == (None, ())


def test_a_build_in_two_periods_is_one_build() -> None:
    leaf = ("FAILURE", "grenade", "nova", "gate", "u1")
    older = Tally({leaf: frozenset({HOUR - 5 * STEP_MS})}, {HOUR - 5 * STEP_MS: (1, 2)})
    newer = Tally({leaf: frozenset({HOUR - STEP_MS})}, {HOUR - 5 * STEP_MS: (0, 1)})
    both = merge(older, newer)
    assert both.builds == {leaf: frozenset({HOUR - 5 * STEP_MS, HOUR - STEP_MS})}
    assert both.seen == {HOUR - 5 * STEP_MS: (0, 2)}
    assert both.since(HOUR - 2 * STEP_MS).builds == {leaf: frozenset({HOUR - STEP_MS})}


def test_the_newest_builds_list_each_build_once_at_its_newest_line() -> None:
    found = newest_builds(
        [latest("a", 10), latest("b", 30), latest("a", 40), latest("c", 20)], count=2
    )
    assert [(b.uuid, b.when_ms) for b in found] == [("a", 40), ("b", 30)]


def kept_graph() -> Settled:
    leaf = ("FAILURE", "grenade", "nova", "", "u1")
    tally = Tally(
        {leaf: frozenset({HOUR - 5 * STEP_MS, HOUR - 4 * STEP_MS})},
        {HOUR - 5 * STEP_MS: (HOUR - 5 * STEP_MS + 7, HOUR - 5 * STEP_MS + 9)},
        (latest("u1", HOUR - 4 * STEP_MS + 3),),
    )
    return Settled(10, HOUR - 3 * STEP_MS, NOW_MS, NOW_MS - DAY, {"1": Kept("d1", tally)})


def test_rows_round_trip_and_only_changes_are_written() -> None:
    kept = kept_graph()
    rows, gone = changed_rows(None, kept)
    assert set(rows) == {GRAPH_ROW, "1"}
    assert gone == set()
    assert load_settled(rows) == kept
    moved = replace(kept, until_ms=kept.until_ms + STEP_MS, queries={"2": Kept("d2", Tally())})
    rows, gone = changed_rows(kept, moved)
    assert set(rows) == {GRAPH_ROW, "2"}
    assert gone == {"1"}
    same, _ = changed_rows(kept, replace(kept, until_ms=kept.until_ms + STEP_MS))
    assert set(same) == {GRAPH_ROW}  # the queries' hours did not change


def test_rows_of_another_format_or_broken_are_not_used() -> None:
    kept = kept_graph()
    rows = {GRAPH_ROW: graph_json(kept).replace('"format": 1', '"format": 0'), "1": "{}"}
    assert load_settled(rows) is None
    assert load_settled({GRAPH_ROW: graph_json(kept), "1": '{"digest": "x"}'}) is None
    assert load_settled({"1": kept_json(kept.queries["1"])}) is None


async def test_the_journal_keeps_rows_per_graph(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    # A journal written before the table existed: it gets it when opened.
    await (await StateStore.open(path)).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE settled")
    conn.close()
    store = await StateStore.open(path)
    try:
        await store.save_settled("all", {"": "g", "1": "a", "2": "b"}, (), replace=True)
        await store.save_settled("gate", {"": "G", "1": "A"}, (), replace=True)
        await store.save_settled("all", {"": "g2", "3": "c"}, {"1"}, replace=False)
        assert await store.settled_rows("all") == {"": "g2", "2": "b", "3": "c"}
        await store.save_settled("all", {"": "g3"}, (), replace=True)
        assert await store.settled_rows("all") == {"": "g3"}
        assert await store.settled_rows("gate") == {"": "G", "1": "A"}
    finally:
        await store.close()


class BrokenJournal:
    """A journal that cannot be read or written."""

    def __init__(self) -> None:
        self.reads = 0

    async def settled_rows(self, graph: str) -> dict[str, str]:
        self.reads += 1
        raise sqlite3.OperationalError("database is locked")

    async def save_settled(
        self, graph: str, rows: Mapping[str, str], gone: Collection[str], *, replace: bool
    ) -> None:
        raise sqlite3.OperationalError("disk I/O error")


async def test_a_broken_journal_costs_a_full_refresh_not_the_graph(
    search: OpenSearchBackend, caplog: pytest.LogCaptureFixture
) -> None:
    journal = BrokenJournal()
    cache = GraphCache(journal=journal)
    with caplog.at_level(logging.WARNING):
        views, _ = await cache.tallies(search, LUCENE, WINDOW, graph="all")
        await cache.tallies(search, LUCENE, Window(NOW_MS + STEP_MS), graph="all")
    assert set(views) == {"1", "2"}
    assert cache.last_plan["all"].kept is not None  # kept in memory all the same
    assert journal.reads == 1
    messages = [r.getMessage() for r in caplog.records]
    assert any("kept hours unreadable" in m for m in messages)
    assert any("kept hours not journaled" in m for m in messages)


def test_requests_chunk_what_asks_for_long_periods() -> None:
    many = {str(n): f'message:"{n}"' for n in range(7)}
    kept = replace(settled(), queries={q: Kept(digest(t), Tally()) for q, t in many.items()})
    steady = plan(kept, many, WINDOW, margin_ms=MARGIN, full_every_ms=DAY)
    assert [len(ids) for _, ids in requests(steady, 3)] == [7]  # a few hours: one request
    away = replace(kept, until_ms=HOUR - 3 * DAY)
    back = plan(away, {**many, "new": 'message:"new"'}, WINDOW, margin_ms=MARGIN, full_every_ms=DAY)
    asked = requests(back, 3)
    assert [len(ids) for _, ids in asked] == [3, 3, 1, 1]  # three days: chunks, then the new one
    assert asked[0][0].from_ms == HOUR - 3 * DAY
    assert asked[-1][0].from_ms == WINDOW.start_ms
    assert requests(plan(None, {}, WINDOW, margin_ms=MARGIN, full_every_ms=DAY), 3) == [
        (plan(None, {}, WINDOW, margin_ms=MARGIN, full_every_ms=DAY).fresh_span, ())
    ]


class PartialBackend:
    """Answers every search as timed out on the server, with whatever it found so far."""

    name = "partial"

    async def search(self, body: Body, *, index: str | None = None) -> Response:
        return {"timed_out": True, "aggregations": {}}

    async def msearch(self, bodies: object, *, index: str | None = None) -> list[Response]:
        raise NotImplementedError

    async def health(self) -> Response:
        return {"status": "green"}

    async def close(self) -> None:
        return None


async def test_a_partial_answer_fails_the_refresh_and_is_not_kept() -> None:
    cache = GraphCache()
    with pytest.raises(SearchUnavailable, match="partial answer"):
        await cache.tallies(PartialBackend(), LUCENE, WINDOW, graph="all")
    assert "all" not in cache.last_plan
