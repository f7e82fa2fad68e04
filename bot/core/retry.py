"""Exponential backoff with jitter, for reconnect loops (Gerrit SSH, IRC, Matrix, MQTT).

Usage in a reconnect loop::

    backoff = Backoff(initial=1.0, maximum=60.0)
    while True:
        started = loop.time()
        try:
            await run_session()
        except OSError as exc:
            log.warning("lost: %s", exc)
        if loop.time() - started > HEALTHY:
            backoff.reset()  # a long healthy session: the next retry is quick again
        await backoff.sleep()

Jitter spreads the retries of many clients after a server restart, so they do not all knock at
the same instant ("thundering herd"). The delay is drawn from ``[base * (1 - jitter), base]``, so
it never exceeds ``maximum``.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field


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

    async def sleep(self) -> float:
        """Sleep for :meth:`next_delay` seconds and return how long that was."""
        delay = self.next_delay()
        await asyncio.sleep(delay)
        return delay
