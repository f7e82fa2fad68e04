"""What a bug's page adds to the graph's one request, on osmem, against counts made here from
the documents of the graph data set: first and last hit, the newest failed builds, each job's
failed builds per hour; the suppress-graph queries in the same request, kept off the list."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from bot.dashboard.details import LATEST
from bot.dashboard.graph import (
    FAILURE,
    STEP_MS,
    TOP,
    Window,
    assemble,
    graph,
    graph_json,
)
from bot.dashboard.tally import Tally
from bot.search.schema import log_dir
from tests.support.graph import NOW_MS, QUERIES, matches


def ts_ms(doc: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(doc["@timestamp"]).timestamp() * 1000)


def hits(docs: list[dict[str, Any]], qid: str) -> list[dict[str, Any]]:
    query = next(q for q in QUERIES if q.id == qid)
    start = Window(NOW_MS).start_ms
    return [d for d in docs if matches(query, d) and start <= ts_ms(d) <= NOW_MS]


def newest_failed(found: list[dict[str, Any]]) -> list[tuple[str, int]]:
    newest: dict[str, int] = {}
    for d in found:
        if d["build_status"] == FAILURE:
            newest[d["build_uuid"]] = max(newest.get(d["build_uuid"], 0), ts_ms(d))
    return sorted(newest.items(), key=lambda item: -item[1])[:LATEST]


def job_hours(found: list[dict[str, Any]]) -> dict[str, dict[int, int]]:
    per: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for d in found:
        if d["build_status"] == FAILURE:
            per[d["build_name"]][ts_ms(d) - ts_ms(d) % STEP_MS].add(d["build_uuid"])
    return {job: {hour: len(u) for hour, u in hours.items()} for job, hours in per.items()}


async def test_details_match_independent_counts(graph_search: Any) -> None:
    backend, docs = graph_search
    data = await graph(backend, QUERIES, now=NOW_MS, with_hidden=True)
    assert [b.query.id for b in data.hidden] == ["1003"]  # suppress-graph: a page, not a row
    assert "1003" not in {b.query.id for b in data.bugs}
    assert "1003" not in {b["number"] for b in graph_json(data)["buglist"]}
    for bug in (*data.bugs, *data.hidden):
        found = hits(docs, bug.query.id)
        details = bug.details
        if not found:
            assert (details.first_seen_ms, details.last_seen_ms, details.latest) == (None, None, ())
            continue
        assert details.first_seen_ms == min(ts_ms(d) for d in found), bug.query.id
        assert details.last_seen_ms == max(ts_ms(d) for d in found), bug.query.id
        want = newest_failed(found)
        assert [(b.uuid, b.when_ms) for b in details.latest] == want, bug.query.id
        assert {job: dict(h) for job, h in details.job_hours.items()} == job_hours(found)
        first = next(d for d in found if d["build_uuid"] == want[0][0])
        newest = details.latest[0]
        assert (newest.job, newest.project, newest.queue) == (
            first["build_name"],
            first["project"],
            first["build_queue"],
        )
        assert newest.change == str(first["build_change"])
        assert newest.log_url == log_dir(first["log_url"], first["filename"])
        assert newest.change_url == first.get("change_url", "")  # ER's layout has none


async def test_without_hidden_the_request_leaves_them_out(graph_search: Any) -> None:
    backend, _ = graph_search
    data = await graph(backend, QUERIES, now=NOW_MS)
    assert data.hidden == ()
    assert len(data.bugs) == 4


def tally_with_jobs(count: int) -> Tally:
    """Job ``n`` with ``100 - n`` failed builds, all in the hour before the current one."""
    hour = Window(NOW_MS).hour_ms - STEP_MS
    builds = {
        (FAILURE, f"job-{n:02d}", "openstack/nova", "gate", f"{n:02d}-{k:03d}"): frozenset({hour})
        for n in range(count)
        for k in range(100 - n)
    }
    return Tally(builds)


def test_every_job_reaches_the_page_and_ten_the_json() -> None:
    data = assemble(QUERIES[:1], {"1001": tally_with_jobs(TOP + 5)}, Window(NOW_MS), None)
    (bug,) = data.bugs
    assert len(bug.top["jobs"]) == TOP + 5  # the filter sees them all
    assert bug.details.job_hours["job-03"] == ((Window(NOW_MS).hour_ms - STEP_MS, 97),)
    row = graph_json(data)["buglist"][0]
    assert [name for name, _ in row["top"]["jobs"]] == [f"job-{n:02d}" for n in range(TOP)]
    assert (row["first_seen"], row["last_seen"], row["latest"]) == (None, None, [])
