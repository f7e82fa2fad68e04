"""Reloading the query repo when it changes on disk, into the store every reader holds."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path

import pytest

from bot.queries import QueryRepo, load_queries
from bot.queries.reload import QueryWatcher
from bot.queries.store import QueryStore


def write_query(repo: Path, name: str, text: str, bump: int = 0) -> None:
    path = repo / f"{name}.yaml"
    path.write_text(text)
    if bump:  # a distinct mtime even on coarse file-system clocks
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump * 1_000_000_000))


async def test_query_repo_changes_are_picked_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_query(tmp_path, "1000001", 'query: message:"disk quota exceeded"\n')
    write_query(tmp_path, "1000002", 'query: message:"mirror unreachable"\n')
    store = QueryStore()
    watcher = QueryWatcher(tmp_path, store)
    assert await watcher.load() == 2
    assert not await watcher.check()
    write_query(tmp_path, "1000002", 'query: message:"mirror gone"\n', bump=5)
    write_query(tmp_path, "1000003", "query: message:new\nallow-nonvoting: true\n")
    write_query(tmp_path, "1000004", "query: message:(unbalanced\n")
    with caplog.at_level(logging.WARNING, logger="bot.queries.reload"):
        assert await watcher.check()
    assert sorted(store.by_id) == ["1000001", "1000002", "1000003"]
    assert store.by_id["1000002"].lucene == 'message:"mirror gone"'
    assert store.by_id["1000003"].allow_nonvoting
    assert "1000004" in caplog.text
    (tmp_path / "1000001.yaml").unlink()
    assert await watcher.check()
    assert sorted(store.by_id) == ["1000002", "1000003"]


async def test_a_vanished_repo_keeps_the_queries(tmp_path: Path) -> None:
    repo = tmp_path / "queries"
    repo.mkdir()
    write_query(repo, "1000001", 'query: message:"disk quota exceeded"\n')
    store = QueryStore()
    watcher = QueryWatcher(repo, store)
    await watcher.load()
    shutil.rmtree(repo)
    await watcher.check()
    assert list(store.by_id) == ["1000001"]
    repo.mkdir()
    assert await watcher.check()  # an empty repo that exists is taken at its word
    assert len(store) == 0


async def test_a_single_file_repo_is_watched_too(tmp_path: Path) -> None:
    write_query(tmp_path, "1000001", "query: message:one\n")
    store = QueryStore()
    watcher = QueryWatcher(tmp_path / "1000001.yaml", store)
    assert await watcher.load() == 1
    write_query(tmp_path, "1000001", "query: message:uno\n", bump=1)
    assert await watcher.check()
    assert store.by_id["1000001"].lucene == "message:uno"


async def test_watch_loop_reloads_between_sleeps(tmp_path: Path) -> None:
    write_query(tmp_path, "1000001", "query: message:one\n")
    store = QueryStore()
    naps: list[float] = []

    async def nap(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 2:
            write_query(tmp_path, "1000002", "query: message:two\n", bump=1)
        if len(naps) == 4:
            raise asyncio.CancelledError

    watcher = QueryWatcher(tmp_path, store, interval=7.0, sleep=nap)
    with pytest.raises(asyncio.CancelledError):
        await watcher.run()
    assert naps == [7.0] * 4
    assert sorted(store.by_id) == ["1000001", "1000002"]
    assert watcher.reloads == 2


async def test_a_loader_crash_keeps_the_queries(tmp_path: Path) -> None:
    write_query(tmp_path, "1000001", "query: message:one\n")
    store = QueryStore()
    calls = 0

    def loader(path: Path) -> QueryRepo:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise RuntimeError("boom")
        return load_queries(path)

    watcher = QueryWatcher(tmp_path, store, loader=loader)
    await watcher.load()
    write_query(tmp_path, "1000002", "query: message:two\n", bump=1)
    assert await watcher.check()
    assert list(store.by_id) == ["1000001"]
