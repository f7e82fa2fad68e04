"""Classification cost, ours (one request per build) against ER's (one search per query per job).

Both strategies run in this process against the same embedded search server and the same
builds. Round trips and body bytes are counted on the wire by a forwarding proxy; a second proxy
adds 5 ms per request as a stand-in for a remote cluster. A second part lets 100 failed-build
events wait for logs that turn up a few seconds later, and times logs-ready → verdict.

    python -m benchmarks.classify [--docs N] [--queries N] [--builds N] [--events N]

The embedded server scans every document per query, so its raw times say little about a real
cluster; round trips, bytes and the bot's own CPU are what carry over.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import re
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.config import SearchSettings
from bot.demo.data import DemoBuildset, DemoData, generate, job_documents
from bot.events.model import FailedBuild, Job
from bot.events.parse import parse_event
from bot.events.source import RawEvent
from bot.queries import Query, load_queries
from bot.search.base import SearchBackend
from bot.search.embedded import EmbeddedSearch
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.watch.classify import (
    Classifier,
    QuerySet,
    classify_body,
    classify_when_ready,
    parse_classification,
)
from bot.watch.readiness import ReadinessMonitor
from tests.support.http import ForwardingProxy

UPSTREAM = Path(__file__).resolve().parent.parent.parent / "shared" / "upstream" / "queries"
DELAY = 0.005  # per request, through the "remote" proxy
_PHRASE = re.compile(r'message:"((?:[^"\\]|\\.)*)"')
_TAGS = ("screen-n-cpu.txt", "syslog.txt", "grenade.sh.txt", "job-output.txt")


def query_set(base: Sequence[Query], total: int) -> list[Query]:
    """``base`` plus variants up to ``total``: reworded phrases, other tags, other jobs."""
    found = list(base[:total])
    for i in range(total - len(found)):
        found.append(_variant(base[i % len(base)], i))
    return found


def _variant(query: Query, i: int) -> Query:
    kind = i % 3
    if kind == 0 and _PHRASE.search(query.lucene):
        lucene = _PHRASE.sub(lambda m: f'message:"{_reword(m.group(1), i)}"', query.lucene, count=1)
    elif kind == 1:
        lucene = f'({query.lucene}) AND tags:"{_TAGS[i % len(_TAGS)]}"'
    else:
        lucene = f'({query.lucene}) AND build_name:"variant-job-{i}"'
    return replace(query, id=f"{query.id}-v{i}", lucene=lucene)


def _reword(phrase: str, i: int) -> str:
    words = phrase.split(" ")
    words[len(words) // 2] = f"variant{i}"
    return " ".join(words)


def failed_builds(data: DemoData) -> list[FailedBuild]:
    found = []
    for event in data.events():
        build = parse_event(RawEvent("bench", event), ci_accounts=["zuul"])
        if isinstance(build, FailedBuild):
            found.append(build)
    return found


def dataset(queries: Sequence[Query], docs: int, seed: int) -> DemoData:
    per_day = max(1, math.ceil(docs / 26 / 4))  # ~26 documents per buildset, 4 days
    # ER-era documents: ER's strategy, compared against, finds a job by its short uuid.
    return generate(queries, days=4, buildsets_per_day=per_day, seed=seed, schema="er")


# --- ER's strategy ----------------------------------------------------------------------


def er_body(query: Query, build: FailedBuild, job: Job) -> dict[str, Any]:
    """ER's single_patch search: the query AND the job's change, patchset and short uuid."""
    restrict = f'build_change:"{build.change}" AND build_patchset:"{build.patchset}"'
    if job.short_uuid:
        restrict += f" AND build_short_uuid:{job.short_uuid}"
    else:
        restrict += f' AND build_name:"{job.name}"'
    return {
        "sort": {"@timestamp": {"order": "desc"}},
        "size": 10,
        "query": {"query_string": {"query": f"({query.effective}) AND {restrict}"}},
    }


async def er_classify(
    build: FailedBuild, queries: Sequence[Query], backend: SearchBackend, cpu: list[float]
) -> dict[str, set[str]]:
    """One search per query per failed job, one after another, as ER ran them."""
    bugs: dict[str, set[str]] = {}
    for job in build.failed_jobs:
        bugs[job.name] = set()
        for query in queries:
            if query.suppress_notification:
                continue
            start = time.process_time()
            body = er_body(query, build, job)
            json.dumps(body)  # the client's encoding, paid by the bot
            cpu.append(time.process_time() - start)
            response = await backend.search(body)
            raw = json.dumps(response)
            start = time.process_time()
            total = json.loads(raw)["hits"]["total"]
            if (total["value"] if isinstance(total, dict) else total) > 0:
                bugs[job.name].add(query.id)
            cpu.append(time.process_time() - start)
    return bugs


async def ours_classify(
    build: FailedBuild, queries: QuerySet, backend: SearchBackend, cpu: list[float]
) -> dict[str, set[str]]:
    start = time.process_time()
    body = classify_body(build, queries)
    json.dumps(body)  # the client's encoding, paid by the bot
    cpu.append(time.process_time() - start)
    response = await backend.search(body)
    raw = json.dumps(response)
    start = time.process_time()
    verdict = parse_classification(build, queries, json.loads(raw))
    cpu.append(time.process_time() - start)
    return {job.job.name: set(job.bugs) for job in verdict.jobs}


# --- part A: cost per build -------------------------------------------------------------


@dataclass
class Cost:
    trips: float = 0.0
    sent: float = 0.0
    received: float = 0.0
    remote: float = 0.0  # wall seconds through the 5 ms proxy
    raw: float = 0.0  # wall seconds straight to the embedded server
    cpu: float = 0.0  # bot seconds building bodies and reading responses


async def measure(
    name: str, builds: Sequence[FailedBuild], queries: Sequence[Query], url: str
) -> tuple[Cost, list[dict[str, set[str]]]]:
    query_set = QuerySet.of(queries)
    cost = Cost()
    cpu: list[float] = []

    async def run(backend: SearchBackend, cpu: list[float]) -> list[dict[str, set[str]]]:
        if name == "ours":
            return [await ours_classify(b, query_set, backend, cpu) for b in builds]
        return [await er_classify(b, queries, backend, cpu) for b in builds]

    async with ForwardingProxy(url, delay=DELAY) as proxy:
        backend = _backend(proxy.url)
        await backend.health()  # connect before counting
        proxy.reset()
        start = time.perf_counter()
        verdicts = await run(backend, [])
        cost.remote = time.perf_counter() - start
        cost.trips, cost.sent, cost.received = (
            proxy.requests,
            proxy.bytes_sent,
            proxy.bytes_received,
        )
        await backend.close()
    backend = _backend(url)
    await backend.health()
    start = time.perf_counter()
    await run(backend, cpu)
    cost.raw = time.perf_counter() - start
    await backend.close()
    cost.cpu = sum(cpu)
    n = len(builds)
    per_build = Cost(*(value / n for value in vars(cost).values()))
    return per_build, verdicts


def _backend(url: str) -> OpenSearchBackend:
    return OpenSearchBackend(SearchSettings(url=url, timeout=300, retries=0))


async def per_build_cost(args: argparse.Namespace, base: list[Query]) -> tuple[Cost, Cost]:
    queries = query_set(base, args.queries)
    data = dataset(base, args.docs, args.seed)
    docs = list(data.documents())
    builds = failed_builds(data)[: args.builds]
    jobs = sum(len(b.failed_jobs) for b in builds)
    print(
        f"part A: {len(queries)} queries, {len(docs)} documents, {len(builds)} failed builds"
        f" ({jobs} failed jobs)"
    )
    async with await EmbeddedSearch.start() as search:
        await _seed(search.url, docs)
        ours, our_bugs = await measure("ours", builds, queries, search.url)
        er, er_bugs = await measure("er", builds, queries, search.url)
    testless = {q.id for q in queries if not q.test_ids}
    agree = all(
        {k: b & testless for k, b in mine.items()} == {k: b & testless for k, b in theirs.items()}
        for mine, theirs in zip(our_bugs, er_bugs, strict=True)
    )
    found = sum(len(b) for verdict in our_bugs for b in verdict.values())
    print(f"  verdicts agree with ER's strategy: {'yes' if agree else 'NO'} ({found} bug matches)")
    _table(ours, er)
    return ours, er


async def _seed(url: str, docs: list[dict[str, Any]]) -> None:
    backend = _backend(url)
    await bulk_index(backend.client, docs)
    await backend.close()


def _table(ours: Cost, er: Cost) -> None:
    rows = [
        ("search round trips", "trips", "{:.1f}"),
        ("request bytes", "sent", "{:,.0f}"),
        ("response bytes", "received", "{:,.0f}"),
        (f"wall s, +{DELAY * 1000:.0f} ms/request", "remote", "{:.3f}"),
        ("wall s, embedded server", "raw", "{:.3f}"),
        ("bot CPU ms (bodies, JSON, parsing)", "cpu", "{:.2f}"),
    ]
    print(f"  {'per classified build':32} {'ours':>12} {'ER':>12} {'ER/ours':>9}")
    for label, key, fmt in rows:
        mine, theirs = getattr(ours, key), getattr(er, key)
        scale = 1000 if key == "cpu" else 1
        ratio = theirs / mine if mine else math.inf
        print(
            f"  {label:32} {fmt.format(mine * scale):>12} {fmt.format(theirs * scale):>12}"
            f" {ratio:>8.1f}x"
        )


# --- part B: logs-ready → verdict under load --------------------------------------------


async def ready_to_verdict(args: argparse.Namespace, base: list[Query]) -> list[float]:
    """Seconds from "logs searchable" to verdict for ``args.events`` builds waiting at once."""
    rng = random.Random(args.seed)
    queries = query_set(base, args.latency_queries)
    waiting, others = _buildsets(base, args.events, args.docs, args.seed)
    docs = [doc for b in waiting for job in b.jobs for doc in job_documents(b, job)]
    # Every "POST-RUN END" line waits (a bug line may be one too), the rest is there at once.
    early = [d for d in docs if "POST-RUN END" not in d["message"]]
    ends: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        if "POST-RUN END" in doc["message"]:
            ends.setdefault(str(doc["build_change"]), []).append(doc)  # logsender: a number
    filler = [doc for b in others for job in b.jobs for doc in job_documents(b, job)]
    early += filler[: max(0, args.docs - len(docs))]
    builds = failed_builds(DemoData(tuple(waiting)))
    total = len(early) + sum(len(group) for group in ends.values())
    print(
        f"part B: {len(builds)} events at once, {len(queries)} queries, {total} documents;"
        " logs ready 2-12 s later"
    )
    async with await EmbeddedSearch.start() as search:
        await _seed(search.url, early)
        backend = _backend(search.url)
        monitor = ReadinessMonitor(backend, interval=2.0)
        classifier = Classifier(queries)
        try:
            latencies = await _wait_all(builds, ends, classifier, backend, monitor, rng)
        finally:
            await monitor.close()
            await backend.close()
    print(
        f"  round trips for all {len(builds)} builds: {monitor.polls} readiness (one per 2 s tick),"
        f" {classifier.requests} classification (builds ready at the same tick share one)"
    )
    print(
        f"  logs-ready -> verdict: p50 {_pct(latencies, 50):.2f} s,"
        f" p95 {_pct(latencies, 95):.2f} s, max {max(latencies):.2f} s"
    )
    return latencies


async def _wait_all(
    builds: list[FailedBuild],
    ends: dict[str, list[dict[str, Any]]],
    classifier: Classifier,
    backend: OpenSearchBackend,
    monitor: ReadinessMonitor,
    rng: random.Random,
) -> list[float]:
    ready_at: dict[str, float] = {}
    start = time.time()
    schedule = sorted((start + rng.uniform(2, 12), b.change) for b in builds)

    async def logs_arrive() -> None:
        for when, change in schedule:
            await asyncio.sleep(max(0.0, when - time.time()))
            await bulk_index(backend.client, ends[change])
            ready_at[change] = time.time()

    async def judge(build: FailedBuild) -> float:
        verdict = await classify_when_ready(
            build, classifier, backend, monitor=monitor, deadline=start + 120
        )
        done = time.time()
        if not verdict.ready or build.change not in ready_at:
            raise RuntimeError(f"verdict for {build.key} before its logs were ready: {verdict}")
        return done - ready_at[build.change]

    arrival = asyncio.create_task(logs_arrive())
    latencies = await asyncio.gather(*(judge(b) for b in builds))
    await arrival
    return list(latencies)


def _buildsets(
    base: list[Query], count: int, docs: int, seed: int
) -> tuple[list[DemoBuildset], list[DemoBuildset]]:
    """``count`` failed buildsets to wait for, and others (distinct changes) as filler."""
    per_day = max(math.ceil(count / 0.7), math.ceil(docs / 26))
    data = generate(base, days=1, buildsets_per_day=per_day, seed=seed)
    failed = [b for b in data.buildsets if b.failed]
    waiting = failed[:count]
    return waiting, [b for b in data.buildsets if b not in waiting]


def _pct(values: Sequence[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


# --- main -------------------------------------------------------------------------------


def upstream_queries() -> list[Query]:
    """The 74 real queries, beside the checkout."""
    return list(load_queries(UPSTREAM).queries)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.classify",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--docs", type=int, default=2000, help="log documents (default 2000)")
    parser.add_argument("--queries", type=int, default=500, help="queries in part A (default 500)")
    parser.add_argument(
        "--builds", type=int, default=8, help="builds measured in part A (default 8)"
    )
    parser.add_argument("--events", type=int, default=100, help="events in part B (default 100)")
    parser.add_argument(
        "--latency-queries", type=int, default=50, help="queries in part B (default 50)"
    )
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


async def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    base = upstream_queries()
    ours, er = await per_build_cost(args, base)
    latencies = await ready_to_verdict(args, base)
    print(
        f"classify: {er.trips / ours.trips:.0f}x fewer round trips ({ours.trips:.0f} vs"
        f" {er.trips:.0f} per build), p95 ready->verdict {_pct(latencies, 95):.1f} s"
    )


if __name__ == "__main__":
    asyncio.run(main())
