"""``recheckbot tests --suggest``: a query with ``test_ids`` for a test that fails often and that
no known query names, verified on the server (osmem) like the cluster suggestions."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from bot.cli import app
from bot.config import SearchSettings
from bot.intel.test_suggest import SAMPLE_BUILDS, suggest_tests
from bot.intel.tests import TestFilter, failing_tests
from bot.queries import load_queries, load_query_file
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.watch.classify import Classifier, TestResults
from tests.support.builds import CHANGE, PATCHSET, log_docs, make_job, recent_build
from tests.support.search import CountingBackend
from tests.support.subunit import Run, all_docs

runner = CliRunner()
#: Fails in 1-3, prints its FAILED line: the one to suggest a query for.
X = "tempest.api.compute.servers.test_server_actions.ServerActionsTestJSON.test_reboot_server_hard"
#: Fails in 1-3 too, but a known query names it.
Y = "tempest.api.compute.servers.test_device_tagging.TaggedAttachmentsTest.test_tagged_attachment"
#: Fails in 1-3 with no line in the console: no query can be verified.
Z = "tempest.api.network.test_ports.PortsTestJSON.test_create_port_in_allowed_allocation_pools"
#: Fails twice only: not often enough.
W = "tempest.api.volume.test_volumes_get.VolumesGetTest.test_volume_create_get_delete"
KNOWN = "query: 'message:\"Timeout while verifying metadata\"'\ntest_ids:\n  - " + Y + "\n"


def results() -> list[dict[str, Any]]:
    failing = {X: ("fail", 1.0), Y: ("fail", 1.0), Z: ("fail", 1.0)}
    runs = [
        Run(n, f"job{n}", int(CHANGE), int(PATCHSET), timedelta(minutes=29), failing)
        for n in (1, 2, 3)
    ]
    runs.append(Run(4, "job4", 7, 1, timedelta(hours=2), {W: ("fail", 1.0), X: ("success", 1.0)}))
    runs.append(Run(5, "job5", 8, 1, timedelta(hours=2), {W: ("fail", 1.0)}))
    return all_docs(runs)


def logs() -> list[dict[str, Any]]:
    docs = [
        doc
        for n in (1, 2, 3)
        for doc in log_docs(f"job{n}", n, [f"{{0}} {X} [1.0s] ... FAILED", "tempest run ended"])
    ]
    # A build where it passed says so: "ok", no FAILED.
    docs += log_docs("job4", 4, [f"{{0}} {X} [1.0s] ... ok"], change="7", patchset="1")
    return docs


async def seed(search: OpenSearchBackend) -> None:
    await bulk_index(search.client, results())
    await bulk_index(search.client, logs())


def queries_dir(tmp_path: Path) -> Path:
    repo = tmp_path / "queries"
    repo.mkdir()
    (repo / "1775947.yaml").write_text(KNOWN)
    return repo


async def test_a_verified_query_for_the_unexplained_test(
    search: OpenSearchBackend, tmp_path: Path
) -> None:
    await seed(search)
    queries = list(load_queries(queries_dir(tmp_path)).queries)
    counting = CountingBackend(search)
    report = await failing_tests(
        counting, "subunit-*", TestFilter(days=7), limit=20, uuids=SAMPLE_BUILDS
    )
    found = await suggest_tests(counting, report.tests, queries, days=7)
    assert (counting.searches, counting.msearches) == (1, 1)  # the list, then one msearch
    assert [(s.test.name, s.verified) for s in found] == [(X, True), (Z, False)]
    suggestion, rejected = found
    assert suggestion.query is not None
    assert suggestion.query.lucene == f'message:"{X}" AND message:FAILED AND tags:"console"'
    assert suggestion.query.test_ids == (X,)
    assert rejected.reason == "hits 0 of the 3 builds it failed in"
    # The file it proposes loads, and classifies the builds the test failed in.
    path = tmp_path / f"{suggestion.query.id}.yaml"
    path.write_text(suggestion.yaml)
    written = load_query_file(path)
    assert written.test_ids == (X,)
    verdict = await Classifier([written], tests=TestResults()).classify(
        recent_build(*(make_job(f"job{n}", n) for n in (1, 2, 3))), search
    )
    assert [job.bugs for job in verdict.jobs] == [(written.id,)] * 3


async def test_cli_suggest_prints_the_suggestions_after_the_list(
    search_settings: SearchSettings, search: OpenSearchBackend, tmp_path: Path
) -> None:
    await seed(search)
    args = ["tests", "--suggest", "--json", "--es-url", search_settings.url]
    args += ["--queries", str(queries_dir(tmp_path))]
    result = await asyncio.to_thread(runner.invoke, app, args)
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert [(t["name"], t["failures"]) for t in found["tests"]] == [
        (Y, 3),  # same failures: by name
        (X, 3),
        (Z, 3),
        (W, 2),
    ]
    assert [(s["test"], s["verified"], s["recall"]) for s in found["suggestions"]] == [
        (X, True, 1.0),
        (Z, False, 0.0),
    ]
    assert "test_ids:" in found["suggestions"][0]["yaml"]
