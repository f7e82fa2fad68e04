"""bot.core: error lines, backoff, the reconnect loop, call retries, the token bucket."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from bot.core.errors import ReadableError, describe
from bot.core.http import basic_auth, basic_token
from bot.core.retry import Backoff, Link, keep_connected, reconnecting, with_retries
from bot.core.tokenbucket import TokenBucket

# -- describe --------------------------------------------------------------------------------


class _Readable(ReadableError):
    pass


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (_Readable("search server x unreachable\nmore detail"), "search server x unreachable"),
        (ConnectionRefusedError(111, "Connection refused"), "ConnectionRefusedError: [Errno 111]"),
        (TimeoutError(), "timed out"),
        (TimeoutError("read took too long"), "TimeoutError: read took too long"),
        (ValueError(), "ValueError"),
        (_Readable(""), "_Readable"),
        (RuntimeError("\n\n  second line only  \n"), "RuntimeError: second line only"),
    ],
)
def test_describe_gives_one_line(exc: BaseException, line: str) -> None:
    assert describe(exc).startswith(line)
    assert "\n" not in describe(exc)


def test_describe_cuts_a_long_message() -> None:
    assert len(describe(_Readable("x" * 5000), limit=50)) == 50


def test_basic_auth_is_the_base64_pair() -> None:
    assert basic_token("user", "pä:ss") == "dXNlcjpww6Q6c3M="
    assert basic_auth("user", "pä:ss") == "Basic dXNlcjpww6Q6c3M="


# -- backoff -------------------------------------------------------------------------------


def test_backoff_grows_to_the_maximum_with_jitter_below_the_base() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, factor=2.0, jitter=0.5, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(6)]
    for delay, base in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert base * 0.5 <= delay <= base
    assert backoff.attempts == 6
    backoff.reset()
    assert backoff.attempts == 0
    assert 0.5 <= backoff.next_delay() <= 1.0


def test_backoff_without_jitter_is_exact() -> None:
    backoff = Backoff(initial=0.5, maximum=3.0, factor=3.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(4)] == [0.5, 1.5, 3.0, 3.0]


@pytest.mark.parametrize(
    "kwargs", [{"initial": 0}, {"initial": 2, "maximum": 1}, {"factor": 0.5}, {"jitter": 1.5}]
)
def test_backoff_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        Backoff(**kwargs)  # type: ignore[arg-type]


# -- the reconnect loop --------------------------------------------------------------------


class _Server:
    """Sessions that fail, connect, or connect and then drop, as scripted."""

    def __init__(self, script: list[str]) -> None:
        self.script = script
        self.opened = 0

    async def session(self, link: Link) -> AsyncIterator[int]:
        self.opened += 1
        step = self.script.pop(0) if self.script else "hang"
        if step == "refuse":
            raise ConnectionRefusedError("refused")
        link.up()
        if step == "hang":
            await asyncio.Event().wait()
        yield self.opened
        if step == "drop":
            raise ConnectionResetError("reset by peer")
        if step == "stay":
            await asyncio.Event().wait()


async def test_reconnecting_yields_across_sessions_and_backs_off_until_one_lasts() -> None:
    server, link = _Server(["refuse", "refuse", "drop", "end", "refuse", "stay"]), Link()
    backoff = Backoff(initial=1.0, maximum=8.0, jitter=0.0)
    downs: list[tuple[str, float, bool]] = []
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    loop = reconnecting(
        lambda: server.session(link),
        link,
        backoff,
        healthy_after=0.0,
        on_down=lambda exc, delay, lasted: downs.append((describe(exc), delay, lasted > 0)),
        sleep=sleep,
    )
    items = [item async for item in _take(loop, 3)]
    assert items == [3, 4, 6]
    # Refusals back off 1 s, then 2 s; a session that was up resets the backoff.
    assert slept == [1.0, 2.0, 1.0, 1.0, 2.0]
    assert [d[0] for d in downs][:2] == ["ConnectionRefusedError: refused"] * 2
    assert downs[2] == ("ConnectionResetError: reset by peer", 1.0, True)
    assert downs[3] == ("the connection ended", 1.0, True)
    assert link.failures == 5
    assert link.last_error == "ConnectionRefusedError: refused"
    assert link.connected


async def _take(items: AsyncIterator[int], count: int) -> AsyncIterator[int]:
    async for item in items:
        yield item
        count -= 1
        if count == 0:
            return


async def test_a_short_lived_connection_does_not_reset_the_backoff() -> None:
    server, link = _Server(["drop", "drop", "drop"]), Link()
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    loop = reconnecting(
        lambda: server.session(link),
        link,
        Backoff(initial=1.0, maximum=8.0, jitter=0.0),
        healthy_after=60.0,
        on_down=lambda *_: None,
        sleep=sleep,
    )
    assert [item async for item in _take(loop, 3)] == [1, 2, 3]
    assert slept == [1.0, 2.0]


async def test_keep_connected_runs_sessions_until_cancelled() -> None:
    link, started = Link(), asyncio.Event()
    sessions = 0

    async def session() -> None:
        nonlocal sessions
        sessions += 1
        if sessions < 3:
            raise OSError("down")
        link.up()
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(
        keep_connected(
            session,
            link,
            Backoff(initial=0.001, maximum=0.002),
            healthy_after=1.0,
            on_down=lambda *_: None,
        )
    )
    await asyncio.wait_for(started.wait(), 5)
    assert link.connected
    assert link.failures == 2
    assert link.last_error == "OSError: down"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# -- retrying one call ---------------------------------------------------------------------


async def test_with_retries_retries_only_what_may_pass() -> None:
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("not yet")
        return "ok"

    fast = Backoff(initial=0.001, maximum=0.001)
    assert await with_retries(flaky, retry_on=ConnectionError, retries=2, backoff=fast) == "ok"
    assert len(calls) == 3

    calls.clear()
    with pytest.raises(ConnectionError):
        await with_retries(flaky, retry_on=ConnectionError, retries=1, backoff=fast)
    assert len(calls) == 2

    async def broken() -> str:
        calls.append(1)
        raise ValueError("bad request")

    calls.clear()
    with pytest.raises(ValueError, match="bad request"):
        await with_retries(broken, retry_on=ConnectionError, retries=5, backoff=fast)
    assert len(calls) == 1


# -- token bucket --------------------------------------------------------------------------


def test_token_bucket_spends_refills_and_caps() -> None:
    bucket = TokenBucket(burst=2, per_second=0.5, now=0.0)
    assert bucket.wait_for(0.0) == 0.0
    bucket.take(0.0)
    bucket.take(0.0)
    assert bucket.wait_for(0.0) == pytest.approx(2.0)
    assert bucket.wait_for(1.0) == pytest.approx(1.0)
    assert bucket.wait_for(100.0) == 0.0
    assert bucket.full(100.0)
    assert bucket.wait_for(100.0, cost=9) == 0.0  # a cost above burst costs burst
    bucket.take(100.0, cost=9)
    assert bucket.tokens == 0.0


def test_token_bucket_without_limit_never_waits() -> None:
    bucket = TokenBucket(burst=1, per_second=float("inf"), now=0.0)
    for _ in range(5):
        assert bucket.wait_for(0.0) == 0.0 or bucket.wait_for(0.001) == 0.0
        bucket.take(0.001)
