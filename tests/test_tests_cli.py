"""``recheckbot tests`` on a test-result index built here: the hand-computed figures, in one
request.

The builds (``n``: the build's number, its uuid and log URL as :mod:`tests.support.builds` makes
them). A = compute's test_create_server, B = volume's create/get/delete, C = the network
scenario, D = an image test that always passes, E = a test always skipped, F = an xfail that
once really failed.

== ====================== ======= ===== ==== ========= =========================================
n  job                    change  ps    age  queue     results
== ====================== ======= ===== ==== ========= =========================================
1  tempest-full           100     1     2 d  gate      A fail 10, B ok 2, C ok 30, D ok, E skip,
                                                       F xfail
2  tempest-full           100     1     1 d  gate      A ok 12, B ok 2, C ok 31, D ok, E skip
                                                       (the recheck of 1: A went green, A flaky)
3  tempest-full           101     3     3 d  gate      A fail 11, B fail 4, C ok 29, D ok
4  tempest-multinode      101     3     3 d  gate      A ok 9, B ok 2.2, C fail 60, D ok
                                                       (another job: no recheck of 3)
5  tempest-full           102     1     4 d  gate      B fail 3, C ok 28
6  tempest-full           102     2     4 d  gate      B ok 2.5 (another patchset: no recheck)
7  tempest-full-nv        103     1     1 d  gate      A, B, C fail — non-voting (voting 0)
8  neutron-tempest        104     1     1 d  gate      C fail 50 — openstack/neutron
9  tempest-full           105     1     10 d gate      A fail, B fail — older than the window
10 tempest-full           106     1     2 d  check     C fail 40, F fail 2
11 tempest-full           101     3     2 d  gate      A fail 13, B ok 2 (recheck of 3: B flaky)
== ====================== ======= ===== ==== ========= =========================================
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from typer.testing import CliRunner

from bot.cli import app
from bot.config import SearchSettings
from bot.intel.tests import TestFilter, failing_body, failing_tests, report_json
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from tests.support.search import CountingBackend
from tests.support.subunit import Run, all_docs, result_docs

runner = CliRunner()
DAY = timedelta(days=1)
A = "tempest.api.compute.servers.test_servers.ServersTestJSON.test_create_server"
B = "tempest.api.volume.test_volumes_get.VolumesGetTest.test_volume_create_get_delete"
C = "tempest.scenario.test_network_basic_ops.TestNetworkBasicOps.test_network_basic_ops"
D = "tempest.api.image.v2.test_images.BasicOperationsImagesTest.test_register_upload_get_image"
E = "tempest.api.compute.admin.test_live_migration.LiveMigrationTest.test_live_block_migration"
F = "tempest.api.network.test_ports.PortsTestJSON.test_create_port_in_allowed_allocation_pools"

OK, FAIL = "success", "fail"
RUNS = [
    Run(1, "tempest-full", 100, 1, 2 * DAY, {
        A: (FAIL, 10.0), B: (OK, 2.0), C: (OK, 30.0), D: (OK, 5.0), E: ("skip", 0.0),
        F: ("xfail", 1.0),
    }),
    Run(2, "tempest-full", 100, 1, 1 * DAY, {
        A: (OK, 12.0), B: (OK, 2.0), C: (OK, 31.0), D: (OK, 5.0), E: ("skip", 0.0),
    }),
    Run(3, "tempest-full", 101, 3, 3 * DAY, {
        A: (FAIL, 11.0), B: (FAIL, 4.0), C: (OK, 29.0), D: (OK, 6.0),
    }),
    Run(4, "tempest-multinode", 101, 3, 3 * DAY, {
        A: (OK, 9.0), B: (OK, 2.2), C: (FAIL, 60.0), D: (OK, 5.0),
    }),
    Run(5, "tempest-full", 102, 1, 4 * DAY, {B: (FAIL, 3.0), C: (OK, 28.0)}),
    Run(6, "tempest-full", 102, 2, 4 * DAY - timedelta(hours=1), {B: (OK, 2.5)}),
    Run(7, "tempest-full-nv", 103, 1, 1 * DAY, {A: (FAIL, 1.0), B: (FAIL, 1.0), C: (FAIL, 1.0)},
        voting=0),
    Run(8, "neutron-tempest", 104, 1, 1 * DAY - timedelta(hours=1), {C: (FAIL, 50.0)},
        project="openstack/neutron"),
    Run(9, "tempest-full", 105, 1, 10 * DAY, {A: (FAIL, 1.0), B: (FAIL, 1.0)}),
    Run(10, "tempest-full", 106, 1, 2 * DAY + timedelta(hours=1), {
        C: (FAIL, 40.0), F: (FAIL, 2.0),
    }, queue="check"),
    Run(11, "tempest-full", 101, 3, 2 * DAY - timedelta(hours=2), {A: (FAIL, 13.0), B: (OK, 2.0)}),
]  # fmt: skip
BY_N = {run.n: run for run in RUNS}


def last(n: int, test: str) -> dict[str, str]:
    """The last failure as listed: build ``n``'s log directory, uuid and the test's start."""
    run = BY_N[n]
    [doc] = [d for d in result_docs(run) if d["test_name"] == test]
    return {"log_url": run.log_dir, "build_uuid": run.uuid, "@timestamp": doc["@timestamp"]}


def expected() -> dict[str, Any]:
    """Worked out by hand from the table (voting jobs, 7 days, every project and queue)."""
    return {
        "days": 7,
        "tests": [
            {
                "name": A,
                "runs": 5,  # 1 2 3 4 11 (7 is non-voting, 9 too old)
                "failures": 3,  # 1 3 11
                "failure_rate": 0.6,
                "flaky": True,  # 1 failed, 2 passed: change 100 ps 1 tempest-full
                "jobs": {"tempest-full": 3},
                "last_failure": last(11, A),
                "median_duration": 11.0,  # 9 10 11 12 13
            },
            {
                "name": C,
                "runs": 7,  # 1 2 3 4 5 8 10
                "failures": 3,  # 4 8 10
                "failure_rate": 0.4286,
                "flaky": False,  # each failing (change, ps, job) has no pass
                "jobs": {"neutron-tempest": 1, "tempest-full": 1, "tempest-multinode": 1},
                "last_failure": last(8, C),
                "median_duration": 31.0,  # 28 29 30 31 40 50 60
            },
            {
                "name": B,
                "runs": 7,  # 1 2 3 4 5 6 11
                "failures": 2,  # 3 5
                "failure_rate": 0.2857,
                "flaky": True,  # 3 failed, 11 passed: change 101 ps 3 tempest-full
                "jobs": {"tempest-full": 2},
                "last_failure": last(3, B),
                "median_duration": 2.2,  # 2 2 2 2.2 2.5 3 4
            },
            {
                "name": F,
                "runs": 1,  # the xfail of 1 is no run
                "failures": 1,
                "failure_rate": 1.0,
                "flaky": False,
                "jobs": {"tempest-full": 1},
                "last_failure": last(10, F),
                "median_duration": 2.0,
            },
        ],
    }


async def seed(settings: SearchSettings) -> None:
    backend = OpenSearchBackend(settings)
    try:
        assert await bulk_index(backend.client, all_docs(RUNS)) == len(all_docs(RUNS))
    finally:
        await backend.close()


def run_cli(settings: SearchSettings, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["tests", *args, "--json", "--es-url", settings.url])
    assert result.exit_code == 0, result.output
    found: dict[str, Any] = json.loads(result.stdout)
    return found


async def test_tests_json_is_the_hand_computed_list(search_settings: SearchSettings) -> None:
    await seed(search_settings)
    # The CLI runs its own event loop: invoke it from a worker thread.
    found = await asyncio.to_thread(run_cli, search_settings)
    assert found == expected()
    assert list(found["tests"][0]) == [
        "name", "runs", "failures", "failure_rate", "flaky", "jobs", "last_failure",
        "median_duration",
    ]  # fmt: skip


async def test_the_list_is_one_request(search: OpenSearchBackend) -> None:
    await bulk_index(search.client, all_docs(RUNS))
    counting = CountingBackend(search)
    report = await failing_tests(counting, "subunit-*", TestFilter(days=7), limit=20)
    assert counting.round_trips == 1
    assert report_json(report) == expected()


async def test_filters_narrow_the_builds_counted(search_settings: SearchSettings) -> None:
    await seed(search_settings)

    def figures(*args: str) -> dict[str, tuple[int, int, bool]]:
        tests = run_cli(search_settings, *args)["tests"]
        return {t["name"]: (t["runs"], t["failures"], t["flaky"]) for t in tests}

    nova = await asyncio.to_thread(figures, "--project", "nova")
    assert nova == {A: (5, 3, True), C: (6, 2, False), B: (7, 2, True), F: (1, 1, False)}
    full = await asyncio.to_thread(figures, "--job", "tempest-full*")
    assert full == {A: (4, 3, True), B: (6, 2, True), C: (5, 1, False), F: (1, 1, False)}
    check = await asyncio.to_thread(figures, "--queue", "check")
    assert check == {C: (1, 1, False), F: (1, 1, False)}
    anyone = await asyncio.to_thread(figures, "--non-voting", "--limit", "2")
    assert anyone == {A: (6, 4, True), C: (8, 4, False)}
    older = await asyncio.to_thread(figures, "--days", "14", "--project", "openstack/neutron")
    assert older == {C: (1, 1, False)}


async def test_an_index_without_failures_lists_none(search_settings: SearchSettings) -> None:
    result = await asyncio.to_thread(runner.invoke, app, ["tests", "--es-url", search_settings.url])
    assert result.exit_code == 0, result.output
    assert "No test failed in the last 7 days (voting jobs)." in result.stdout


def test_the_body_asks_for_runs_and_failures_of_voting_jobs_only() -> None:
    body = failing_body(TestFilter(days=3, name="test_x*"), 5)
    clauses = body["query"]["bool"]["filter"]
    assert {"terms": {"test_status": ["success", "fail"]}} in clauses
    assert {"term": {"voting": 1}} in clauses
    assert {"wildcard": {"test_name": {"value": "*test_x\\**"}}} in clauses
    assert body["aggs"]["tests"]["terms"]["size"] == 5
