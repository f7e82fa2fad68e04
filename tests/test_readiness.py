"""Readiness on a real osmem server: what counts as "logs are in", and waiting for many builds."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest

from bot.search.builds import DSVM_FILES, GRENADE_FILE, job_filter, log_prefix, required_files
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.watch import readiness
from bot.watch.readiness import ReadinessMonitor, check_readiness, readiness_body
from tests.support.builds import (
    NOW,
    WriteLogs,
    file_docs,
    in_layout,
    job_url,
    log_docs,
    make_job,
    recent_build,
    uuid_of,
)
from tests.support.clock import FakeClock
from tests.support.polling import until
from tests.support.search import CountingBackend

# --- pure parts -------------------------------------------------------------------------


def test_required_files_follow_er() -> None:
    assert required_files("tempest-dsvm-full") == frozenset(DSVM_FILES)
    assert required_files("grenade-dsvm-neutron") == frozenset(DSVM_FILES) | {GRENADE_FILE}
    # Anchored at the start, as ER matched: these need only the console log.
    assert required_files("gate-tempest-dsvm-full") == frozenset()
    assert required_files("tempest-full-py3") == frozenset()


def test_job_identity() -> None:
    build = recent_build()
    assert job_filter(build, make_job("a", 1)) == {"term": {"build_uuid": uuid_of(1)}}
    named = job_filter(build, make_job("a", 1, by="name"))["bool"]["filter"]
    assert named == [
        {"term": {"build_change": "1001"}},  # hits an integer field as well as a keyword one
        {"term": {"build_patchset": "2"}},
        {"term": {"build_name": "a"}},
    ]
    # A log URL names its build (short uuid: ER-era documents; the URL: logsender's log_url)
    # or else change/patchset/name do, all in one filter.
    short = job_filter(build, make_job("a", 1, by="short"))["bool"]["should"]
    exact = {"prefix": {"log_url": job_url("a", 1)}}
    assert short[0]["bool"]["filter"] == [
        {"term": {"build_name": "a"}},
        {
            "bool": {
                "should": [{"term": {"build_short_uuid": uuid_of(1)[:7]}}, exact],
                "minimum_should_match": 1,
            }
        },
    ]
    assert short[1] == {"bool": {"filter": named}}
    url_only = job_filter(build, make_job("a", 1, by="url"))["bool"]["should"]
    assert url_only[0]["bool"]["filter"] == [{"term": {"build_name": "a"}}, exact]
    assert url_only[1] == short[1]


def test_log_url_prefix_is_the_reported_directory() -> None:
    assert (
        log_prefix("https://l/56/123456/3/gate/j/4bc5a41/")
        == "https://l/56/123456/3/gate/j/4bc5a41/"
    )
    assert log_prefix("https://l/j/4bc5a41") == "https://l/j/4bc5a41/"
    assert log_prefix("http://l/j/17/console.html") == "http://l/j/17/"
    assert log_prefix("https://l/j/4bc5a41/?x=1#end") == "https://l/j/4bc5a41/"


def test_reported_build_ranks_exact_matches_only_when_a_job_needs_it() -> None:
    by_uuid = readiness_body([recent_build(make_job("a", 1))])["aggs"]["jobs"]["aggs"]["build"]
    assert by_uuid["terms"]["order"] == {"latest": "desc"}
    assert "exact" not in by_uuid["aggs"]
    body = readiness_body(
        [recent_build(make_job("a", 1, by="short"), make_job("b", 2, by="url"), make_job("c", 3))]
    )
    build = body["aggs"]["jobs"]["aggs"]["build"]
    assert build["terms"]["order"] == [{"exact": "desc"}, {"latest": "desc"}]
    jobs = body["aggs"]["jobs"]["filters"]["filters"]
    # Each exact clause is the one in its job's filter: ordering picks the reported run.
    assert build["aggs"]["exact"]["filter"]["bool"]["should"] == [
        jobs["0.0"]["bool"]["should"][0],
        jobs["0.1"]["bool"]["should"][0],
    ]


def test_one_body_covers_several_builds() -> None:
    builds = [
        recent_build(make_job("a", 1), make_job("b", 2)),
        recent_build(make_job("c", 3), change="7"),
    ]
    body = readiness_body(builds)
    assert set(body["aggs"]["jobs"]["filters"]["filters"]) == {"0.0", "0.1", "1.0"}
    assert len(body["query"]["bool"]["filter"][0]["bool"]["should"]) == 2


# --- on osmem ---------------------------------------------------------------------------


async def test_ready_partial_and_old_console(
    search: OpenSearchBackend, write_logs: WriteLogs
) -> None:
    await write_logs(
        log_docs("done", 1)
        + log_docs("running", 2, end=None)
        + log_docs("old", 3, end="[SCP] Copying console log, please wait", filename="console.html"),
    )
    build = recent_build(make_job("done", 1), make_job("running", 2), make_job("old", 3))
    [jobs] = await check_readiness(search, [build])
    assert [j.ready for j in jobs] == [True, False, True]
    assert jobs[1].missing == ("console end marker",)
    assert jobs[0].build_uuid == uuid_of(1)


async def test_a_cluster_holding_both_layouts(search: OpenSearchBackend) -> None:
    """A site that moved to logsender: yesterday's builds in an ER-era index (keyword
    build_change and voting), today's in logsender's (integers). A term on build_change hits
    both, given as text or as a number: osmem does as OpenSearch (a keyword field compares a
    number's text, a numeric field parses a numeric string)."""
    old = in_layout(log_docs("old", 1, when=NOW - timedelta(days=1, hours=1)), "er")
    new = in_layout(log_docs("new", 2), "logsender")
    await bulk_index(search.client, old, schema="er")
    await bulk_index(search.client, new, schema="logsender")
    mappings = await search.client.indices.get_mapping(index="logstash-*")
    types = {m["mappings"]["properties"]["build_change"]["type"] for m in mappings.values()}
    assert types == {"keyword", "integer"}
    build = recent_build(make_job("old", 1, by="short"), make_job("new", 2, by="url"))
    [jobs] = await check_readiness(search, [build])
    assert [(j.build_uuid, j.ready) for j in jobs] == [(uuid_of(1), True), (uuid_of(2), True)]
    for value in ("1001", 1001):
        response = await search.search({"query": {"term": {"build_change": value}}, "size": 100})
        assert response["hits"]["total"]["value"] == len(old) + len(new), value


async def test_dsvm_jobs_wait_for_their_files(
    search: OpenSearchBackend, write_logs: WriteLogs
) -> None:
    await write_logs(log_docs("grenade-dsvm", 4) + file_docs("grenade-dsvm", 4, DSVM_FILES[:3]))
    build = recent_build(make_job("grenade-dsvm", 4, by="short"))
    [[job]] = await check_readiness(search, [build])
    assert not job.ready
    assert job.missing == tuple(sorted({*DSVM_FILES[3:], GRENADE_FILE}))
    await write_logs(file_docs("grenade-dsvm", 4, [*DSVM_FILES[3:], GRENADE_FILE]))
    [[job]] = await check_readiness(search, [build])
    assert job.ready


async def test_job_known_by_name_only_is_its_latest_build(
    search: OpenSearchBackend, write_logs: WriteLogs
) -> None:
    older = log_docs("tox", 5, when=NOW - timedelta(hours=3))
    newer = log_docs(
        "tox", 6, end=None, when=NOW - timedelta(hours=1)
    )  # the recheck, still running
    await write_logs(older + newer)
    [[job]] = await check_readiness(search, [recent_build(make_job("tox", 0, by="name"))])
    assert job.build_uuid == uuid_of(6)
    assert not job.ready


async def test_logs_that_arrive_late(search: OpenSearchBackend, write_logs: WriteLogs) -> None:
    clock = FakeClock(NOW.timestamp())
    counting = CountingBackend(search)
    monitor = ReadinessMonitor(counting, interval=2.0, clock=clock, sleep=clock.sleep)
    build = recent_build(make_job("late", 7), created=clock.now)

    async def arrive() -> None:
        await write_logs(log_docs("late", 7))

    clock.at(clock.now + 7, arrive)
    result = await monitor.wait(build, deadline=monitor.deadline_for(build, 1200))
    assert result.ready
    assert result.waited == 8.0  # checks at 0, 2, 4, 6 (not yet) and 8
    assert result.checks == 5 == monitor.polls == counting.round_trips
    assert monitor.waiting == 0


async def test_logs_that_never_arrive(search: OpenSearchBackend) -> None:
    clock = FakeClock(NOW.timestamp())
    monitor = ReadinessMonitor(search, interval=2.0, clock=clock, sleep=clock.sleep)
    build = recent_build(make_job("lost", 8), make_job("lost2", 9), created=clock.now)
    result = await monitor.wait(build, deadline=monitor.deadline_for(build, 9))
    assert not result.ready
    assert result.waited == 9.0
    assert [job.name for job in result.not_ready] == ["lost", "lost2"]
    assert clock.slept == [2.0, 2.0, 2.0, 2.0, 1.0]  # woken for the deadline, not past it


async def test_past_deadline_judges_now_without_a_request(search: OpenSearchBackend) -> None:
    counting = CountingBackend(search)
    monitor = ReadinessMonitor(counting)
    old = recent_build(make_job("x", 1), created=NOW.timestamp() - 7200)
    result = await monitor.wait(old, deadline=monitor.deadline_for(old, 1200))
    assert (result.ready, result.checks, counting.round_trips) == (False, 0, 0)


async def test_many_builds_wait_together_without_serializing(
    search: OpenSearchBackend, write_logs: WriteLogs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readiness, "BATCH_JOBS", 16)  # 30 builds x 2 jobs -> 4 bodies per msearch
    clock = FakeClock(NOW.timestamp())
    counting = CountingBackend(search)
    monitor = ReadinessMonitor(counting, interval=2.0, clock=clock, sleep=clock.sleep)
    builds = [
        recent_build(
            make_job("a", 100 + i), make_job("b", 200 + i), change=str(5000 + i), created=clock.now
        )
        for i in range(30)
    ]
    for i in range(30):  # the first build's logs come last
        docs = log_docs("a", 100 + i, change=str(5000 + i)) + log_docs(
            "b", 200 + i, change=str(5000 + i)
        )

        async def arrive(docs: list[dict[str, Any]] = docs) -> None:
            await write_logs(docs)

        clock.at(clock.now + 3 * (30 - i), arrive)
    finished: list[int] = []

    async def one(i: int) -> float:
        result = await monitor.wait(builds[i], deadline=clock.now + 1200)
        assert result.ready
        finished.append(i)
        return result.waited

    waited = await asyncio.gather(*(one(i) for i in range(30)))
    assert finished == list(range(29, -1, -1))  # in order of their logs, not of their events
    assert all(w - 3 * (30 - i) < 2.0 + 1e-6 for i, w in enumerate(waited))
    # One round trip per tick for all 30 builds (90 s of waiting at 2 s), not one per build.
    assert monitor.polls == counting.round_trips <= 47
    assert counting.msearches > 0  # while more than 16 jobs waited, chunks went in one msearch


async def test_search_errors_back_off(search: OpenSearchBackend, write_logs: WriteLogs) -> None:
    await write_logs(log_docs("j", 11))
    clock = FakeClock(NOW.timestamp())
    counting = CountingBackend(search, fail_first=3)
    monitor = ReadinessMonitor(
        counting, interval=2.0, max_interval=10.0, clock=clock, sleep=clock.sleep
    )
    result = await monitor.wait(recent_build(make_job("j", 11)), deadline=clock.now + 600)
    assert result.ready
    assert clock.slept == [4.0, 8.0, 10.0]
    assert counting.searches == 4


async def test_real_time_wait_and_cancel(search: OpenSearchBackend, write_logs: WriteLogs) -> None:
    monitor = ReadinessMonitor(search, interval=0.05)
    slow = recent_build(make_job("slow", 12))
    never = recent_build(make_job("never", 13), change="1002")

    async def later() -> None:
        await until(lambda: monitor.polls >= 1, "a poll", 30)  # seen missing at least once
        await write_logs(log_docs("slow", 12))

    cancelled = asyncio.create_task(monitor.wait(never, deadline=NOW.timestamp() + 3600))
    arriving = asyncio.create_task(later())
    result = await monitor.wait(slow, deadline=NOW.timestamp() + 3600)
    await arriving
    assert result.ready
    assert result.checks >= 2
    assert monitor.waiting == 1
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert monitor.waiting == 0
    await monitor.close()


async def test_close_releases_waiters(search: OpenSearchBackend) -> None:
    monitor = ReadinessMonitor(search, interval=0.05)
    waiting = asyncio.create_task(
        monitor.wait(recent_build(make_job("z", 14)), deadline=time.time() + 60)
    )
    await until(lambda: monitor.polls >= 1, "a poll", 30)
    await monitor.close()
    result = await waiting
    assert not result.ready
    assert result.checks >= 1


# --- hostile times: one build must never hold up the others ------------------------------

#: What a millisecond eventCreatedOn became before parsing caught it, still in old journals.
YEAR_33658 = 1e12


def test_deadlines_count_from_now_when_the_event_time_is_no_time() -> None:
    clock = FakeClock(NOW.timestamp())
    monitor = ReadinessMonitor(CountingBackend(None), clock=clock)  # type: ignore[arg-type]
    for created in (YEAR_33658, float("inf"), float("nan"), -5.0, clock.now + 86400):
        build = recent_build(make_job("x", 1), created=created)
        assert monitor.deadline_for(build, 1200) == clock.now + 1200
    skewed = recent_build(make_job("x", 1), created=clock.now + 60)  # a clock a minute ahead
    assert monitor.deadline_for(skewed, 1200) == clock.now + 1260


def test_a_build_no_request_can_be_built_for_says_why() -> None:
    assert readiness.request_problem(recent_build(make_job("x", 1))) is None
    problem = readiness.request_problem(recent_build(make_job("x", 1), created=YEAR_33658))
    assert problem is not None
    assert "out of range" in problem


async def test_an_unsearchable_build_is_left_out_of_the_request(search: OpenSearchBackend) -> None:
    await bulk_index(search.client, log_docs("good", 23, change="2003"))
    bad = recent_build(make_job("bad", 24), change="2004", created=YEAR_33658)
    good = recent_build(make_job("good", 23), change="2003")
    counting = CountingBackend(search)
    [bad_jobs, good_jobs] = await check_readiness(counting, [bad, good])
    assert [j.ready for j in good_jobs] == [True]
    assert [(j.ready, j.build_uuid) for j in bad_jobs] == [(False, None)]
    assert counting.round_trips == 1


async def test_an_unsearchable_build_never_fails_the_poll_of_the_others(
    search: OpenSearchBackend,
) -> None:
    clock = FakeClock(NOW.timestamp())
    counting = CountingBackend(search)
    monitor = ReadinessMonitor(counting, interval=2.0, clock=clock, sleep=clock.sleep)
    bad = recent_build(make_job("bad", 21), change="2001", created=YEAR_33658)
    good = recent_build(make_job("good", 22), change="2002", created=clock.now)

    async def arrive() -> None:
        await bulk_index(search.client, log_docs("good", 22, change="2002"))

    clock.at(clock.now + 3, arrive)
    waiting_bad = asyncio.create_task(monitor.wait(bad, deadline=monitor.deadline_for(bad, 1200)))
    result = await monitor.wait(good, deadline=monitor.deadline_for(good, 1200))
    assert result.ready
    assert result.waited == 4.0  # polled at 0, 2 and 4 as if the bad build were not there
    try:
        assert waiting_bad.done(), "the bad build still waits"
        assert (waiting_bad.result().ready, waiting_bad.result().checks) == (False, 0)
        assert monitor.waiting == 0
    finally:
        await monitor.close()


async def test_a_deadline_that_is_no_time_ends_the_wait_at_once() -> None:
    counting = CountingBackend(None)  # type: ignore[arg-type]
    monitor = ReadinessMonitor(counting)
    try:
        for deadline in (float("inf"), float("nan")):
            waiting = asyncio.create_task(monitor.wait(recent_build("x"), deadline=deadline))
            await asyncio.sleep(0)  # one turn: the wait ends without ever polling
            assert waiting.done(), f"still waiting for a deadline of {deadline}"
            assert (waiting.result().ready, waiting.result().checks) == (False, 0)
        assert counting.round_trips == 0
        assert monitor.waiting == 0
    finally:
        await monitor.close()
