"""What the Tests page, the bug pages and the demo will use: the dated series per test, the
tests a bug's ``test_ids`` name, and realistic demo results; on osmem."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.bugs import Bug
from bot.intel.test_history import TestDay, bug_tests, daily_series, window_days
from bot.intel.tests import TestFilter, failing_tests
from bot.queries import Query
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.search.subunit_demo import FLAKY, SKIPPED, TEMPEST_TESTS, XFAIL, demo_results
from tests.support.search import CountingBackend
from tests.support.subunit import Run, all_docs

TODAY = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
A = "tempest.api.compute.servers.test_servers.ServersTestJSON.test_create_server"
B = "tempest.api.volume.test_volumes_get.VolumesGetTest.test_volume_create_get_delete"


def at_noon(days_ago: int) -> timedelta:
    """A run's age so that it starts at noon (UTC) ``days_ago`` calendar days back."""
    return datetime.now(UTC) - (TODAY - timedelta(days=days_ago))


RUNS = [
    Run(1, "tempest-full", 100, 1, at_noon(0), {A: ("fail", 1.0), B: ("success", 1.0)}),
    Run(2, "tempest-full", 101, 1, at_noon(0), {A: ("success", 1.0)}),
    Run(3, "tempest-full", 102, 1, at_noon(2), {A: ("fail", 1.0), B: ("fail", 1.0)}),
    Run(4, "tempest-full", 103, 1, at_noon(2), {A: ("fail", 1.0)}),
    Run(5, "grenade", 104, 1, at_noon(2), {A: ("fail", 1.0)}, project="openstack/cinder"),
    Run(6, "tempest-full", 105, 1, at_noon(9), {A: ("fail", 1.0)}),  # before the window
]


def query(qid: str, *test_ids: str) -> Query:
    bug = Bug("launchpad", qid, f"https://bugs.launchpad.net/bugs/{qid}")
    return Query(id=qid, lucene='message:"x"', bug=bug, test_ids=test_ids)


async def test_daily_series_has_every_day_of_the_window(search: OpenSearchBackend) -> None:
    await bulk_index(search.client, all_docs(RUNS))
    counting = CountingBackend(search)
    series = await daily_series(counting, "subunit-*", [A, B], days=3, today=TODAY.date())
    assert counting.round_trips == 1
    days = window_days(3, TODAY.date())
    assert series == {
        A: (TestDay(days[0], 3, 3), TestDay(days[1], 0, 0), TestDay(days[2], 2, 1)),
        B: (TestDay(days[0], 1, 1), TestDay(days[1], 0, 0), TestDay(days[2], 1, 0)),
    }
    nova = await daily_series(
        search,
        "subunit-*",
        [f"{A}[id-5de47127,smoke]"],  # asked with its attributes: the same test
        days=3,
        selected=TestFilter(project="nova"),
        today=TODAY.date(),
    )
    assert [(d.runs, d.failures) for d in nova[f"{A}[id-5de47127,smoke]"]] == [
        (2, 2),
        (0, 0),
        (2, 1),
    ]


async def test_bug_tests_are_the_tests_each_query_names(search: OpenSearchBackend) -> None:
    await bulk_index(search.client, all_docs(RUNS))
    queries = [query("1", A), query("2", B, "tempest.never.ran"), query("3")]
    counting = CountingBackend(search)
    found = await bug_tests(counting, "subunit-*", queries, days=7)
    assert counting.round_trips == 1
    assert {qid: [(t.name, t.runs, t.failures) for t in tests] for qid, tests in found.items()} == {
        "1": [(A, 5, 4)],
        "2": [(B, 2, 1)],
    }
    assert found["1"][0].failure_rate == 0.8


def console_fields(uuid: str) -> dict[str, Any]:
    """What a demo job's console document carries (the generator's input)."""
    return {
        "build_name": "tempest-full-py3",
        "build_status": "FAILURE",
        "build_change": "900123",
        "build_patchset": "2",
        "build_uuid": uuid,
        "project": "openstack/nova",
        "voting": True,
        "log_url": "https://logs.example.org/23/900123/2/gate/tempest-full-py3/abc1234/",
        "filename": "job-output.txt",
        "tags": ["console", "console.html"],
        "message": "PLAY RECAP",
        "@timestamp": "2026-01-05T10:00:00+00:00",
    }


def test_demo_results_are_a_realistic_reproducible_tempest_run() -> None:
    started = datetime(2026, 1, 5, 10, 5, tzinfo=UTC)
    docs = demo_results(console_fields("u1"), started, failed=[A, "tempest.extra.test_x"])
    assert docs == demo_results(console_fields("u1"), started, failed=[A, "tempest.extra.test_x"])
    status = {doc["test_name"]: doc["test_status"] for doc in docs}
    assert len(status) == len(TEMPEST_TESTS) + 1
    assert status[A] == status["tempest.extra.test_x"] == "fail"
    assert {status[t] for t in SKIPPED} == {"skip"}
    assert {status[t] for t in XFAIL} == {"xfail"}
    first = docs[0]
    assert first["log_url"] == console_fields("u1")["log_url"] + "testrepository.subunit"
    assert (first["voting"], first["build_change"], first["filename"]) == (
        1,
        900123,
        "testrepository.subunit",
    )
    assert "message" not in first
    assert first["@timestamp"] == started.isoformat()
    assert [d["@timestamp"] for d in docs] == sorted(d["@timestamp"] for d in docs)
    # Across rechecks, the flaky tests fail sometimes and pass otherwise.
    outcomes = {
        doc["test_status"]
        for n in range(40)
        for doc in demo_results(console_fields(f"u{n}"), started)
        if doc["test_name"] in FLAKY
    }
    assert outcomes == {"success", "fail"}


async def test_demo_results_are_counted_like_real_ones(search: OpenSearchBackend) -> None:
    now = datetime.now(UTC) - timedelta(hours=2)
    docs = [
        doc
        for n in range(3)
        for doc in demo_results(console_fields(f"u{n}"), now, failed=[A], flaky_rate=0.0)
    ]
    await bulk_index(search.client, docs)
    report = await failing_tests(search, "subunit-*", TestFilter(days=1), limit=10)
    assert [(t.name, t.runs, t.failures, t.flaky) for t in report.tests] == [(A, 3, 3, False)]
