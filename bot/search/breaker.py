"""One gate before the search server for the whole bot: a concurrency cap and a circuit breaker.

Classification, readiness polls, chat commands and dashboard refreshes all ask the same cluster.
:class:`GuardedBackend` wraps the configured backend so that

* at most ``max_concurrent`` requests are in flight at once, whoever sends them (a burst of
  ``!query`` cannot starve classification of connections, nor overload a small cluster);
* after ``failures`` requests in a row found the server unavailable (down, or slower than the
  request timeout), every request fails at once with :class:`CircuitOpen` for ``cooldown``
  seconds — instead of each caller waiting out its own timeout and retries. Then one request is
  let through as a probe (*half-open*): success closes the circuit, failure opens it again.

Only :class:`~bot.search.base.SearchUnavailable` counts as a failure: a rejected query or refused
credentials come from a server that is up. The breaker's state is what ``/healthz`` and
``!status`` show; the outage is logged once when the circuit opens and once when it closes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from bot.search.base import (
    Body,
    DocumentWriter,
    FilteringBackend,
    Response,
    SearchBackend,
    SearchError,
    SearchUnavailable,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
State = Literal["closed", "open", "half-open"]


class CircuitOpen(SearchUnavailable):
    """The breaker refused a request without sending it: the server was failing just now."""


@dataclass(frozen=True)
class BreakerStatus:
    state: State
    failures: int  # consecutive unavailable answers
    last_error: str | None
    retry_in: float  # seconds until the next probe may go (open only)

    def describe(self) -> str:
        """One line for ``!status``."""
        if self.state == "closed":
            return "ok" if not self.failures else f"ok ({self.failures} failed just now)"
        if self.state == "half-open":
            return f"probing after an outage ({self.last_error})"
        return f"down, failing fast for {self.retry_in:.0f} s more: {self.last_error}"

    def to_json(self) -> dict[str, object]:
        return {"state": self.state, "failures": self.failures, "last_error": self.last_error}


class CircuitBreaker:
    """Closed → (``failures`` in a row) → open → (``cooldown`` s) → half-open → closed or open."""

    def __init__(
        self,
        *,
        failures: int = 5,
        cooldown: float = 30.0,
        name: str = "search",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = failures
        self.cooldown = cooldown
        self.name = name
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self._last_error: str | None = None

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._probing or self._clock() - self._opened_at >= self.cooldown:
            return "half-open"
        return "open"

    def status(self) -> BreakerStatus:
        retry_in = 0.0
        if self._opened_at is not None:
            retry_in = max(0.0, self._opened_at + self.cooldown - self._clock())
        return BreakerStatus(self.state, self._failures, self._last_error, retry_in)

    def allows(self) -> bool:
        """Whether a request may go now (without taking the half-open probe)."""
        state = self.state
        return state == "closed" or (state == "half-open" and not self._probing)

    def acquire(self) -> None:
        """Before a request: raise :class:`CircuitOpen`, or let it go (maybe as the probe)."""
        if not self.allows():
            raise CircuitOpen(f"{self.name} {self.status().describe()}")
        if self.state == "half-open":
            self._probing = True

    def success(self) -> None:
        if self._opened_at is not None:
            log.info("%s answers again; circuit closed", self.name)
        self._failures, self._opened_at, self._probing, self._last_error = 0, None, False, None

    def failure(self, reason: str) -> None:
        self._failures += 1
        was_open, changed = self._opened_at is not None, reason != self._last_error
        self._last_error, self._probing = reason, False
        if was_open or self._failures >= self.threshold:
            self._opened_at = self._clock()
            # Once per outage: a failed probe with the same reason is only a debug line.
            level = logging.DEBUG if was_open and not changed else logging.WARNING
            log.log(
                level,
                "%s unavailable %d times in a row (%s); failing fast for %.0f s",
                *(self.name, self._failures, reason, self.cooldown),
            )

    def release(self) -> None:
        """A request ended without an answer either way (cancelled): free the probe slot."""
        self._probing = False


class GuardedBackend:
    """A :class:`~bot.search.base.SearchBackend` behind a concurrency cap and a circuit breaker."""

    def __init__(
        self, inner: SearchBackend, breaker: CircuitBreaker, *, max_concurrent: int = 8
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.breaker = breaker
        self._limit = asyncio.Semaphore(max_concurrent)

    async def search(self, body: Body, *, index: str | None = None) -> Response:
        return await self.guarded(lambda: self.inner.search(body, index=index))

    async def search_filtered(
        self, body: Body, filter_path: Sequence[str], *, index: str | None = None
    ) -> Response:
        inner = self.inner
        if isinstance(inner, FilteringBackend):
            return await self.guarded(lambda: inner.search_filtered(body, filter_path, index=index))
        return await self.search(body, index=index)

    async def msearch(self, bodies: Sequence[Body], *, index: str | None = None) -> list[Response]:
        return await self.guarded(lambda: self.inner.msearch(bodies, index=index))

    async def health(self) -> Response:
        return await self.guarded(self.inner.health)

    async def close(self) -> None:
        await self.inner.close()

    def writer(self) -> DocumentWriter | None:
        """Writes to the server behind the same cap and breaker; None when it takes none."""
        if not isinstance(self.inner, DocumentWriter):
            return None
        return _GuardedWriter(self, self.inner)

    async def guarded(self, call: Callable[[], Awaitable[T]]) -> T:
        if not self.breaker.allows():  # fail fast, without queueing for a slot
            self.breaker.acquire()
        async with self._limit:
            self.breaker.acquire()  # again: the circuit may have opened while we queued
            try:
                result = await call()
            except SearchUnavailable as exc:
                self.breaker.failure(str(exc))
                raise
            except SearchError:
                self.breaker.success()  # a refusal is an answer: the server is up
                raise
            except BaseException:
                self.breaker.release()
                raise
        self.breaker.success()
        return result


class _GuardedWriter:
    """A :class:`~bot.search.base.DocumentWriter` whose writes go through a guarded backend."""

    def __init__(self, guard: GuardedBackend, inner: DocumentWriter) -> None:
        self._guard, self._inner = guard, inner

    async def write_documents(self, documents: Sequence[Mapping[str, Any]]) -> int:
        return await self._guard.guarded(lambda: self._inner.write_documents(documents))

    async def refresh(self) -> None:
        await self._guard.guarded(self._inner.refresh)
