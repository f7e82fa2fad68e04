"""``recheckbot tests``: one aggregation request against one search per test.

    python -m benchmarks.tests [--docs N] [--tests N] [--limit K] [--delay S]

Both strategies run in the same process, on the same embedded server and the same test-result
index (``subunit-*``, ``--docs`` documents: one per test and build), through a forwarding proxy
that counts round trips and body bytes and adds ``--delay`` per request. Ours:
:func:`bot.intel.tests.failing_tests` (one search). The baseline, what a script over the index
would do without aggregations: list the test names (one ``terms`` search), then for each test
one search of its results in the window (whole hits, the fields it needs), counted in Python:
distinct builds run and failed, jobs, last failure, the median, the flaky rule. The top
``--limit`` of both are compared, so the speed-up is not bought with other answers (the
median within 5 %: the server estimates percentiles).

The data: ``--tests`` tempest-like test ids, builds of five jobs on changes that are rechecked
now and then (same patchset and job again), most tests always passing, some failing at a
Zipf-distributed rate, a few flaky (they fail, and pass on the recheck), a few skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.config import SearchSettings
from bot.intel.tests import TestFilter, TestsReport, failing_tests, result_filters
from bot.search.base import SearchBackend
from bot.search.embedded import EmbeddedSearch
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.search.subunit_demo import TEMPEST_TESTS
from tests.support.http import ForwardingProxy

INDEX = "subunit-*"
JOBS = ("tempest-full-py3", "tempest-multinode", "nova-ceph-multistore", "grenade", "tempest-ipv6")
PROJECTS = ("openstack/nova", "openstack/neutron", "openstack/cinder", "openstack/glance")
FIELDS = ["build_uuid", "build_name", "build_change", "build_patchset", "test_status"]
FIELDS += ["test_duration", "log_url", "filename", "@timestamp"]
Figures = dict[str, Any]
#: The server's median is a percentile estimate (t-digest in OpenSearch): within 5 %.
MEDIAN_TOLERANCE = 0.05


def test_names(count: int) -> list[str]:
    names = list(TEMPEST_TESTS)
    n = 0
    while len(names) < count:
        base = TEMPEST_TESTS[n % len(TEMPEST_TESTS)]
        names.append(f"{base}_{n // len(TEMPEST_TESTS) + 1}")
        n += 1
    return names[:count]


@dataclass(frozen=True)
class Build:
    uuid: str
    job: str
    change: int
    patchset: int
    project: str
    started: datetime


def builds(count: int, days: int, now: datetime, rng: random.Random) -> Iterator[Build]:
    """``count`` builds over ``days``; about one in five a recheck of the one before."""
    previous: Build | None = None
    for n in range(count):
        started = now - timedelta(seconds=rng.uniform(600, days * 86400 - 3600))
        if previous is not None and rng.random() < 0.2:
            yield Build(f"{n:032x}", previous.job, previous.change, previous.patchset,
                        previous.project, started)  # fmt: skip
            continue
        project = rng.choice(PROJECTS)
        previous = Build(
            f"{n:032x}", rng.choice(JOBS), 800000 + n, rng.randint(1, 4), project, started
        )
        yield previous


def failure_rates(names: list[str], rng: random.Random) -> dict[str, float]:
    """Most tests never fail; some do at a Zipf-like rate; a few skip (rate -1)."""
    rates: dict[str, float] = {}
    for rank, name in enumerate(rng.sample(names, len(names))):
        if rank < len(names) // 8:
            rates[name] = min(0.3, 0.5 / (rank + 1))
        elif rank > len(names) - len(names) // 20:
            rates[name] = -1.0
        else:
            rates[name] = 0.0
    return rates


def documents(docs: int, tests: int, days: int, now: datetime, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    names = test_names(tests)
    rates = failure_rates(names, rng)
    found: list[dict[str, Any]] = []
    for build in builds(max(docs // len(names), 1), days, now, rng):
        base = {
            "build_name": build.job,
            "build_status": "FAILURE",
            "build_queue": "gate",
            "build_change": build.change,
            "build_patchset": str(build.patchset),
            "build_uuid": build.uuid,
            "project": build.project,
            "voting": 1,
            "log_url": f"https://logs.example.org/{build.change}/{build.uuid[-7:]}/"
            "testrepository.subunit",
            "filename": "testrepository.subunit",
            "tags": ["testrepository.subunit"],
        }
        for i, name in enumerate(names):
            rate = rates[name]
            status = "skip" if rate < 0 else "fail" if rng.random() < rate else "success"
            found.append(
                {
                    **base,
                    "@timestamp": (build.started + timedelta(seconds=i)).isoformat(),
                    "test_name": name,
                    "test_status": status,
                    "test_duration": round(rng.lognormvariate(1.5, 0.8), 3),
                }
            )
    return found


# --- the baseline: one search per test, counted in Python -----------------------------------


async def baseline(backend: SearchBackend, selected: TestFilter, limit: int) -> list[Figures]:
    body = {"size": 0, "query": {"bool": {"filter": result_filters(selected)}}}
    body["aggs"] = {"names": {"terms": {"field": "test_name", "size": 65000}}}
    names = [
        b["key"]
        for b in (await backend.search(body, index=INDEX))["aggregations"]["names"]["buckets"]
    ]
    figures = []
    for name in names:
        filters = [*result_filters(selected), {"term": {"test_name": name}}]
        one = {"size": 10000, "_source": FIELDS, "query": {"bool": {"filter": filters}}}
        hits = (await backend.search(one, index=INDEX))["hits"]["hits"]
        figures.append(count(name, [hit["_source"] for hit in hits]))
    failing = [f for f in figures if f["failures"]]
    return sorted(failing, key=lambda f: (-f["failures"], f["name"]))[:limit]


def count(name: str, results: list[dict[str, Any]]) -> Figures:
    failed = [r for r in results if r["test_status"] == "fail"]
    jobs: dict[str, set[str]] = defaultdict(set)
    outcomes: dict[tuple[Any, ...], set[str]] = defaultdict(set)
    for r in results:
        outcomes[(r["build_change"], r["build_patchset"], r["build_name"])].add(r["test_status"])
    for r in failed:
        jobs[r["build_name"]].add(r["build_uuid"])
    durations = sorted(r["test_duration"] for r in results)
    last = max(failed, key=lambda r: r["@timestamp"]) if failed else None
    return {
        "name": name,
        "runs": len({r["build_uuid"] for r in results}),
        "failures": len({r["build_uuid"] for r in failed}),
        "flaky": any(len(seen) == 2 for seen in outcomes.values()),
        "jobs": {job: len(uuids) for job, uuids in jobs.items()},
        "last_failure": last["build_uuid"] if last else None,
        "median": durations[len(durations) // 2] if durations else None,
    }


def ours_figures(report: TestsReport) -> list[Figures]:
    return [
        {
            "name": t.name,
            "runs": t.runs,
            "failures": t.failures,
            "flaky": t.flaky,
            "jobs": dict(t.jobs),
            "last_failure": t.last_failure.build_uuid if t.last_failure else None,
            "median": t.median_duration,
        }
        for t in report.tests
    ]


def same(ours: list[Figures], theirs: list[Figures]) -> bool:
    """Equal, the medians within :data:`MEDIAN_TOLERANCE` (the server estimates them)."""

    def exact(figures: list[Figures]) -> list[Figures]:
        return [{k: v for k, v in f.items() if k != "median"} for f in figures]

    close = all(
        abs(a["median"] - b["median"]) <= MEDIAN_TOLERANCE * b["median"]
        for a, b in zip(ours, theirs, strict=False)
    )
    return exact(ours) == exact(theirs) and close


# --- measuring --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    name: str
    requests: int
    sent: int
    received: int
    wall: float
    cpu: float

    @property
    def bytes(self) -> int:
        return self.sent + self.received


async def measure(name: str, proxy: ForwardingProxy, work: Callable[[], Awaitable[Any]]) -> Run:
    proxy.reset()
    clock, cpu = time.perf_counter(), time.process_time()
    await work()
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - clock
    return Run(name, proxy.requests, proxy.bytes_sent, proxy.bytes_received, wall, cpu)


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


async def run(args: argparse.Namespace) -> None:
    now = datetime.now(UTC)
    async with await EmbeddedSearch.start() as search:
        loader = OpenSearchBackend(search.settings())
        clock = time.perf_counter()
        docs = documents(args.docs, args.tests, args.days, now, args.seed)
        indexed = await bulk_index(loader.client, docs)
        await loader.close()
        took = time.perf_counter() - clock
        print(
            f"indexed {indexed} test results ({args.tests} tests, "
            f"{indexed // args.tests} builds, {args.days} days) in {took:.0f} s"
        )
        del docs
        async with ForwardingProxy(search.url, delay=args.delay) as proxy:
            settings = SearchSettings(url=proxy.url, timeout=args.timeout, retries=0)
            backend = OpenSearchBackend(settings)
            await backend.health()  # connect once, outside the measurement
            selected = TestFilter(days=args.days)
            got: dict[str, list[Figures]] = {}

            async def ours() -> None:
                report = await failing_tests(backend, INDEX, selected, limit=args.limit)
                got["ours"] = ours_figures(report)

            async def theirs() -> None:
                got["baseline"] = await baseline(backend, selected, args.limit)

            mine = await measure("recheckbot (one aggregation)", proxy, ours)
            base = await measure("one search per test", proxy, theirs)
            await backend.close()
    report(mine, base, same(got["ours"], got["baseline"]), args)
    if args.json:
        print(json.dumps({"ours": got["ours"][:3]}, indent=2))


def report(mine: Run, base: Run, identical: bool, args: argparse.Namespace) -> None:
    print(f"top {args.limit} identical: {'yes' if identical else 'NO'}")
    delay = f"wall (+{int(args.delay * 1000)} ms/req)"
    print(
        f"{'strategy':30} {'requests':>9} {'sent':>10} {'received':>10} {delay:>18} {'bot CPU':>9}"
    )
    for r in (mine, base):
        print(
            f"{r.name:30} {r.requests:9d} {human(r.sent):>10} {human(r.received):>10} "
            f"{r.wall:17.2f}s {r.cpu * 1000:7.0f}ms"
        )
    print(
        f"tests: {base.requests / mine.requests:.0f}x fewer round trips, "
        f"{base.bytes / mine.bytes:.0f}x fewer bytes ({human(mine.bytes)} vs {human(base.bytes)}), "
        f"{base.cpu / max(mine.cpu, 1e-6):.0f}x less bot CPU, wall {base.wall / mine.wall:.1f}x "
        "(the embedded server scans every document: its times say little about a real cluster)"
    )
    if not identical:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.tests", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--docs", type=int, default=200_000, help="test results to index")
    parser.add_argument("--tests", type=int, default=400, help="distinct tests")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--limit", type=int, default=20, help="tests listed")
    parser.add_argument("--delay", type=float, default=0.005, help="seconds added per request")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per request")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="also print our first three tests")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
