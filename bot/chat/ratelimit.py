"""How often people may run chat commands: token buckets per user and per room.

A command takes its ``rate`` in tokens from both buckets, or from neither; someone over the limit
is told to wait once per wait, not once per line, so a flood of commands never becomes a flood of
replies.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.config.chat import RateLimit
from bot.core.tokenbucket import TokenBucket


class RateLimiter:
    """Per-user and per-room token buckets, created on first use."""

    MAX_BUCKETS = 5000  # beyond this, full (idle) buckets are forgotten

    def __init__(
        self, user: RateLimit, room: RateLimit, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limits = {"user": user, "room": room}
        self._buckets: dict[str, TokenBucket] = {}
        self._warned_until: dict[str, float] = {}
        self._clock = clock

    def check(self, user: str, room: str, cost: float, *, skip_user: bool = False) -> float:
        """Take ``cost`` from both buckets and return 0, or take nothing and return the wait."""
        now = self._clock()
        buckets = [self._bucket("room", room, now)]
        if not skip_user:
            buckets.append(self._bucket("user", user, now))
        wait = max(bucket.wait_for(now, cost) for bucket in buckets)
        if wait == 0:
            for bucket in buckets:
                bucket.take(now, cost)
        return wait

    def should_warn(self, user: str, wait: float) -> bool:
        """True the first time a user hits the limit; then silent until the wait is over."""
        now = self._clock()
        if self._warned_until.get(user, 0.0) > now:
            return False
        self._warned_until[user] = now + wait
        return True

    def _bucket(self, kind: str, key: str, now: float) -> TokenBucket:
        name = f"{kind}:{key}"
        bucket = self._buckets.get(name)
        if bucket is None:
            if len(self._buckets) >= self.MAX_BUCKETS:
                self._forget_idle(now)
            limit = self._limits[kind]
            bucket = self._buckets[name] = TokenBucket(limit.burst, limit.per_minute / 60.0, now)
        return bucket

    def _forget_idle(self, now: float) -> None:
        self._buckets = {name: b for name, b in self._buckets.items() if not b.full(now)}
        self._warned_until = {k: t for k, t in self._warned_until.items() if t > now}
