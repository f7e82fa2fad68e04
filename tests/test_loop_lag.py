"""Clustering 2,000 failed jobs never stalls the bot: its CPU work runs off the event loop.

The bot clusters on every dashboard refresh, ``!uncat`` and ``!suggest``; while it does, chat,
delivery and readiness polls must go on. Whether the loop stays responsive is a speed figure:
``benchmarks/clusters.py`` measures the loop's lag. Here the property behind it is checked, with
no clock: the clustering (the real function, watched, not replaced) runs on a worker thread, and
the loop goes on serving other tasks while it does.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import bot.intel
from benchmarks.clusters import build_documents, dataset
from bot.config import SearchSettings
from bot.intel import find_clusters
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend


async def test_clustering_two_thousand_jobs_runs_off_the_event_loop(
    search_settings: SearchSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds = dataset(jobs=2000, patterns=40, successes=100, seed=3)
    backend = OpenSearchBackend(search_settings.model_copy(update={"timeout": 120}))
    loop_thread = threading.current_thread()
    clustering = threading.Event()
    ran_on: list[threading.Thread] = []
    ticks_meanwhile = 0
    real = bot.intel.cluster_jobs

    def watched(*args: Any, **kwargs: Any) -> Any:
        ran_on.append(threading.current_thread())
        clustering.set()
        try:
            return real(*args, **kwargs)
        finally:
            clustering.clear()

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal ticks_meanwhile
        while not stop.is_set():
            await asyncio.sleep(0)
            ticks_meanwhile += clustering.is_set()

    monkeypatch.setattr(bot.intel, "cluster_jobs", watched)
    try:
        await bulk_index(backend.client, [doc for b in builds for doc in build_documents(b)])
        stop = asyncio.Event()
        watch = asyncio.create_task(ticker(stop))
        report = await find_clusters(backend, [], days=10, queue="gate", verify=False)
        stop.set()
        await watch
    finally:
        await backend.close()
    assert report.uncategorized >= 1900  # the work was really done
    assert len(report.clusters) >= 30
    assert ran_on
    assert all(thread is not loop_thread for thread in ran_on)
    assert ticks_meanwhile > 0  # the loop served another task while the clustering ran
