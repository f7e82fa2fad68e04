"""Query statistics on a real osmem server, checked against counts computed here in Python."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.config import SearchSettings
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.search.stats import query_hit_counts, query_report

NOW = datetime.now(UTC)
JOBS = ("tempest-full", "grenade", "tox-py311")


def make_documents(seed: int = 7) -> list[dict[str, Any]]:
    """Builds over 12 days; some lines say "disk quota exceeded", some "mirror unreachable"."""
    rng = random.Random(seed)
    docs = []
    for n in range(60):
        status = rng.choice(["SUCCESS", "FAILURE", "FAILURE"])
        when = NOW - timedelta(days=rng.uniform(0, 12))
        job = rng.choice(JOBS)
        for line in range(4):
            message = rng.choice(["all fine", "disk quota exceeded on node", "mirror unreachable"])
            docs.append(
                {
                    "@timestamp": (when + timedelta(seconds=line)).isoformat(),
                    "message": message,
                    "build_uuid": f"{n:032x}",
                    "build_status": status,
                    "build_name": job,
                    "project": "openstack/nova",
                    "voting": "1",
                    "tags": ["console"],
                }
            )
    return docs


def expected(
    docs: list[dict[str, Any]], phrase: str, days: int, *, whole_days: bool = False
) -> dict[str, Any]:
    """What a query should count over ``days``: rolling, or ``whole_days`` (UTC, today too)."""
    cutoff = NOW - timedelta(days=days)
    if whole_days:
        cutoff = datetime.combine(NOW.date() - timedelta(days=days - 1), datetime.min.time(), UTC)
    hits = [
        d
        for d in docs
        if phrase in d["message"] and datetime.fromisoformat(d["@timestamp"]) >= cutoff
    ]
    failed = {d["build_uuid"] for d in hits if d["build_status"] == "FAILURE"}
    return {
        "hits": len(hits),
        "builds": len({d["build_uuid"] for d in hits}),
        "failed": len(failed),
        "names": Counter(d["build_name"] for d in hits),
        "per_day": Counter(d["@timestamp"][:10] for d in hits),
    }


@pytest.fixture
async def backend(search_settings: SearchSettings) -> Any:
    backend = OpenSearchBackend(search_settings)
    docs = make_documents()
    await bulk_index(backend.client, docs)
    yield backend, docs
    await backend.close()


async def test_report_matches_independent_counts(backend: Any) -> None:
    search, docs = backend
    want = expected(docs, "disk quota exceeded", days=7, whole_days=True)
    report = await query_report(search, 'message:"disk quota exceeded"', days=7, top=5)
    assert report.hits == want["hits"] > 0
    assert report.builds == want["builds"]
    assert report.failed_builds == want["failed"]
    assert dict(report.breakdown["build_name"]) == dict(want["names"])
    per_day = {day: hits for day, hits, _ in report.per_day}
    assert {d: n for d, n in per_day.items() if n} == dict(want["per_day"])
    assert len(report.per_day) == 7  # whole days, today included
    assert sum(hits for _, hits, _ in report.per_day) == report.hits


async def test_hit_counts_in_chunks(backend: Any) -> None:
    search, docs = backend
    lucene = {f"q{i}": 'message:"mirror unreachable"' for i in range(30)}
    lucene["quota"] = 'message:"disk quota exceeded" AND build_status:FAILURE'
    lucene["dead"] = 'message:"never logged anywhere"'
    seen: list[int] = []
    counts = await query_hit_counts(search, lucene, days=14, progress=seen.append)
    quota = sum(
        1 for d in docs if "disk quota exceeded" in d["message"] and d["build_status"] == "FAILURE"
    )
    assert counts["quota"] == quota > 0
    assert counts["q29"] == expected(docs, "mirror unreachable", 14)["hits"]
    assert counts["dead"] == 0
    assert sum(seen) == len(lucene)
    assert len(seen) == 2
