"""Bounded work: builds in memory, builds judged at once, searches in flight; a circuit breaker
that fails fast while the search server is down; judging retried, then given up, journaled."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import SearchSettings
from bot.events.model import FailedBuild
from bot.search.base import Body, Response, SearchQueryError, SearchUnavailable
from bot.search.breaker import CircuitBreaker, CircuitOpen, GuardedBackend
from bot.search.opensearch import OpenSearchBackend
from bot.state import StateStore
from bot.transports.base import Room
from bot.watch.outcome import JobResult, Outcome
from bot.watch.pipeline import Limits, Pipeline
from bot.watch.routing import parse_channels
from tests.support.builds import failed_build
from tests.support.clock import FakeClock
from tests.support.http import ForwardingProxy
from tests.support.outlet import FakeOutlet

ROUTING = parse_channels({"qa": {"projects": ["all"], "events": ["positive", "negative"]}})
BUILD = failed_build("tempest-full", change="1", patchset="1")
FAST = Limits(retry_initial=0.01, retry_max=0.05)


def builds(n: int) -> list[FailedBuild]:
    return [replace(BUILD, change=str(1000 + i)) for i in range(n)]


# --- the circuit breaker ----------------------------------------------------------------------


def test_breaker_opens_after_n_failures_then_probes_once() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failures=3, cooldown=30, clock=clock)
    for _ in range(2):
        breaker.acquire()
        breaker.failure("unreachable")
    assert breaker.state == "closed"
    breaker.acquire()
    breaker.failure("unreachable")
    assert breaker.state == "open"
    with pytest.raises(CircuitOpen, match="failing fast for 30 s more: unreachable"):
        breaker.acquire()
    clock.now += 30
    assert breaker.state == "half-open"
    breaker.acquire()  # the probe
    with pytest.raises(CircuitOpen):
        breaker.acquire()  # only one probe at a time
    breaker.failure("unreachable")  # the probe failed: open again, for a full cool-down
    assert breaker.state == "open"
    assert breaker.status().retry_in == 30
    clock.now += 30
    breaker.acquire()
    breaker.success()
    assert breaker.state == "closed"
    assert breaker.status().describe() == "ok"


def test_breaker_logs_an_outage_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failures=1, cooldown=1, clock=clock)
    with caplog.at_level("INFO", "bot.search.breaker"):
        for _ in range(5):
            clock.now += 1
            breaker.acquire()
            breaker.failure("search server http://x unreachable: refused")
        clock.now += 1
        breaker.acquire()
        breaker.success()
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
    assert "unreachable: refused" in caplog.records[0].getMessage()


class FakeSearch:
    """A search server that can be down, refuse queries, or be slow."""

    name = "fake"

    def __init__(self) -> None:
        self.down = False
        self.refuse = False
        self.delay = 0.0
        self.calls = 0
        self.in_flight = 0
        self.most_in_flight = 0

    async def search(self, body: Body, *, index: str | None = None) -> Response:
        self.calls += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            if self.down:
                raise SearchUnavailable("search server http://fake unreachable")
            if self.refuse:
                raise SearchQueryError("search server rejected the request (400): bad")
            return {"hits": {"total": {"value": 0}}}
        finally:
            self.in_flight -= 1

    async def msearch(self, bodies: Sequence[Body], *, index: str | None = None) -> list[Response]:
        return [await self.search(body) for body in bodies]

    async def health(self) -> Response:
        return await self.search({})

    async def close(self) -> None:
        pass


async def test_guarded_backend_fails_fast_while_open() -> None:
    inner = FakeSearch()
    inner.down = True
    guarded = GuardedBackend(inner, CircuitBreaker(failures=2, cooldown=60))
    for _ in range(2):
        with pytest.raises(SearchUnavailable):
            await guarded.search({})
    with pytest.raises(CircuitOpen):
        await guarded.health()
    assert inner.calls == 2  # the third never reached the server


async def test_refusals_do_not_trip_the_breaker() -> None:
    inner = FakeSearch()
    inner.refuse = True
    guarded = GuardedBackend(inner, CircuitBreaker(failures=1, cooldown=60))
    for _ in range(3):
        with pytest.raises(SearchQueryError):
            await guarded.search({})
    assert guarded.breaker.state == "closed"


async def test_one_cap_on_searches_for_the_whole_bot() -> None:
    inner = FakeSearch()
    inner.delay = 0.02
    guarded = GuardedBackend(inner, CircuitBreaker(), max_concurrent=3)
    await asyncio.gather(*(guarded.search({}) for _ in range(20)))
    assert inner.calls == 20
    assert inner.most_in_flight == 3


# --- the pipeline's limits --------------------------------------------------------------------


async def open_state(tmp_path: Path) -> StateStore:
    return await StateStore.open(tmp_path / "state.sqlite")


async def finished(state: StateStore) -> tuple[bool, str | None]:
    """Whether BUILD is journaled as finished, and what was given up."""
    found = await state.build_state(BUILD.key)
    assert found is not None
    return found[0] is not None, found[1]


async def test_builds_beyond_max_active_wait_in_the_journal(tmp_path: Path) -> None:
    state = await open_state(tmp_path)
    release = asyncio.Event()
    most = 0

    async def judge(build: FailedBuild) -> Outcome:
        nonlocal most
        most = max(most, pipeline.active)
        await release.wait()
        return Outcome(jobs=())

    limits = replace(FAST, max_active=4, max_concurrent=2)
    pipeline = Pipeline(
        state=state, judge=judge, routing=ROUTING, outlet=FakeOutlet(), limits=limits
    )
    for build in builds(10):
        assert await pipeline.submit(build)
    assert pipeline.active == 4
    assert pipeline.pending == 10
    release.set()
    async with asyncio.timeout(10):
        while pipeline.pending:  # noqa: ASYNC110 (polling the pipeline's own counters)
            await asyncio.sleep(0.01)
    assert most <= 4
    assert pipeline.processed == 10
    assert await state.unfinished() == []
    await pipeline.close()
    await state.close()


async def test_judging_is_capped(tmp_path: Path) -> None:
    state = await open_state(tmp_path)
    judging = most = 0

    async def judge(build: FailedBuild) -> Outcome:
        nonlocal judging, most
        judging += 1
        most = max(most, judging)
        await asyncio.sleep(0.01)
        judging -= 1
        return Outcome(jobs=())

    limits = replace(FAST, max_concurrent=3)
    pipeline = Pipeline(
        state=state, judge=judge, routing=ROUTING, outlet=FakeOutlet(), limits=limits
    )
    for build in builds(12):
        await pipeline.submit(build)
    await pipeline.drain(grace=10)
    assert most == 3
    assert pipeline.processed == 12
    await pipeline.close()
    await state.close()


async def test_a_bug_in_judging_is_traced_once_and_every_failure_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = await open_state(tmp_path)
    errors: list[Exception] = [
        SearchUnavailable("search server http://x unreachable"),
        KeyError("aggregations"),
        KeyError("aggregations"),
    ]

    async def judge(build: FailedBuild) -> Outcome:
        if errors:
            raise errors.pop(0)
        return Outcome(jobs=())

    pipeline = Pipeline(state=state, judge=judge, routing=ROUTING, outlet=FakeOutlet(), limits=FAST)
    with caplog.at_level("WARNING", "bot.watch.pipeline"):
        await pipeline.submit(BUILD)
        await pipeline.drain(grace=10)
    assert pipeline.judge_failures == {"SearchUnavailable": 1, "KeyError": 2}
    traced = [r for r in caplog.records if r.exc_info]
    assert len(traced) == 1  # the bug, with its traceback, once; the outage in one line
    assert traced[0].exc_info is not None
    assert traced[0].exc_info[0] is KeyError
    assert await finished(state) == (True, None)
    await pipeline.close()
    await state.close()


async def test_a_failing_judge_is_retried_until_the_search_server_is_back(
    tmp_path: Path,
) -> None:
    state = await open_state(tmp_path)
    attempts: list[int] = []
    outlet = FakeOutlet()

    async def judge(build: FailedBuild) -> Outcome:
        attempts.append(1)
        if len(attempts) < 4:
            raise SearchUnavailable("search server http://x unreachable")
        return Outcome(jobs=(), not_ready=("tempest-full",))

    pipeline = Pipeline(state=state, judge=judge, routing=ROUTING, outlet=outlet, limits=FAST)
    await pipeline.submit(BUILD)
    await pipeline.drain(grace=10)
    assert len(attempts) == 4
    assert outlet.said()
    assert outlet.said()[0].startswith("Logs not ready")
    assert await finished(state) == (True, None)
    await pipeline.close()
    await state.close()


async def test_judging_is_given_up_after_a_bounded_time_and_journaled(tmp_path: Path) -> None:
    state = await open_state(tmp_path)

    async def judge(build: FailedBuild) -> Outcome:
        raise SearchUnavailable("search server http://x unreachable")

    outlet = FakeOutlet()
    limits = replace(FAST, judge_retry_for=0.2)
    pipeline = Pipeline(state=state, judge=judge, routing=ROUTING, outlet=outlet, limits=limits)
    await pipeline.submit(BUILD)
    await pipeline.drain(grace=10)
    done, gave_up = await finished(state)
    assert done
    assert gave_up == "not judged: search server http://x unreachable"
    assert pipeline.given_up == 1
    assert outlet.sent == []  # nothing to say
    await pipeline.close()
    await state.close()


async def test_a_room_given_up_finishes_the_build_with_the_reason(tmp_path: Path) -> None:
    state = await open_state(tmp_path)
    outlet = FakeOutlet()
    outlet.refuse.add(Room("irc", "#qa"))
    pipeline = Pipeline(
        state=state,
        judge=_unrecognized,
        routing=ROUTING,
        outlet=outlet,
        limits=replace(FAST, give_up_after=0.2),
    )
    await pipeline.submit(BUILD)
    await pipeline.drain(grace=10)
    assert await finished(state) == (True, "irc:#qa: ConnectionError: refused")
    await pipeline.close()
    await state.close()


async def _unrecognized(build: FailedBuild) -> Outcome:
    return Outcome(jobs=(JobResult("tempest-full"),))


async def test_an_unwritable_journal_holds_the_event_it_does_not_lose_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    state = await open_state(tmp_path)
    add_build = state.add_build
    failures = [sqlite3.OperationalError("database or disk is full")] * 3

    async def full_disk(build: FailedBuild) -> bool:
        if failures:
            raise failures.pop()
        return await add_build(build)

    monkeypatch.setattr(state, "add_build", full_disk)
    pipeline = Pipeline(
        state=state, judge=_unrecognized, routing=ROUTING, outlet=FakeOutlet(), limits=FAST
    )
    with caplog.at_level("WARNING", "bot.watch.pipeline"):
        assert await pipeline.submit(BUILD)
    await pipeline.drain(grace=10)
    assert await finished(state) == (True, None)
    assert len([r for r in caplog.records if "disk is full" in r.getMessage()]) == 1
    await pipeline.close()
    await state.close()


async def test_a_slow_search_server_trips_the_breaker_too(search_settings: SearchSettings) -> None:
    async with ForwardingProxy(search_settings.url, delay=1.0) as slow:
        settings = search_settings.model_copy(update={"url": slow.url, "timeout": 0.2})
        guarded = GuardedBackend(
            OpenSearchBackend(settings), CircuitBreaker(failures=2, cooldown=60)
        )
        for _ in range(2):
            with pytest.raises(SearchUnavailable, match="did not answer in time"):
                await guarded.health()
        with pytest.raises(CircuitOpen, match="did not answer in time"):
            await guarded.search({})
        assert slow.requests == 2
        await guarded.close()
