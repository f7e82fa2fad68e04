"""Retrying transient search failures with exponential backoff and jitter."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.search.base import SearchUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    retries: int,
    base_delay: float = 0.25,
    max_delay: float = 4.0,
) -> T:
    """Await ``call()``; on :class:`SearchUnavailable` try again up to ``retries`` times.

    Only unavailability is retried: a rejected query or bad credentials will not improve.
    """
    for attempt in range(retries + 1):
        try:
            return await call()
        except SearchUnavailable as exc:
            if attempt == retries:
                raise
            delay = min(max_delay, base_delay * 2**attempt) * random.uniform(0.5, 1.0)
            log.debug("search unavailable (%s), retry %d in %.2fs", exc, attempt + 1, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")
