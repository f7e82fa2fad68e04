"""The demo's test results: a tempest run per tempest job, its known bug's tests failing where
that bug failed the job, flaky tests going green on rechecks; counted by ``recheckbot tests``
exactly as the documents say (the figures are worked out here from the generated documents,
not written down), and seeded by ``run --demo`` into a test-result index of their own."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.config import SearchSettings, Settings
from bot.demo.choices import runs_tempest
from bot.demo.data import DemoData
from bot.demo.mode import demo_environment, seeded_data
from bot.demo.results import tempest_results
from bot.queries import load_queries
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.search.subunit import RAN, strip_attributes
from bot.search.subunit_demo import SKIPPED, XFAIL
from tests.support.paths import ROOT

QUERIES = load_queries(ROOT / "queries").queries
#: A window holding the whole dataset (ten days), so that nothing sits on its edge.
DAYS = 11
runner = CliRunner()


@pytest.fixture(scope="module")
def seeded() -> tuple[DemoData, list[dict[str, Any]]]:
    data, _ = seeded_data(QUERIES, datetime.now(UTC))
    return data, list(tempest_results(data, QUERIES))


def expected(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``recheckbot tests`` worked out from the documents: per test that failed, its runs and
    failed builds (voting jobs), the jobs it failed in, and whether it failed and passed on one
    change, patchset and job."""
    runs: dict[str, set[str]] = defaultdict(set)
    failed: dict[str, set[tuple[str, str]]] = defaultdict(set)
    groups: dict[str, dict[tuple[Any, ...], set[str]]] = defaultdict(lambda: defaultdict(set))
    for doc in docs:
        if doc["voting"] != 1 or doc["test_status"] not in RAN:
            continue
        name = doc["test_name"]
        runs[name].add(doc["build_uuid"])
        if doc["test_status"] == "fail":
            failed[name].add((doc["build_uuid"], doc["build_name"]))
        group = (doc["build_change"], doc["build_patchset"], doc["build_name"])
        groups[name][group].add(doc["test_status"])
    return {
        name: {
            "runs": len(runs[name]),
            "failures": len(builds),
            "flaky": any(statuses == set(RAN) for statuses in groups[name].values()),
            "jobs": dict(Counter(job for _, job in builds)),
        }
        for name, builds in failed.items()
    }


def test_the_known_bug_fails_its_tests_where_it_failed_the_job(
    seeded: tuple[DemoData, list[dict[str, Any]]],
) -> None:
    data, docs = seeded
    [backup] = [q for q in QUERIES if q.test_ids]
    named = {strip_attributes(t) for t in backup.test_ids}
    jobs = [job for b in data.buildsets for job in b.jobs]
    bug_jobs = [job for job in jobs if job.bug == backup.id and job.status == "FAILURE"]
    assert bug_jobs
    assert all(runs_tempest(job.name) for job in bug_jobs)  # a unit-test job runs no tempest
    failed = [d for d in docs if d["test_status"] == "fail"]
    assert {d["build_uuid"] for d in failed if d["test_name"] in named} == {
        j.uuid for j in bug_jobs
    }
    # A passing job's tests all pass (or are skipped, or an expected failure).
    passed = {job.uuid for job in jobs if job.status == "SUCCESS"}
    assert not [d for d in docs if d["build_uuid"] in passed and d["test_status"] == "fail"]
    status = defaultdict(set)
    for doc in docs:
        status[doc["test_name"]].add(doc["test_status"])
    assert {name for name, seen in status.items() if seen == {"skip"}} == set(SKIPPED)
    assert {name for name, seen in status.items() if seen == {"xfail"}} == set(XFAIL)
    assert sum(1 for seen in status.values() if seen == {"success"}) >= 25  # always pass


async def test_recheckbot_tests_counts_the_demo_results(
    seeded: tuple[DemoData, list[dict[str, Any]]], search_settings: SearchSettings
) -> None:
    _, docs = seeded
    backend = OpenSearchBackend(search_settings)
    try:
        assert await bulk_index(backend.client, docs) == len(docs)
    finally:
        await backend.close()
    args = ["tests", "--json", "--days", str(DAYS), "--limit", "100"]
    result = await asyncio.to_thread(runner.invoke, app, [*args, "--es-url", search_settings.url])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)["tests"]
    found = {t["name"]: {k: t[k] for k in ("runs", "failures", "flaky", "jobs")} for t in listed}
    want = expected(docs)
    assert found == want
    # Some flaky tests (a recheck went green), some failing ones that are not, the known bug's.
    assert 2 <= sum(t["flaky"] for t in want.values()) < len(want)
    [backup] = [q for q in QUERIES if q.test_ids]
    assert {strip_attributes(t) for t in backup.test_ids} <= set(want)


async def test_the_demo_seeds_a_test_result_index() -> None:
    async with demo_environment(Settings(queries=ROOT / "queries")) as env:
        backend = OpenSearchBackend(env.settings.search)
        try:
            mappings = await backend.client.indices.get_mapping(index="subunit-*")
            counted = await backend.client.count(index="subunit-*")
            logs = await backend.client.count(index="logstash-*")
        finally:
            await backend.close()
    assert mappings
    for mapping in mappings.values():
        fields = mapping["mappings"]["properties"]
        assert (fields["test_name"]["type"], fields["test_duration"]["type"]) == (
            "keyword",
            "float",
        )
        assert "message" not in fields
    assert counted["count"] == env.test_results > 10_000
    assert logs["count"] == env.documents
