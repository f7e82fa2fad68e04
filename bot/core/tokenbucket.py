"""A token bucket: ``burst`` tokens when full, refilled continuously at ``per_second``.

One implementation for every rate in the bot: chat commands per user and room, IRC lines on the
wire. A pure value with a clock passed in, so it is tested without sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenBucket:
    """Starts full at time ``now``; every method takes the current (monotonic) time."""

    burst: float
    per_second: float
    now: float
    tokens: float = -1.0  # full when not given

    def __post_init__(self) -> None:
        if self.burst <= 0 or self.per_second < 0:
            raise ValueError("need burst > 0 and per_second >= 0")
        if self.tokens < 0:
            self.tokens = self.burst

    def wait_for(self, now: float, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens are there (0: now). A cost above burst costs burst."""
        self._refill(now)
        missing = min(cost, self.burst) - self.tokens
        if missing <= 0:
            return 0.0
        return missing / self.per_second if self.per_second else float("inf")

    def take(self, now: float, cost: float = 1.0) -> None:
        """Spend ``cost`` tokens (the balance may go below zero: the wait grows)."""
        self._refill(now)
        self.tokens -= min(cost, self.burst)

    def give_back(self, now: float, tokens: float) -> None:
        """Return ``tokens`` taken for something that turned out cheaper (never above burst)."""
        self._refill(now)
        self.tokens = min(self.burst, self.tokens + max(0.0, tokens))

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.burst

    def _refill(self, now: float) -> None:
        if now > self.now:
            self.tokens = min(self.burst, self.tokens + (now - self.now) * self.per_second)
            self.now = now
