"""Retry and reconnect policy: one backoff, one reconnect loop, one way to retry a call.

:class:`Backoff` gives the delays (exponential, with jitter, reset after a success that lasted).
:func:`reconnecting` is the loop every event source and chat transport runs its connections in:
a session that fails or ends is opened again after the next delay, and a :class:`Link` tells
``!status``, ``/healthz`` and the logs how the connection is. :func:`with_retries` retries one
call (a search) a few times on the errors that may pass, with tenacity doing the bookkeeping.

Jitter spreads the retries of many clients after a server restart, so they do not all knock at
the same instant ("thundering herd"). The delay is drawn from ``[base * (1 - jitter), base]``, so
it never exceeds ``maximum``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from bot.core.errors import ReadableError, describe

log = logging.getLogger(__name__)


@dataclass
class Backoff:
    """Delays that grow by ``factor`` from ``initial`` up to ``maximum``, each reduced by jitter.

    ``jitter`` is the fraction of the delay that may be taken off at random (0 = none, 1 = the
    whole delay may shrink to zero, "full jitter").
    """

    initial: float = 1.0
    maximum: float = 60.0
    factor: float = 2.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random, repr=False)
    attempts: int = field(default=0, init=False)
    _base: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.maximum < self.initial:
            raise ValueError("need 0 < initial <= maximum")
        if self.factor < 1:
            raise ValueError("factor must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be within [0, 1]")
        self._base = self.initial

    def next_delay(self) -> float:
        """The delay before the next attempt, in seconds; each call counts one attempt."""
        base = self._base
        self._base = min(self.maximum, base * self.factor)
        self.attempts += 1
        return base * (1.0 - self.jitter * self.rng.random())

    def reset(self) -> None:
        """Back to the initial delay, after a success that lasted."""
        self._base = self.initial
        self.attempts = 0


@dataclass
class Link:
    """How one reconnecting connection is doing; read by status pages, written by the loop."""

    connected: bool = False
    since: float = 0.0  # monotonic time of the last connect
    failures: int = 0  # sessions that failed or ended
    last_error: str | None = None

    def up(self) -> None:
        """The session is connected (and, for a poller, a poll worked)."""
        if not self.connected:
            self.connected, self.since = True, time.monotonic()

    def down(self, reason: str) -> float:
        """The session ended; returns how long it had been connected (0 if it never was)."""
        lasted = time.monotonic() - self.since if self.connected else 0.0
        self.connected = False
        self.failures += 1
        self.last_error = reason
        return lasted


class SessionEnded(ReadableError):
    """A session came to an end by itself (the server closed the stream)."""


#: Called when a session ended, before the pause: ``(why, seconds until the next try, lasted)``
#: where ``lasted`` is how long it had been connected (0: it never connected).
OnDown = Callable[[BaseException, float, float], None]
T = TypeVar("T")


async def reconnecting(
    session: Callable[[], AsyncIterator[T]],
    link: Link,
    backoff: Backoff,
    *,
    healthy_after: float,
    on_down: OnDown,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[T]:
    """What one session after another yields, until the consumer stops or is cancelled.

    ``session()`` opens a connection, calls ``link.up()`` once it works and yields what comes in.
    When it fails or ends, ``on_down`` is told (it logs) and the next session starts after the
    backoff's next delay; a session connected for ``healthy_after`` seconds or more resets the
    backoff first, so a link that drops once a day reconnects at once.
    """
    while True:
        failure: BaseException = SessionEnded("the connection ended")
        try:
            # aclosing: when our consumer stops, the session closes its connection now.
            async with aclosing(session()) as items:  # type: ignore[type-var]
                async for item in items:
                    yield item
        except Exception as exc:  # whatever happens, the loop goes on (after a pause)
            failure = exc
        lasted = link.down(describe(failure))
        if lasted and lasted >= healthy_after:
            backoff.reset()
        delay = backoff.next_delay()
        on_down(failure, delay, lasted)
        await sleep(delay)


async def keep_connected(
    session: Callable[[], Awaitable[None]],
    link: Link,
    backoff: Backoff,
    *,
    healthy_after: float,
    on_down: OnDown,
) -> None:
    """:func:`reconnecting` for a session that yields nothing (a chat connection): runs until
    cancelled."""

    async def once() -> AsyncIterator[None]:
        await session()
        yield None  # the session ended by itself (not a failure of its own)

    async for _ in reconnecting(once, link, backoff, healthy_after=healthy_after, on_down=on_down):
        pass


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    retry_on: type[BaseException] | tuple[type[BaseException], ...],
    retries: int,
    backoff: Backoff | None = None,
) -> T:
    """Await ``call()``; on ``retry_on`` errors try again up to ``retries`` more times, pausing
    by ``backoff`` (default: 0.25 s doubling up to 4 s). Other errors are raised at once."""
    delays = backoff or Backoff(initial=0.25, maximum=4.0)
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(retry_on),
        stop=stop_after_attempt(retries + 1),
        wait=lambda _: delays.next_delay(),
        before_sleep=_log_retry,
        reraise=True,
    )
    return await retrying(call)


def _log_retry(state: RetryCallState) -> None:
    failure = state.outcome.exception() if state.outcome else None
    log.debug("retry %d in %.2f s: %s", state.attempt_number, state.upcoming_sleep, failure)
