"""Graph JSON: recheckbot's few aggregation requests against ER's one search per query.

    python -m benchmarks.graph [--docs N] [--queries N] [--days N] [--delay S] [--incremental]

Both strategies run in the same process, on the same embedded server and data, through a
forwarding proxy that counts round trips and body bytes and adds ``--delay`` per request (a
stand-in for network latency). ER's strategy, as ``elastic-recheck-graph`` ran it: cluster health,
one "most recent event" search, then for each query, sequentially, a search of up to 3000 hits
(whole documents), counted in Python. Ours: :func:`bot.dashboard.graph.graph`, every hour asked
(a ``filters`` aggregation per chunk of queries, cluster health, concurrently). The per-query
numbers of both are compared, so the speed-up is not bought with different answers.

``--incremental``: the steady state of the served dashboard. The documents of the last
``--refresh`` minutes are held back; a refresh through a :class:`GraphCache` asks for every hour
(the daily full recompute), the held-back documents arrive, and the next refresh, ``--refresh``
minutes later, asks only for the hours since the settle point. That refresh is measured against
ER's strategy and against a full recompute at the same moment, whose JSON it must equal.

The data models what makes ER expensive: a failing build repeats its bug's log line several
times (a log-normal count, median 10), log documents carry the usual ~25 logstash fields, and
bugs are Zipf-distributed over the queries (a few fire often, many rarely). The embedded server
scans every document per query, so its raw times are reported but say nothing about a real
cluster; round trips and bytes are what carry over.

A full recompute's bytes grow with the number of queries, of their builds and busy hours, ER's
with the number of hits: about 20x at the defaults (~50 bug lines per query). A refresh that
keeps the settled hours asks for a few hours instead of ten days: its request is the query list,
its reply a few builds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks._graph_data import make_documents, make_queries
from bot.config import SearchSettings
from bot.dashboard.graph import DAY_MS, FAILURE, STEP_MS, GraphData, Window, graph, graph_json
from bot.dashboard.incremental import GraphCache
from bot.queries import Query
from bot.search.base import Body, Response, SearchBackend
from bot.search.embedded import EmbeddedSearch
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.search.stats import query_string
from tests.support.http import ForwardingProxy

ER_SIZE = 3000  # ER's graph search size
Numbers = dict[str, Any]  # fails, fails24, series {label: [[ms, n], ...]}


# --- ER's strategy -----------------------------------------------------------------------------


def er_search_body(lucene: str, window: Window) -> dict[str, Any]:
    window_filter = {
        "range": {
            "@timestamp": {"gte": window.start_ms, "lte": window.now_ms, "format": "epoch_millis"}
        }
    }
    return {
        "size": ER_SIZE,
        "sort": [{"@timestamp": {"order": "desc"}}],
        "query": {"bool": {"must": [query_string(lucene)], "filter": [window_filter]}},
    }


def er_count(hits: list[dict[str, Any]], window: Window) -> Numbers:
    """ER's client-side counting: distinct builds per status per hour, fails, fails24."""
    per_hour: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    failed: set[str] = set()
    statuses = set()
    for hit in hits:
        source = hit["_source"]
        status, build = source["build_status"], source["build_uuid"]
        stamp = int(datetime.fromisoformat(source["@timestamp"]).timestamp() * 1000)
        statuses.add(status)
        if status == FAILURE:
            failed.add(build)
        if stamp < window.hour_ms:
            per_hour[status][stamp - stamp % STEP_MS].add(build)
    keys = window.buckets()
    day_ago = window.hour_ms - DAY_MS
    return {
        "fails": len(failed),
        "fails24": sum(len(b) for k, b in per_hour[FAILURE].items() if k > day_ago),
        "series": {s: [[k, len(per_hour[s].get(k, ()))] for k in keys] for s in sorted(statuses)},
        "capped": len(hits) >= ER_SIZE,
    }


async def er_graph(
    backend: SearchBackend, queries: list[Query], window: Window
) -> dict[str, Numbers]:
    """ER's graph: health, the newest event, then one search per query, in turn."""
    await backend.health()
    latest = {"size": 1, "sort": [{"@timestamp": {"order": "desc"}}], "query": {"match_all": {}}}
    await backend.search(latest)
    numbers = {}
    for query in queries:
        response = await backend.search(er_search_body(query.effective, window))
        numbers[query.id] = er_count(response["hits"]["hits"], window)
    return numbers


class TookCounter:
    """A backend wrapper that adds up the server's own ``took`` (ms) of every search."""

    def __init__(self, inner: OpenSearchBackend) -> None:
        self.inner = inner
        self.name = inner.name
        self.took = 0.0

    async def search(self, body: Body, *, index: str | None = None) -> Response:
        response = await self.inner.search(body, index=index)
        self.took += float(response.get("took", 0))
        return response

    async def search_filtered(
        self, body: Body, filter_path: Sequence[str], *, index: str | None = None
    ) -> Response:
        response = await self.inner.search_filtered(body, [*filter_path, "took"], index=index)
        self.took += float(response.get("took", 0))
        return response

    async def msearch(self, bodies: Sequence[Body], *, index: str | None = None) -> list[Response]:
        return await self.inner.msearch(bodies, index=index)

    async def health(self) -> Response:
        return await self.inner.health()

    async def close(self) -> None:
        await self.inner.close()


def our_numbers(data: GraphData) -> dict[str, Numbers]:
    return {
        bug.query.id: {
            "fails": bug.fails,
            "fails24": bug.fails24,
            "series": {s.label: [list(p) for p in s.data] for s in bug.series},
        }
        for bug in data.bugs
    }


# --- measuring ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    name: str
    requests: int
    sent: int
    received: int
    wall: float
    server_ms: float

    @property
    def bytes(self) -> int:
        return self.sent + self.received


async def measure(name: str, proxy: ForwardingProxy, work: Callable[[], Awaitable[float]]) -> Run:
    proxy.reset()
    clock = time.perf_counter()
    server_ms = await work()
    wall = time.perf_counter() - clock
    return Run(name, proxy.requests, proxy.bytes_sent, proxy.bytes_received, wall, server_ms)


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def compare(ours: dict[str, Numbers], er: dict[str, Numbers]) -> tuple[list[str], list[str]]:
    """(queries where the answers differ, queries ER under-counted because of its hit cap)."""
    wrong, capped = [], []
    for qid, theirs in er.items():
        if theirs["capped"]:
            # ER saw only the newest 3000 hits: our (complete) count can only be higher.
            capped.append(qid)
            if ours[qid]["fails"] < theirs["fails"]:
                wrong.append(qid)
        elif ours.get(qid) != {k: v for k, v in theirs.items() if k != "capped"}:
            wrong.append(qid)
    return wrong, capped


@dataclass
class Bench:
    """The server behind the counting proxy, the backend through it, and ER's and our runs."""

    proxy: ForwardingProxy
    backend: TookCounter
    queries: list[Query]

    async def ours(self, now_ms: int, days: int, cache: GraphCache | None = None) -> GraphData:
        self.backend.took = 0.0
        return await graph(self.backend, self.queries, days=days, now=now_ms, cache=cache)

    async def er(self, now_ms: int, days: int) -> dict[str, Numbers]:
        self.backend.took = 0.0
        return await er_graph(self.backend, self.queries, Window(now_ms, days))

    async def measure(self, name: str, work: Callable[[], Awaitable[Any]]) -> tuple[Run, Any]:
        got: list[Any] = []

        async def timed() -> float:
            got.append(await work())
            return self.backend.took

        return await measure(name, self.proxy, timed), got[0]


async def index(search: EmbeddedSearch, documents: list[dict[str, Any]]) -> int:
    loader = OpenSearchBackend(search.settings().model_copy(update={"timeout": 600.0}))
    try:
        return await bulk_index(loader.client, documents)
    finally:
        await loader.close()


async def run(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    now = datetime.now(UTC)
    queries = make_queries(args.queries, rng)
    documents = list(make_documents(queries, args.docs, args.days, now, rng))
    held = now - timedelta(minutes=args.refresh) if args.incremental else now
    stamp = held.isoformat(timespec="milliseconds")
    arriving = [d for d in documents if d["@timestamp"] > stamp]
    async with await EmbeddedSearch.start() as search:
        clock = time.perf_counter()
        count = await index(search, [d for d in documents if d["@timestamp"] <= stamp])
        print(
            f"indexed {count} documents, {len(queries)} queries, {args.days} days "
            f"({time.perf_counter() - clock:.1f} s)"
        )
        async with ForwardingProxy(search.url, delay=args.delay) as proxy:
            settings = SearchSettings(url=proxy.url, timeout=args.timeout, retries=0)
            backend = TookCounter(OpenSearchBackend(settings))
            await backend.health()  # connect once, outside the measurement
            bench = Bench(proxy, backend, queries)
            try:
                if args.incremental:
                    await incremental(bench, search, arriving, held, now, args)
                else:
                    await full(bench, now, args)
            finally:
                await backend.close()


async def full(bench: Bench, now: datetime, args: argparse.Namespace) -> None:
    now_ms, days = int(now.timestamp() * 1000), args.days
    mine, ours = await bench.measure(
        "recheckbot (every hour)", lambda: bench.ours(now_ms, args.days)
    )
    theirs, er = await bench.measure("ER (search per query)", lambda: bench.er(now_ms, days))
    wrong = report(our_numbers(ours), er, [mine, theirs], args)
    print(
        f"graph: {theirs.requests / mine.requests:.0f}x fewer round trips, "
        f"{theirs.bytes / mine.bytes:.0f}x fewer bytes "
        f"({human(mine.bytes)} vs {human(theirs.bytes)})"
    )
    if wrong:
        raise SystemExit(1)


async def incremental(
    bench: Bench,
    search: EmbeddedSearch,
    arriving: list[dict[str, Any]],
    held: datetime,
    now: datetime,
    args: argparse.Namespace,
) -> None:
    cache = GraphCache(margin_minutes=args.margin)
    then_ms, now_ms = int(held.timestamp() * 1000), int(now.timestamp() * 1000)
    days = args.days
    first, _ = await bench.measure(
        "first refresh (every hour)", lambda: bench.ours(then_ms, days, cache)
    )
    await index(search, arriving)
    print(f"{len(arriving)} documents arrived in the {args.refresh} minutes since")
    kept_run, kept = await bench.measure(
        "next refresh (newer hours)", lambda: bench.ours(now_ms, days, cache)
    )
    full_run, fresh = await bench.measure("full recompute", lambda: bench.ours(now_ms, days))
    theirs, er = await bench.measure("ER (search per query)", lambda: bench.er(now_ms, days))
    wrong = report(our_numbers(kept), er, [first, kept_run, full_run, theirs], args)
    same = kept == fresh and json.dumps(graph_json(kept)) == json.dumps(graph_json(fresh))
    print(
        f"graph refresh: {theirs.bytes / kept_run.bytes:.0f}x fewer bytes than ER, "
        f"{full_run.bytes / kept_run.bytes:.0f}x fewer than a full recompute, "
        f"identical: {'yes' if same and not wrong else 'NO'}"
    )
    if wrong or not same:
        raise SystemExit(1)


def report(
    ours: dict[str, Numbers], er: dict[str, Numbers], runs: list[Run], args: argparse.Namespace
) -> list[str]:
    """Print the comparison and the table; the queries whose numbers differ from ER's."""
    wrong, capped = compare(ours, er)
    hit = sum(1 for n in er.values() if n["fails"])
    print(
        f"queries with failures: {hit} of {len(er)}; results identical: "
        f"{'yes' if not wrong else 'NO (' + ', '.join(wrong[:5]) + ')'}"
        + (f" (ER's {ER_SIZE}-hit cap under-counted {len(capped)})" if capped else "")
    )
    print(
        f"{'strategy':28} {'requests':>9} {'sent':>10} {'received':>10} "
        f"{'wall (+' + str(int(args.delay * 1000)) + ' ms/req)':>18} {'server':>9}"
    )
    for r in runs:
        print(
            f"{r.name:28} {r.requests:9d} {human(r.sent):>10} {human(r.received):>10} "
            f"{r.wall:17.2f}s {r.server_ms / 1000:8.2f}s"
        )
    ours_run, theirs = runs[-2], runs[-1]
    print(
        f"wall time ER/ours: {theirs.wall / ours_run.wall:.2f}; server time ER/ours: "
        f"{theirs.server_ms / max(ours_run.server_ms, 1):.2f} (the embedded server scans every "
        "document per query either way: its times say nothing about a real cluster)"
    )
    return wrong


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.graph", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--docs", type=int, default=30000, help="log lines to index (about)")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--delay", type=float, default=0.005, help="seconds added per request")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per request")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--incremental", action="store_true", help="a refresh that keeps the settled hours"
    )
    parser.add_argument("--refresh", type=int, default=30, help="minutes between two refreshes")
    parser.add_argument("--margin", type=int, default=120, help="settle margin, minutes")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
