"""Classification on a real osmem server: ER's semantics, one round trip per build."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from bot.bugs import Bug
from bot.demo.data import DemoBuildset, DemoJob, generate, gerrit_event, job_documents
from bot.events.model import FailedBuild, Job
from bot.events.parse import parse_event
from bot.events.source import RawEvent
from bot.queries import Query, load_queries
from bot.queries.store import QueryStore
from bot.search.base import Body, Response, SearchQueryError, SearchUnavailable
from bot.search.opensearch import OpenSearchBackend
from bot.search.schema import Schema
from bot.search.synth import matching_fields
from bot.watch.classify import (
    Classifier,
    QuerySet,
    classify_body,
    classify_when_ready,
    failed_tests_lucene,
)
from bot.watch.readiness import ReadinessMonitor, check_readiness
from tests.support.builds import NOW, WriteLogs, log_docs, make_job, recent_build, uuid_of
from tests.support.clock import FakeClock
from tests.support.paths import UPSTREAM_QUERIES, require_upstream
from tests.support.search import CountingBackend

TEST_ID = (
    "tempest.api.compute.servers.test_device_tagging.TaggedAttachmentsTest.test_tagged_attachment"
)


def query(qid: str, lucene: str, **options: Any) -> Query:
    bug = Bug("launchpad", qid, f"https://bugs.launchpad.net/bugs/{qid}")
    return Query(id=qid, lucene=lucene, bug=bug, **options)


QUERIES = [
    query("1000001", 'message:"disk quota exceeded" AND tags:"console"'),
    query("1000002", 'message:"mirror unreachable"'),
    query("1000003", 'message:"disk quota" AND build_name:"tox-py3"'),
    query("1000004", 'message:"[Errno 256] No more mirrors to try"', allow_nonvoting=True),
    query(
        "1000005", 'message:"Requirement" AND message:"does not match"', suppress_notification=True
    ),
    query("1000006", 'message:"Timeout while verifying metadata"', test_ids=(TEST_ID,)),
]


def upstream_queries() -> list[Query]:
    """The 74 real queries, through the repo loader."""
    require_upstream()
    repo = load_queries(UPSTREAM_QUERIES)
    assert not repo.problems
    return list(repo.queries)


class SelectorRefusingBackend(CountingBackend):
    """A cluster that forbids inline scripts."""

    async def search(self, body: Body, *, index: str | None = None) -> Response:
        if "bucket_selector" in str(body):
            self.searches += 1
            raise SearchQueryError(
                "search server rejected the request (400): cannot execute scripts"
            )
        return await super().search(body, index=index)


# --- pure parts -------------------------------------------------------------------------


def test_body_has_one_named_filter_per_query() -> None:
    build = recent_build(make_job("a", 1), make_job("b", 2))
    body = classify_body(build, QUERIES)
    per_build = body["aggs"]["jobs"]["aggs"]["build"]["aggs"]
    filters = per_build["q"]["filters"]["filters"]
    assert list(filters) == [q.id for q in QUERIES]  # suppressed ones too: reported apart
    assert filters["1000001"]["query_string"]["query"].endswith("AND voting:1")
    assert "voting" not in filters["1000004"]["query_string"]["query"]
    assert list(per_build["t"]["filters"]["filters"]) == ["1000006"]
    assert "bucket_selector" in str(per_build["q"]["aggs"])
    assert set(body["aggs"]["jobs"]["filters"]["filters"]) == {"0.0", "0.1"}
    assert "bucket_selector" not in str(classify_body(build, QUERIES, prune=False))
    assert "q" not in classify_body(build, [])["aggs"]["jobs"]["aggs"]["build"]["aggs"]


def test_failed_tests_lucene_names_each_test_with_a_failure_marker() -> None:
    text = failed_tests_lucene(["a.b.test_x", 'odd"id'])
    assert (
        text == '(message:"a.b.test_x" OR message:"odd\\"id") AND (message:FAILED OR message:FAIL)'
    )


# --- on osmem ---------------------------------------------------------------------------


async def test_zero_one_and_several_bugs_in_one_round_trip(
    search: OpenSearchBackend, write_logs: WriteLogs
) -> None:
    await write_logs(
        log_docs("tempest", 1, ["nothing known here"])
        + log_docs("grenade", 2, ["ERROR: mirror unreachable, giving up"])
        + log_docs("tox-py3", 3, ["OSError: disk quota exceeded", "mirror unreachable"])
        + log_docs("unrelated", 4, ["disk quota exceeded"], change="999"),
    )
    build = recent_build(make_job("tempest", 1), make_job("grenade", 2), make_job("tox-py3", 3))
    counting = CountingBackend(search)
    verdict = await Classifier(QUERIES).classify(build, counting)
    assert counting.round_trips == 1
    assert [j.bugs for j in verdict.jobs] == [(), ("1000002",), ("1000001", "1000002", "1000003")]
    assert [j.status for j in verdict.jobs] == ["unrecognized", "classified", "classified"]
    assert verdict.bugs == ("1000001", "1000002", "1000003")
    assert verdict.ready
    assert all(j.build_uuid for j in verdict.jobs)


async def test_non_voting_jobs_match_only_allow_nonvoting_queries(
    search: OpenSearchBackend, write_logs: WriteLogs
) -> None:
    lines = ["disk quota exceeded", "[Errno 256] No more mirrors to try"]
    await write_logs(
        log_docs("nv", 1, lines, voting=False)
        + log_docs("v", 2, lines)
        # The report says non-voting though the logs claim voting:1: the report wins.
        + log_docs("nv-mislabelled", 3, lines),
    )
    build = recent_build(
        make_job("nv", 1, voting=False),
        make_job("v", 2),
        make_job("nv-mislabelled", 3, voting=False),
    )
    verdict = await Classifier(QUERIES).classify(build, search)
    assert [j.bugs for j in verdict.jobs] == [("1000004",), ("1000001", "1000004"), ("1000004",)]


async def test_suppressed_queries_are_reported_apart(
    search: OpenSearchBackend, write_logs: WriteLogs
) -> None:
    await write_logs(
        log_docs("req", 1, ["Requirement foo>=1 does not match openstack/requirements value"]),
    )
    verdict = await Classifier(QUERIES).classify(recent_build(make_job("req", 1)), search)
    [job] = verdict.jobs
    assert (job.bugs, job.suppressed, job.status) == ((), ("1000005",), "unrecognized")


async def test_test_ids_need_a_failed_test_line(
    search: OpenSearchBackend, write_logs: WriteLogs
) -> None:
    bug_line = "Details: Timeout while verifying metadata on server."
    await write_logs(
        log_docs("t1", 1, [bug_line])
        + log_docs("t2", 2, [bug_line, f"{{0}} {TEST_ID} [2.1s] ... ok"])
        + log_docs("t3", 3, [bug_line, f"{{1}} {TEST_ID}[id-3e41c782,volume] [12.3s] ... FAILED"])
        # The failed test alone, without the query's own line, is not the bug either.
        + log_docs("t4", 4, [f"{{1}} {TEST_ID} [12.3s] ... FAILED"]),
    )
    build = recent_build(*(make_job(f"t{n}", n) for n in range(1, 5)))
    counting = CountingBackend(search)
    verdict = await Classifier(QUERIES).classify(build, counting)
    assert [j.bugs for j in verdict.jobs] == [(), (), ("1000006",), ()]
    assert counting.round_trips == 1


async def test_incomplete_logs(search: OpenSearchBackend, write_logs: WriteLogs) -> None:
    await write_logs(
        log_docs("half", 1, ["mirror unreachable"], end=None)
        + log_docs("empty", 2, ["x"], end=None),
    )
    verdict = await Classifier(QUERIES).classify(
        recent_build(make_job("half", 1), make_job("empty", 2), make_job("absent", 3)), search
    )
    half, empty, absent = verdict.jobs
    assert (half.bugs, half.ready, half.status) == (("1000002",), False, "classified")
    assert (empty.status, empty.missing) == ("not-ready", ("console end marker",))
    assert (absent.status, absent.build_uuid) == ("not-ready", None)
    assert [j.job.name for j in verdict.not_ready] == ["empty", "absent"]


async def test_job_known_by_name_only_uses_its_latest_build(
    search: OpenSearchBackend, write_logs: WriteLogs
) -> None:
    await write_logs(
        log_docs("tox", 1, ["disk quota exceeded"], when=NOW - timedelta(hours=3))
        + log_docs("tox", 2, ["mirror unreachable"], when=NOW - timedelta(hours=1)),
    )
    verdict = await Classifier(QUERIES).classify(
        recent_build(make_job("tox", 0, by="name")), search
    )
    assert verdict.jobs[0].bugs == ("1000002",)


async def test_a_job_reported_by_log_url_is_judged_as_by_its_build_page(
    search: OpenSearchBackend, write_logs: WriteLogs
) -> None:
    """Same bugs, same readiness, one request each: whether the report links the build page
    (uuid), a log URL with a short uuid in it, or a log URL alone. On logsender's documents
    (no short uuid) the URL is what names the build, and a recheck that ran since the report
    is not taken for it."""
    await write_logs(
        log_docs("tempest", 1, ["ERROR: mirror unreachable"], when=NOW - timedelta(hours=2))
        + log_docs("tempest", 2, ["disk quota exceeded"], end=None, when=NOW - timedelta(minutes=9))
    )
    seen = {}
    for by in ("uuid", "short", "url"):
        build = recent_build(make_job("tempest", 1, by=by))
        counting = CountingBackend(search)
        [job] = (await Classifier(QUERIES).classify(build, counting)).jobs
        assert counting.round_trips == 1, by
        [[ready]] = await check_readiness(counting, [build])
        assert counting.round_trips == 2, by
        seen[by] = (job.bugs, job.ready, job.build_uuid, job.missing), (ready.ready, ready.files)
    assert seen["uuid"] == (
        (("1000002",), True, uuid_of(1), ()),
        (True, frozenset({"job-output.txt"})),
    )
    assert seen["short"] == seen["url"] == seen["uuid"]


async def test_a_log_url_that_names_no_document_falls_back_to_the_latest_run(
    search: OpenSearchBackend, write_logs: WriteLogs
) -> None:
    await write_logs(
        log_docs("tox", 1, ["disk quota exceeded"], when=NOW - timedelta(hours=3))
        + log_docs("tox", 2, ["mirror unreachable"], when=NOW - timedelta(hours=1)),
    )
    moved = Job(
        "tox", "FAILURE", url="https://mirror.example.net/x/tox/fffffff/", short_uuid="fffffff"
    )
    [job] = (await Classifier(QUERIES).classify(recent_build(moved), search)).jobs
    assert (job.bugs, job.build_uuid, job.ready) == (("1000002",), uuid_of(2), True)


async def test_without_scripts_it_falls_back_once(
    search: OpenSearchBackend, write_logs: WriteLogs
) -> None:
    await write_logs(log_docs("a", 1, ["mirror unreachable"]))
    refusing = SelectorRefusingBackend(search)
    classifier = Classifier(QUERIES)
    build = recent_build(make_job("a", 1))
    first = await classifier.classify(build, refusing)
    second = await classifier.classify(build, refusing)
    assert first.jobs[0].bugs == second.jobs[0].bugs == ("1000002",)
    assert refusing.searches == 3  # refused + retried, then straight without the selector


async def test_replaced_queries_apply_to_the_next_build(
    search: OpenSearchBackend, write_logs: WriteLogs
) -> None:
    await write_logs(log_docs("a", 1, ["brand new failure"]))
    store = QueryStore(QUERIES)
    classifier = Classifier(store)
    build = recent_build(make_job("a", 1))
    assert (await classifier.classify(build, search)).jobs[0].bugs == ()
    store.replace([*QUERIES, query("2000000", 'message:"brand new failure"')])
    assert len(classifier.queries) == len(QUERIES) + 1
    assert (await classifier.classify(build, search)).jobs[0].bugs == ("2000000",)


async def test_late_logs_cost_one_classification(
    search: OpenSearchBackend, write_logs: WriteLogs
) -> None:
    clock = FakeClock(NOW.timestamp())
    counting = CountingBackend(search)
    monitor = ReadinessMonitor(counting, interval=2.0, clock=clock, sleep=clock.sleep)
    build = recent_build(make_job("late", 1), make_job("later", 2), created=clock.now)

    async def first() -> None:
        await write_logs(log_docs("late", 1, ["mirror unreachable"]))

    async def second() -> None:
        await write_logs(log_docs("later", 2, ["disk quota exceeded"]))

    clock.at(clock.now + 3, first)
    clock.at(clock.now + 11, second)
    verdict = await classify_when_ready(
        build, Classifier(QUERIES), counting, monitor=monitor, deadline=clock.now + 1200
    )
    assert [j.bugs for j in verdict.jobs] == [("1000002",), ("1000001",)]
    assert verdict.ready
    assert verdict.waited == 12.0
    assert counting.classifications() == 1
    assert counting.round_trips == monitor.polls + 1


async def test_logs_that_never_come_give_a_not_ready_verdict(search: OpenSearchBackend) -> None:
    clock = FakeClock(NOW.timestamp())
    counting = CountingBackend(search)
    monitor = ReadinessMonitor(counting, interval=2.0, clock=clock, sleep=clock.sleep)
    build = recent_build(make_job("gone", 1), created=clock.now)
    verdict = await classify_when_ready(
        build, Classifier(QUERIES), counting, monitor=monitor, deadline=clock.now + 20
    )
    assert [j.status for j in verdict.jobs] == ["not-ready"]
    assert verdict.waited == 20.0
    assert not verdict.ready
    assert counting.classifications() == 1


# --- the demo data with the 74 real queries ---------------------------------------------


def with_test_lines(
    buildsets: Sequence[DemoBuildset], queries: Mapping[str, Query]
) -> list[dict[str, Any]]:
    """The demo's documents; a job whose bug has test_ids also gets that test's failure line
    (the demo writes only the query's own line, which such a query does not settle on)."""
    docs = [doc for b in buildsets for job in b.jobs for doc in job_documents(b, job)]
    bugs = {job.uuid: job.bug for b in buildsets for job in b.jobs if job.bug}
    return docs + [
        {**doc, "message": f"{{0}} {queries[bug].test_ids[0]} [4.2s] ... FAILED"}
        for doc in docs
        if doc.get("loglevel") == "ERROR"
        and (bug := bugs.get(doc["build_uuid"]))
        and queries[bug].test_ids
    ]


async def test_demo_builds_get_their_bugs(
    search: OpenSearchBackend, write_logs: WriteLogs, schema: Schema
) -> None:
    queries = upstream_queries()
    assert len(queries) == 74
    by_id = {q.id: q for q in queries}
    data = generate(queries, days=4, buildsets_per_day=8, seed=3, schema=schema)
    await write_logs(with_test_lines(data.buildsets, by_id))
    expected = {(b.change, job.name): job.bug for b in data.buildsets for job in b.jobs if job.bug}
    assert len(set(expected.values())) >= 15  # a real spread of the 74 queries
    builds = [_parse(event) for event in data.events()]
    counting = CountingBackend(search)
    classifier = Classifier(queries)
    checked = 0
    for build in builds:
        verdict = await classifier.classify(build, counting)
        for job in verdict.jobs:
            bug = expected.get((build.change, job.job.name))
            assert job.ready, job
            if bug:
                assert bug in job.bugs, (build.change, job.job.name, bug, job.bugs)
                checked += 1
            else:
                assert job.status == "unrecognized", (build.change, job)
    assert checked == len(expected)
    assert counting.round_trips == len(builds)


async def test_every_upstream_query_finds_its_demo_line(
    search: OpenSearchBackend, write_logs: WriteLogs, schema: Schema
) -> None:
    """Each of the 74 queries gets a failed job carrying its synthesized line (4 per build)."""
    queries = upstream_queries()
    by_id = {q.id: q for q in queries}
    jobs = [_bug_job(q, n) for n, q in enumerate(queries)]
    buildsets = [
        DemoBuildset(
            project="openstack/nova",
            change=str(800000 + n),
            patchset="1",
            queue="gate",
            started=NOW - timedelta(hours=2),
            jobs=tuple(jobs[n * 4 : n * 4 + 4]),
            schema=schema,
        )
        for n in range((len(jobs) + 3) // 4)
    ]
    await write_logs(with_test_lines(buildsets, by_id))
    classifier = Classifier(queries)
    found: dict[str, set[str]] = {}
    for buildset in buildsets:
        verdict = await classifier.classify(_parse(gerrit_event(buildset)), search)
        found |= {j.job.name: set(j.bugs) for j in verdict.jobs}
    missed = [job.bug for job in jobs if job.bug not in found[job.name]]
    assert missed == []


def _bug_job(q: Query, n: int) -> DemoJob:
    extra: dict[str, Any] = dict(matching_fields(q.lucene))
    # Job names must be unique per build here: the query's own build_name, else one per query.
    name = str(extra.pop("build_name", f"job-{n}"))
    uuid = f"{n:032x}"
    return DemoJob(name, uuid, "FAILURE", voting=not q.allow_nonvoting, bug=q.id, extra=extra)


def _parse(event: dict[str, Any]) -> FailedBuild:
    build = parse_event(RawEvent("demo", event), ci_accounts=["zuul"])
    assert isinstance(build, FailedBuild), build
    return build


def test_query_set_skips_duplicates_keeping_the_last() -> None:
    twice = [query("1", "message:a"), query("1", "message:b")]
    assert [q.lucene for q in QuerySet.of(twice).queries] == ["message:b"]


# --- many builds at once ----------------------------------------------------------------


async def test_builds_asked_for_together_share_requests(
    search: OpenSearchBackend, write_logs: WriteLogs
) -> None:
    lines = (["mirror unreachable"], ["disk quota exceeded"], ["fine"])
    docs = []
    builds = []
    for i in range(6):
        change = str(3000 + i)
        docs += log_docs("a", 10 + i, lines[i % 3], change=change)
        docs += log_docs("b", 20 + i, lines[(i + 1) % 3], change=change)
        builds.append(recent_build(make_job("a", 10 + i), make_job("b", 20 + i), change=change))
    await write_logs(docs)
    counting = CountingBackend(search)
    classifier = Classifier(QUERIES, batch_jobs=4)
    verdicts = await asyncio.gather(*(classifier.classify(b, counting) for b in builds))
    assert counting.round_trips == classifier.requests == 3  # 12 jobs, 4 per request
    expected = [("1000002",), ("1000001",), ()]
    for i, verdict in enumerate(verdicts):
        assert verdict.build is builds[i]
        assert [j.bugs for j in verdict.jobs] == [expected[i % 3], expected[(i + 1) % 3]]
    await classifier.classify(builds[0], counting)
    assert counting.round_trips == 4


async def test_a_failed_batch_fails_its_callers(search: OpenSearchBackend) -> None:
    counting = CountingBackend(search, fail_first=1)
    classifier = Classifier(QUERIES)
    builds = [recent_build(make_job("a", i), change=str(4000 + i)) for i in range(3)]
    results = await asyncio.gather(
        *(classifier.classify(b, counting) for b in builds), return_exceptions=True
    )
    assert all(isinstance(r, SearchUnavailable) for r in results)
    assert counting.round_trips == 1
