"""How often people may run chat commands: token buckets per user and per room.

A command's price is taken from both buckets up front, or from neither (the wait is returned
instead): taking it before the command runs means commands running at once cannot overdraw a
bucket that only had room for one. When the command then refuses its input, the dispatcher
gives back all of the price but what a refusal costs (:meth:`RateLimiter.refund`), so a typo
costs little while a flood of refusals is still throttled. Someone over the limit is told to
wait once per wait, not once per line, so a flood of commands never becomes a flood of replies.
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
        buckets = self._pair(user, room, now, skip_user=skip_user)
        wait = max(bucket.wait_for(now, cost) for bucket in buckets)
        if wait == 0:
            for bucket in buckets:
                bucket.take(now, cost)
        return wait

    def refund(self, user: str, room: str, tokens: float, *, skip_user: bool = False) -> None:
        """Give back ``tokens`` of what :meth:`check` took (with the same ``skip_user``)."""
        now = self._clock()
        for bucket in self._pair(user, room, now, skip_user=skip_user):
            bucket.give_back(now, tokens)

    def should_warn(self, user: str, wait: float) -> bool:
        """True the first time a user hits the limit; then silent until the wait is over."""
        now = self._clock()
        if self._warned_until.get(user, 0.0) > now:
            return False
        self._warned_until[user] = now + wait
        return True

    def _pair(self, user: str, room: str, now: float, *, skip_user: bool) -> list[TokenBucket]:
        buckets = [self._bucket("room", room, now)]
        if not skip_user:
            buckets.append(self._bucket("user", user, now))
        return buckets

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
