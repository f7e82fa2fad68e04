"""Graph JSON on a real osmem server, checked against counts computed here from the documents.

The dataset (also used by the uncategorized, server and browser tests) is hand-made: builds
over 11 days whose lines are 17 minutes apart, so a build often spans two hourly buckets, and
some lines sit in the current hour (counted in ``fails``, left out of the series, as in ER).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.bugs import Bug, Target
from bot.config import SearchSettings
from bot.dashboard.graph import (
    DAY_MS,
    STEP_MS,
    Window,
    graph,
    graph_body,
    graph_json,
    parse_graph,
)
from bot.dashboard.links import kibana_url, rison_string
from bot.queries import Query
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend

NOW = datetime.now(UTC).replace(microsecond=0)
NOW_MS = int(NOW.timestamp() * 1000)
JOBS = ("tempest-full", "grenade", "tox-py311")
PROJECTS = ("openstack/nova", "openstack/neutron")
LINE_GAP = timedelta(minutes=17)


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


def documents(builds: list[Build]) -> list[dict[str, Any]]:
    docs = []
    for b in builds:
        for n, message in enumerate(b.messages):
            when = b.start + n * LINE_GAP
            docs.append(
                {
                    "@timestamp": when.isoformat(timespec="seconds"),
                    "message": message,
                    "build_uuid": b.uuid,
                    "build_short_uuid": b.uuid[:7],
                    "build_name": b.job,
                    "build_status": b.status,
                    "build_queue": b.queue,
                    "project": b.project,
                    "voting": "1" if b.voting else "0",
                    "log_url": f"https://logs.example.org/{b.queue}/{b.job}/{b.uuid[:7]}/job-output.txt",
                    "filename": "job-output.txt",
                    "tags": ["console", "job-output.txt"],
                }
            )
    return docs


def ts_ms(doc: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(doc["@timestamp"]).timestamp() * 1000)


def matches(query: Query, doc: dict[str, Any], queue: str | None = None) -> bool:
    voting_ok = query.allow_nonvoting or doc["voting"] == "1"
    queue_ok = queue is None or doc["build_queue"] == queue
    return MATCHERS[query.id](doc) and voting_ok and queue_ok


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


@pytest.fixture
async def loaded(search_settings: SearchSettings) -> Iterator[Any]:
    backend = OpenSearchBackend(search_settings)
    docs = documents(make_builds())
    await bulk_index(backend.client, docs)
    yield backend, docs
    await backend.close()


@pytest.mark.parametrize("queue", [None, "gate"])
async def test_graph_numbers_match_independent_counts(loaded: Any, queue: str | None) -> None:
    backend, docs = loaded
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


async def test_data_spans_what_the_test_claims(loaded: Any) -> None:
    """Guard the dataset: hits in the current hour and builds spanning two hours exist."""
    _, docs = loaded
    hour = NOW_MS - NOW_MS % STEP_MS
    quota = [d for d in docs if MATCHERS["1001"](d) and d["voting"] == "1"]
    assert any(hour <= ts_ms(d) <= NOW_MS for d in docs)
    assert any(ts_ms(d) < hour - 240 * STEP_MS for d in quota)  # older than the window
    hours_per_build: dict[str, set[int]] = defaultdict(set)
    for d in docs:
        hours_per_build[d["build_uuid"]].add(ts_ms(d) // STEP_MS)
    assert any(len(h) > 1 for h in hours_per_build.values())
    assert expected_bug(docs, QUERIES[0], None)["fails24"] > 0


async def test_bug_info_hook_and_failures(loaded: Any) -> None:
    backend, _ = loaded

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


async def test_default_bug_data_comes_from_the_query(loaded: Any) -> None:
    backend, _ = loaded
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


def test_body_is_one_filters_aggregation() -> None:
    window = Window(NOW_MS, 10)
    body = graph_body([q for q in QUERIES if not q.suppress_graph], window, "gate")
    filters = body["aggs"]["bugs"]["filters"]["filters"]
    assert list(filters) == ["1001", "1002", "1004", "1005"]
    assert filters["1004"]["query_string"]["query"] == 'message:"flaky test" AND build_queue:"gate"'
    status = body["aggs"]["bugs"]["aggs"]["status"]
    assert status["terms"]["field"] == "build_status"
    assert status["aggs"]["hourly"]["date_histogram"]["fixed_interval"] == "1h"
    assert status["aggs"]["builds"]["cardinality"]["field"] == "build_uuid"
    assert body["size"] == 0
    assert len(window.buckets()) == 240


def test_parse_empty_response_and_no_queries() -> None:
    window = Window(NOW_MS, 2)
    assert "bugs" not in graph_body([], window)["aggs"]
    data = parse_graph({"aggregations": {"last_indexed": {"value": None}}}, QUERIES[:1], window)
    assert data.last_indexed_ms == 0
    assert data.bugs[0].fails == 0
    assert data.bugs[0].series == ()


def test_kibana_link_escapes_rison_and_url() -> None:
    assert rison_string("it's!") == "'it!'s!!'"
    url = kibana_url("https://k.example/", 'message:"a b" AND x:y', 10)
    assert url.startswith("https://k.example/app/discover#/?_g=%28time%3A%28from%3Anow-10d")
    assert "%22a%20b%22" in url
    assert kibana_url(None, "x", 10) == ""


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


def test_graph_command(search_settings: SearchSettings, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import bot.cli.graph  # noqa: F401  (registers the subcommand)
    from bot.cli.app import app

    async def load() -> list[dict[str, Any]]:
        backend = OpenSearchBackend(search_settings)
        docs = documents(make_builds())
        await bulk_index(backend.client, docs)
        await backend.close()
        return docs

    docs = asyncio.run(load())
    repo = write_repo(tmp_path / "queries")
    out = tmp_path / "out" / "all.json"
    common = ["--es-url", search_settings.url, "--queries", str(repo)]
    result = CliRunner().invoke(app, ["graph", "-o", str(out), "--queue", "gate", *common])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert out.read_text().startswith('{\n    "now"')  # ER's 4-space indent
    by_id = {b["number"]: b for b in data["buglist"]}
    assert set(by_id) == {"1001", "1002", "1004", "1005"}
    # Counted at the command's own "now": compare the window-independent total for a safe check.
    assert by_id["1001"]["fails"] == expected_bug(docs, QUERIES[0], "gate")["fails"]
    assert by_id["1001"]["bug_data"]["name"] == "Disk quota <exceeded> on nodes"

    result = CliRunner().invoke(app, ["graph", *common])  # no -o: compact JSON on stdout
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "yellow"

    result = CliRunner().invoke(
        app, ["graph", "--es-url", search_settings.url, "--queries", str(tmp_path / "missing")]
    )
    assert result.exit_code == 2
    assert "no such query directory" in result.output
