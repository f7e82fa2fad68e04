"""``test_ids`` in classification, with and without a test-result index, on osmem.

With a ``subunit-*`` index, a query with ``test_ids`` matches a job only when one of those tests
has ``test_status: fail`` in the job's build (ER's subunit2sql check), asked in the one
classification request; without one, a console line naming the test next to ``FAILED`` does.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from bot.bugs import Bug
from bot.queries import Query
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.search.subunit import failed_tests_filter, index_present
from bot.watch.classify import Classifier, TestResults, classify_body
from tests.support.builds import CHANGE, PATCHSET, WriteLogs, log_docs, make_job, recent_build
from tests.support.clock import FakeClock
from tests.support.search import CountingBackend
from tests.support.subunit import Run, all_docs

TEST_ID = (
    "tempest.api.compute.servers.test_device_tagging.TaggedAttachmentsTest.test_tagged_attachment"
)
OTHER = "tempest.api.compute.servers.test_servers.ServersTestJSON.test_create_server"
BUG_LINE = "Details: Timeout while verifying metadata on server."
FAILED_LINE = f"{{1}} {TEST_ID} [12.3s] ... FAILED"


def query(qid: str, lucene: str, **options: Any) -> Query:
    bug = Bug("launchpad", qid, f"https://bugs.launchpad.net/bugs/{qid}")
    return Query(id=qid, lucene=lucene, bug=bug, **options)


QUERIES = [
    query("1000002", 'message:"mirror unreachable"'),
    query("1000006", 'message:"Timeout while verifying metadata"', test_ids=(TEST_ID,)),
]
#: Job n: its console lines, and its build's test results (None: the build has none).
JOBS: dict[int, tuple[list[str], dict[str, tuple[str, float]] | None]] = {
    # The test failed: the results say so, the console does not.
    1: ([BUG_LINE], {TEST_ID: ("fail", 3.0), OTHER: ("success", 1.0)}),
    # The console says FAILED, the results say it passed (the results decide).
    2: ([BUG_LINE, FAILED_LINE], {TEST_ID: ("success", 3.0)}),
    # Stored with its attributes by a writer that keeps them.
    3: ([BUG_LINE], {f"{TEST_ID}[id-3e41c782,volume]": ("fail", 2.0)}),
    # Another test failed.
    4: ([BUG_LINE], {OTHER: ("fail", 1.0), TEST_ID: ("skip", 0.0)}),
    # The test failed, but the query's own line is not in the logs.
    5: (["mirror unreachable"], {TEST_ID: ("fail", 1.0)}),
    # No test results for this build: its console says FAILED.
    6: ([BUG_LINE, FAILED_LINE], None),
}
#: The bugs of each job: ER's subunit2sql semantics, and the console's.
WITH_RESULTS = [("1000006",), (), ("1000006",), (), ("1000002",), ()]
CONSOLE_ONLY = [(), ("1000006",), (), (), ("1000002",), ("1000006",)]


def results() -> list[dict[str, Any]]:
    runs = [
        Run(n, f"t{n}", int(CHANGE), int(PATCHSET), timedelta(minutes=29), found)
        for n, (_, found) in JOBS.items()
        if found is not None
    ]
    # A failed result of another build of job 1's name (an older run): not this build's.
    runs.append(
        Run(77, "t1", int(CHANGE), int(PATCHSET), timedelta(hours=5), {OTHER: ("fail", 1.0)})
    )
    return all_docs(runs)


async def write_jobs(write_logs: WriteLogs) -> None:
    docs = [doc for n, (lines, _) in JOBS.items() for doc in log_docs(f"t{n}", n, lines)]
    await write_logs(docs)


def the_build() -> Any:
    return recent_build(*(make_job(f"t{n}", n) for n in JOBS))


async def test_with_test_results_a_failed_result_decides(
    search: OpenSearchBackend, write_logs: WriteLogs
) -> None:
    await write_jobs(write_logs)
    await bulk_index(search.client, results())
    counting = CountingBackend(search)
    classifier = Classifier(QUERIES, tests=TestResults())
    verdict = await classifier.classify(the_build(), counting)
    assert [job.bugs for job in verdict.jobs] == WITH_RESULTS
    assert verdict.ready
    # One classification request; before the first one only, one asking for the index.
    assert (counting.classifications(), counting.round_trips) == (1, 2)
    assert '"logs"' in json.dumps(counting.bodies[-1])
    again = await classifier.classify(the_build(), counting)
    assert [job.bugs for job in again.jobs] == WITH_RESULTS
    assert (counting.classifications(), counting.round_trips) == (2, 3)


async def test_without_test_results_the_console_decides(
    search: OpenSearchBackend, write_logs: WriteLogs
) -> None:
    await write_jobs(write_logs)
    counting = CountingBackend(search)
    verdict = await Classifier(QUERIES, tests=TestResults()).classify(the_build(), counting)
    assert [job.bugs for job in verdict.jobs] == CONSOLE_ONLY
    assert (counting.classifications(), counting.round_trips) == (1, 2)
    assert '"logs"' not in json.dumps(counting.bodies[-1])
    # A classifier told nothing of test results never asks.
    plain = CountingBackend(search)
    verdict = await Classifier(QUERIES).classify(the_build(), plain)
    assert [job.bugs for job in verdict.jobs] == CONSOLE_ONLY
    assert plain.round_trips == 1


async def test_an_index_created_later_is_taken_up_after_the_recheck(
    search: OpenSearchBackend, write_logs: WriteLogs
) -> None:
    await write_jobs(write_logs)
    clock = FakeClock()
    classifier = Classifier(QUERIES, tests=TestResults(recheck=600, clock=clock))
    assert [j.bugs for j in (await classifier.classify(the_build(), search)).jobs] == CONSOLE_ONLY
    await bulk_index(search.client, results())
    clock.now += 599
    assert [j.bugs for j in (await classifier.classify(the_build(), search)).jobs] == CONSOLE_ONLY
    clock.now += 1
    verdict = await classifier.classify(the_build(), search)
    assert [j.bugs for j in verdict.jobs] == WITH_RESULTS


async def test_index_present_tells_an_index_from_none(search: OpenSearchBackend) -> None:
    assert not await index_present(search, "subunit-*")
    assert not await index_present(search, "subunit-2026.01.01")  # a name: 404
    await bulk_index(search.client, results())
    assert await index_present(search, "subunit-*")


def test_the_request_asks_the_results_only_where_they_are() -> None:
    build = recent_build(make_job("a", 1))
    plain = classify_body(build, QUERIES)["aggs"]["jobs"]["aggs"]["build"]["aggs"]
    tested = classify_body(build, QUERIES, test_results=True)
    per_build = tested["aggs"]["jobs"]["aggs"]["build"]["aggs"]
    assert "q" in plain
    assert "logs" not in plain
    assert per_build["logs"]["aggs"]["q"]["filters"]["filters"].keys() == {"1000002", "1000006"}
    assert per_build["t"]["filters"]["filters"] == {"1000006": failed_tests_filter((TEST_ID,))}
    assert "message" in json.dumps(plain["t"])  # the console check without results
