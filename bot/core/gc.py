"""The garbage collector and a long-running asyncio process.

A full collection scans every tracked object while holding the GIL: with the queries, compiled
filters and client libraries of a running bot that is a pause of a few hundred milliseconds,
during which the event loop (chat, delivery, readiness polls) stands still. What the bot builds
at start lives until it stops, so once it is up :func:`settle` moves it out of the collector's
reach (``gc.freeze``): later full passes scan only what came after.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect once, then exempt everything alive now from future collections."""
    gc.collect()
    gc.freeze()
