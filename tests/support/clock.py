"""A clock that a test moves: for rate limits, backoffs and readiness deadlines."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class FakeClock:
    """Time that moves only when a test sets :attr:`now` or the code under test sleeps; runs
    the actions scheduled with :meth:`at` on the way. Call it for the time."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start
        self.slept: list[float] = []
        self._actions: list[tuple[float, Callable[[], Awaitable[None]]]] = []

    def __call__(self) -> float:
        return self.now

    def at(self, when: float, action: Callable[[], Awaitable[None]]) -> None:
        self._actions.append((when, action))
        self._actions.sort(key=lambda item: item[0])

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        while self._actions and self._actions[0][0] <= self.now:
            _, action = self._actions.pop(0)
            await action()
        await asyncio.sleep(0)
