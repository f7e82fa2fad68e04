"""The graphed period: ``days * 24`` whole hours before the current hour (ER's 240 h)."""

from __future__ import annotations

import time
from dataclasses import dataclass

STEP_MS = 3_600_000  # one hour: ER's bucket
DAY_MS = 24 * STEP_MS
FAILURE = "FAILURE"


@dataclass(frozen=True)
class Window:
    """The graphed period: ``days * 24`` whole hours before the current hour (ER's 240 h)."""

    now_ms: int
    days: int = 10

    @property
    def hour_ms(self) -> int:
        return self.now_ms - self.now_ms % STEP_MS

    @property
    def start_ms(self) -> int:
        return self.hour_ms - self.days * DAY_MS

    def buckets(self) -> range:
        """Bucket keys (epoch ms), oldest first; the current hour is left out, as ER did."""
        return range(self.start_ms, self.hour_ms, STEP_MS)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def hour_of(epoch_ms: int) -> int:
    """The start of the hour ``epoch_ms`` is in."""
    return epoch_ms - epoch_ms % STEP_MS
