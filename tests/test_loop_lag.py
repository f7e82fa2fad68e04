"""Clustering 2,000 failed jobs never stalls the bot: its CPU work runs off the event loop.

The bot clusters on every dashboard refresh, ``!uncat`` and ``!suggest``; while it does, chat,
delivery and readiness polls must go on. A ticker measures how late the loop wakes it. As the
bot does once it is up (:func:`bot.core.gc.settle`), what exists before the run is frozen out of
the garbage collector's full passes, which would otherwise stall every thread for a moment
proportional to the whole heap (the test process's heap included).
"""

from __future__ import annotations

import asyncio
import gc
import time

from benchmarks.clusters import build_documents, dataset
from bot.config import SearchSettings
from bot.core.gc import settle
from bot.intel import find_clusters
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend

#: The most the loop may be late waking a task while clustering, in seconds.
MAX_LAG = 0.1


async def ticker(tick: float, stop: asyncio.Event, lags: list[float]) -> None:
    """Sleep ``tick`` again and again; record how much later than asked each wake-up is."""
    while not stop.is_set():
        asked = time.monotonic()
        await asyncio.sleep(tick)
        lags.append(time.monotonic() - asked - tick)


async def test_clustering_two_thousand_jobs_keeps_the_loop_responsive(
    search_settings: SearchSettings,
) -> None:
    builds = dataset(jobs=2000, patterns=40, successes=100, seed=3)
    backend = OpenSearchBackend(search_settings.model_copy(update={"timeout": 120}))
    try:
        await bulk_index(backend.client, [doc for b in builds for doc in build_documents(b)])
        settle()
        lags: list[float] = []
        stop = asyncio.Event()
        watch = asyncio.create_task(ticker(0.01, stop, lags))
        report = await find_clusters(backend, [], days=10, queue="gate", verify=False)
        stop.set()
        await watch
    finally:
        gc.unfreeze()
        await backend.close()
    assert report.uncategorized >= 1900  # the work was really done
    assert len(report.clusters) >= 30
    assert lags  # the ticker ran meanwhile
    assert max(lags) < MAX_LAG, f"the loop stalled {max(lags):.3f} s"
