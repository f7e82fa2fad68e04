"""Waiting for what another task or process makes true: poll it, with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(
    predicate: Callable[[], bool], what: str, seconds: float = 5.0, *, every: float = 0.01
) -> None:
    """Poll ``predicate`` every ``every`` seconds; fail the test clearly after ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            # Polling, not an Event: the predicates look at state the waiter does not own.
            while not predicate():  # noqa: ASYNC110
                await asyncio.sleep(every)
    except TimeoutError:
        raise AssertionError(f"gave up after {seconds} s waiting for {what}") from None
