"""Graph JSON on a real osmem server, checked against counts computed here from the documents
of the graph data set (tests/support/graph.py)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.bugs import Bug, Target
from bot.config import SearchSettings
from bot.dashboard.graph import (
    DAY_MS,
    STEP_MS,
    Window,
    assemble,
    graph,
    graph_json,
    graph_lucene,
)
from bot.dashboard.links import kibana_url, rison_string
from bot.dashboard.tally import FILTER_PATH, Span, parse_answer, tally_body
from bot.queries import Query
from bot.search.schema import Schema
from tests.support.graph import MATCHERS, NOW_MS, QUERIES, matches, seed_graph_data, write_repo


def ts_ms(doc: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(doc["@timestamp"]).timestamp() * 1000)


def expected_bug(
    docs: list[dict[str, Any]], query: Query, queue: str | None, days: int = 10
) -> dict[str, Any]:
    """ER's numbers for one query, computed the way ER did: from the hits, in Python."""
    hour = NOW_MS - NOW_MS % STEP_MS
    start = hour - days * DAY_MS
    hits = [d for d in docs if matches(query, d, queue) and start <= ts_ms(d) <= NOW_MS]
    per_hour: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for d in hits:
        if ts_ms(d) < hour:
            per_hour[d["build_status"]][ts_ms(d) - ts_ms(d) % STEP_MS].add(d["build_uuid"])
    statuses = sorted({d["build_status"] for d in hits})
    series = {
        s: [[key, len(per_hour[s].get(key, ()))] for key in range(start, hour, STEP_MS)]
        for s in statuses
    }
    failed_jobs: dict[str, set[str]] = defaultdict(set)
    for d in hits:
        if d["build_status"] == "FAILURE":
            failed_jobs[d["build_name"]].add(d["build_uuid"])
    return {
        "fails": len({d["build_uuid"] for d in hits if d["build_status"] == "FAILURE"}),
        "fails24": sum(len(u) for k, u in per_hour["FAILURE"].items() if k > hour - DAY_MS),
        "series": series,
        "jobs": {job: len(uuids) for job, uuids in failed_jobs.items()},
    }


@pytest.mark.parametrize("queue", [None, "gate"])
async def test_graph_numbers_match_independent_counts(graph_search: Any, queue: str | None) -> None:
    backend, docs = graph_search
    data = await graph(backend, QUERIES, days=10, queue=queue, now=NOW_MS)
    doc = graph_json(data)
    assert list(doc)[:5] == ["now", "last_indexed", "behind", "buglist", "status"]
    assert doc["now"] == NOW_MS
    window_docs = [ts_ms(d) for d in docs if ts_ms(d) >= NOW_MS - 241 * STEP_MS]
    assert doc["last_indexed"] == max(t for t in window_docs if t <= NOW_MS)
    assert doc["behind"] == NOW_MS - NOW_MS % STEP_MS - doc["last_indexed"]
    assert doc["status"] == "yellow"  # osmem: one unassigned replica

    listed = {b["number"]: b for b in doc["buglist"]}
    assert set(listed) == {"1001", "1002", "1004", "1005"}  # 1003 is suppress-graph
    for query in QUERIES:
        if query.suppress_graph:
            continue
        want = expected_bug(docs, query, queue)
        got = listed[query.id]
        assert got["fails"] == want["fails"], query.id
        assert got["fails24"] == want["fails24"], query.id
        assert {s["label"]: s["data"] for s in got["data"]} == want["series"], query.id
        assert dict(map(tuple, got["top"]["jobs"])) == want["jobs"], query.id
        assert got["voting"] is (not query.allow_nonvoting)
        suffix = f' AND build_queue:"{queue}"' if queue else ""
        assert got["query"] == query.effective + suffix
    assert listed["1001"]["fails"] > listed["1002"]["fails"] > 0
    assert listed["1001"]["fails24"] > 0
    assert all(len(s["data"]) == 240 for b in doc["buglist"] for s in b["data"])
    assert listed["1005"] == {**listed["1005"], "fails": 0, "fails24": 0, "data": []}
    ranks = [b["fails24"] * 100000 + b["fails"] for b in doc["buglist"]]
    assert ranks == sorted(ranks, reverse=True)


async def test_data_spans_what_the_test_claims(graph_search: Any) -> None:
    """Guard the dataset: hits in the current hour and builds spanning two hours exist."""
    _, docs = graph_search
    hour = NOW_MS - NOW_MS % STEP_MS
    quota = [d for d in docs if MATCHERS["1001"](d) and str(d["voting"]) == "1"]
    assert any(hour <= ts_ms(d) <= NOW_MS for d in docs)
    assert any(ts_ms(d) < hour - 240 * STEP_MS for d in quota)  # older than the window
    hours_per_build: dict[str, set[int]] = defaultdict(set)
    for d in docs:
        hours_per_build[d["build_uuid"]].add(ts_ms(d) // STEP_MS)
    assert any(len(h) > 1 for h in hours_per_build.values())
    assert expected_bug(docs, QUERIES[0], None)["fails24"] > 0


async def test_bug_info_hook_and_failures(graph_search: Any) -> None:
    backend, _ = graph_search

    async def tracker(query: Query) -> Bug | None:
        if query.id == "1002":
            raise RuntimeError("launchpad down")
        if query.id == "1004":
            return None  # the tracker did not answer
        return query.bug.described(title=f"title of {query.id}", targets=(Target("nova", "New"),))

    data = await graph(backend, QUERIES, now=NOW_MS, look_up=tracker)
    by_id = {b["number"]: b["bug_data"] for b in graph_json(data)["buglist"]}
    assert by_id["1001"] == {"name": "title of 1001", "affects": "(nova - New)", "reviews": []}
    unable = {"name": "Unable to get bug data", "affects": "Unknown", "reviews": []}
    assert by_id["1002"] == unable
    assert by_id["1004"] == unable


async def test_default_bug_data_comes_from_the_query(graph_search: Any) -> None:
    backend, _ = graph_search
    data = await graph(backend, QUERIES, now=NOW_MS)
    first = {b["number"]: b for b in graph_json(data, kibana="https://kibana.example")["buglist"]}
    assert first["1001"]["bug_data"] == {
        "name": "Disk quota <exceeded> on nodes",
        "affects": "nova",
        "reviews": [],
    }
    assert first["1001"]["tracker"]["url"] == "https://bugs.launchpad.net/bugs/1001"
    assert first["1001"]["logstash_url"].startswith("https://kibana.example/app/discover#/?_g=")
    assert first["1004"]["owner"] == "qa"


def test_body_is_one_filters_aggregation_of_build_trees() -> None:
    window = Window(NOW_MS, 10)
    graphed = {q.id: graph_lucene(q, "gate") for q in QUERIES if not q.suppress_graph}
    span = Span(window.start_ms, window.hour_ms - 2 * STEP_MS, NOW_MS)
    body = tally_body(graphed, span)
    filters = body["aggs"]["bugs"]["filters"]["filters"]
    assert list(filters) == ["1001", "1002", "1004", "1005"]
    assert filters["1004"]["query_string"]["query"] == 'message:"flaky test" AND build_queue:"gate"'
    tree = body["aggs"]["bugs"]["aggs"]
    fields = []
    while "h" not in tree:
        (name,) = [key for key in tree if len(key) == 1 and key != "t"]
        fields.append(tree[name]["terms"]["field"])
        tree = tree[name]["aggs"]
    assert fields == ["build_status", "build_name", "project", "build_queue", "build_uuid"]
    assert tree["h"]["date_histogram"]["fixed_interval"] == "1h"
    window_range = body["query"]["bool"]["filter"][0]["range"]["@timestamp"]
    assert (window_range["gte"], window_range["lte"]) == (window.start_ms, NOW_MS)
    assert "newest" not in body["aggs"]
    assert "newest" in tally_body(graphed, span, newest=True)["aggs"]
    assert body["size"] == 0
    assert len(window.buckets()) == 240
    assert {path.split(".")[0] for path in FILTER_PATH} == {"aggregations", "timed_out", "_shards"}


def test_parse_empty_response_and_no_queries() -> None:
    window = Window(NOW_MS, 2)
    span = Span(window.start_ms, window.hour_ms, NOW_MS)
    assert "bugs" not in tally_body({}, span)["aggs"]
    answer = parse_answer({"aggregations": {"newest": {"value": None}}}, ["1001"], span)
    assert answer.newest_ms is None
    data = assemble(QUERIES[:1], {**answer.older}, window, answer.newest_ms)
    assert data.last_indexed_ms == 0
    assert data.bugs[0].fails == 0
    assert data.bugs[0].series == ()


def test_kibana_link_escapes_rison_and_url() -> None:
    assert rison_string("it's!") == "'it!'s!!'"
    url = kibana_url("https://k.example/", 'message:"a b" AND x:y', 10)
    assert url.startswith("https://k.example/app/discover#/?_g=%28time%3A%28from%3Anow-10d")
    assert "%22a%20b%22" in url
    assert kibana_url(None, "x", 10) == ""


def test_graph_command(search_settings: SearchSettings, tmp_path: Path, schema: Schema) -> None:
    from typer.testing import CliRunner

    import bot.cli.graph  # noqa: F401  (registers the subcommand)
    from bot.cli.app import app

    docs = seed_graph_data(search_settings, schema)
    repo = write_repo(tmp_path / "queries")
    out = tmp_path / "out" / "all.json"
    common = ["--es-url", search_settings.url, "--queries", str(repo)]
    offline = {"RECHECKBOT_TRACKERS__ENABLED": "false"}  # titles from the query files
    result = CliRunner().invoke(
        app, ["graph", "-o", str(out), "--queue", "gate", *common], env=offline
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert out.read_text().startswith('{\n    "now"')  # ER's 4-space indent
    by_id = {b["number"]: b for b in data["buglist"]}
    assert set(by_id) == {"1001", "1002", "1004", "1005"}
    # Counted at the command's own "now": compare the window-independent total for a safe check.
    assert by_id["1001"]["fails"] == expected_bug(docs, QUERIES[0], "gate")["fails"]
    assert by_id["1001"]["bug_data"]["name"] == "Disk quota <exceeded> on nodes"

    result = CliRunner().invoke(app, ["graph", *common], env=offline)  # no -o: compact JSON
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "yellow"

    result = CliRunner().invoke(
        app, ["graph", "--es-url", search_settings.url, "--queries", str(tmp_path / "missing")]
    )
    assert result.exit_code == 2
    assert "no such query directory" in result.output
