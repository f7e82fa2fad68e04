"""The dashboard refresher: no overlap, coalesced refreshes, failures keep the last good files."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path

import pytest

from bot.config import SearchSettings
from bot.core.metrics import format_metrics
from bot.dashboard.build import DashboardBuilder, write_files
from bot.dashboard.scheduler import DashboardRefresher, refresher_metrics
from bot.queries import Query
from bot.search.base import SearchUnavailable
from bot.search.opensearch import OpenSearchBackend
from tests.support.graph import QUERIES, index_graph_data


class SlowBuilder:
    """Counts builds and how many ran at once; ``fail`` makes builds raise."""

    def __init__(self, delay: float = 0.2, parts: tuple[str, ...] = ("all", "gate")) -> None:
        self.parts = parts
        self.delay = delay
        self.calls: dict[str, int] = dict.fromkeys(parts, 0)
        self.running = 0
        self.peak = 0
        self.fail: Exception | None = None

    async def build_part(self, part: str) -> Mapping[str, int]:
        self.calls[part] += 1
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(self.delay)
            if self.fail is not None:
                raise self.fail
            return {"bugs": self.calls[part]}
        finally:
            self.running -= 1


async def test_concurrent_refreshes_share_one_build() -> None:
    builder = SlowBuilder(parts=("all",))
    refresher = DashboardRefresher(builder)
    first, second = await asyncio.gather(refresher.refresh(), refresher.refresh())
    assert builder.calls == {"all": 1}
    assert first["all"] is second["all"]  # the very same run's result
    assert first["all"].ok
    assert first["all"].counts == {"bugs": 1}
    await refresher.refresh()
    assert builder.calls == {"all": 2}
    await refresher.close()


async def test_a_caller_giving_up_does_not_cancel_the_run() -> None:
    builder = SlowBuilder(parts=("all",))
    refresher = DashboardRefresher(builder)
    impatient = asyncio.create_task(refresher.refresh())
    patient = asyncio.create_task(refresher.refresh())
    await asyncio.sleep(0.05)
    impatient.cancel()
    result = await patient
    assert result["all"].ok
    assert builder.calls == {"all": 1}


async def test_schedule_never_overlaps_a_slow_build() -> None:
    builder = SlowBuilder(delay=0.5)
    refresher = DashboardRefresher(builder, refresh_minutes=0.1 / 60)  # every 0.1 s
    await refresher.start()
    try:
        await asyncio.sleep(1.3)
        manual = await refresher.refresh()
    finally:
        await refresher.close()
    assert builder.peak <= len(builder.parts)  # at most one run per part at a time
    assert 2 <= builder.calls["all"] <= 4
    assert manual["all"].ok
    assert refresher.status["gate"].runs == builder.calls["gate"]


async def test_failures_are_logged_once_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    builder = SlowBuilder(delay=0.01, parts=("all",))
    refresher = DashboardRefresher(builder)
    await refresher.refresh()
    builder.fail = OSError(28, "No space left on device", "/srv/dashboard/index.html")
    with caplog.at_level(logging.INFO, logger="bot.dashboard.scheduler"):
        for _ in range(3):
            await refresher.refresh()
        builder.fail = None
        await refresher.refresh()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "No space left on device: '/srv/dashboard/index.html'" in warnings[0].getMessage()
    assert any("works again" in r.getMessage() for r in caplog.records)
    status = refresher.status["all"]
    assert (status.ok, status.runs, status.failures) == (True, 5, 3)
    metrics = format_metrics(refresher_metrics(refresher.status))
    assert 'recheckbot_dashboard_runs_total{part="all",result="error"} 3' in metrics
    assert 'recheckbot_dashboard_last_run_ok{part="all"} 1' in metrics
    assert 'recheckbot_dashboard_items{part="all",item="bugs"} 5' in metrics
    # Timestamps keep every digit (a %g format once rounded them to six).
    started = repr(status.started.timestamp()) if status.started else ""
    assert f'recheckbot_dashboard_last_run_timestamp_seconds{{part="all"}} {started}' in metrics


class DownBackend:
    name = "down"

    async def search(self, body: object, *, index: str | None = None) -> dict[str, object]:
        raise SearchUnavailable("search server http://es:9200 unreachable: refused")

    async def msearch(self, bodies: object, *, index: str | None = None) -> list[object]:
        raise SearchUnavailable("down")

    async def health(self) -> dict[str, object]:
        raise SearchUnavailable("down")

    async def close(self) -> None:
        return None


async def test_failed_refresh_keeps_the_last_good_files(
    search_settings: SearchSettings, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    backend = OpenSearchBackend(search_settings)
    await index_graph_data(backend)
    queries: tuple[Query, ...] = QUERIES
    builder = DashboardBuilder(site, backend, lambda: queries)
    refresher = DashboardRefresher(builder)
    try:
        first = await refresher.refresh()
        assert all(s.ok for s in first.values())
        good = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
        assert {p.name for p in good} >= {"index.html", "all.json", "uncategorized.html"}

        builder.backend = DownBackend()  # the search server goes away
        failed = await refresher.refresh()
        assert not any(s.ok for s in failed.values())
        assert "unreachable" in (failed["all"].error or "")

        builder.backend = backend  # back, but the disk "fills": data/ can't be written
        (site / "data").rename(site / "data.bak")
        (site / "data").write_text("not a directory")
        failed = await refresher.refresh("all")
        assert failed["all"].ok is False
        assert "exists" in (failed["all"].error or "")
        assert (site / "index.html").read_bytes() == good[site / "index.html"]
        assert not list(site.glob(".*.tmp"))  # no temp files left behind
    finally:
        await refresher.close()
        await backend.close()


def test_write_files_is_all_or_nothing(tmp_path: Path) -> None:
    write_files(tmp_path, {"a.html": b"old a", "b/c.json": b"old c"})
    (tmp_path / "d").write_text("a file where a directory should be")
    with pytest.raises(FileExistsError):
        write_files(tmp_path, {"a.html": b"new a", "d/e.json": b"new e"})
    assert (tmp_path / "a.html").read_bytes() == b"old a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.html", "b", "d"]
    assert oct((tmp_path / "a.html").stat().st_mode & 0o777) == "0o644"


async def test_a_hung_part_times_out() -> None:
    builder = SlowBuilder(delay=5, parts=("all",))
    refresher = DashboardRefresher(builder, part_timeout=0.1)
    result = await refresher.refresh()
    assert (result["all"].ok, result["all"].error) == (False, "timed out")
    assert builder.running == 0  # the build was cancelled, not left behind


async def test_close_cancels_a_scheduled_run_quietly(caplog: pytest.LogCaptureFixture) -> None:
    builder = SlowBuilder(delay=5, parts=("all",))
    refresher = DashboardRefresher(builder)
    await refresher.start()
    await asyncio.sleep(0.2)
    assert builder.running == 1
    with caplog.at_level(logging.WARNING):
        await refresher.close()
        await asyncio.sleep(0.05)
    assert builder.running == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
