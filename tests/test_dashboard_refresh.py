"""``!refresh full``: the command's argument, the refresher waiting for a run in flight before a
full one, and the dashboard builder asking for every hour again on the real server."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from pathlib import Path

from bot.dashboard.build import DashboardBuilder
from bot.dashboard.incremental import GraphCache
from bot.dashboard.scheduler import DashboardRefresher
from bot.search.opensearch import OpenSearchBackend
from tests.support.chat import OPS, ChatHarness
from tests.support.graph import QUERIES, index_graph_data


class RecordingBuilder:
    """Records, per build, whether it asked for every hour; each build takes ``delay``."""

    parts = ("all",)

    def __init__(self, delay: float = 0.2) -> None:
        self.delay = delay
        self.pending: set[str] = set()
        self.builds: list[bool] = []

    def recompute(self, parts: Collection[str]) -> None:
        self.pending.update(parts)

    async def build_part(self, part: str) -> Mapping[str, int]:
        full = part in self.pending
        self.pending.discard(part)
        self.builds.append(full)
        await asyncio.sleep(self.delay)
        return {"bugs": len(self.builds)}


async def test_refresh_full_is_passed_on(chat: ChatHarness) -> None:
    replies = await chat.run_command("!refresh full", user=OPS)
    assert replies[0] == "refreshing every hour of the dashboard; I will say when it is done"
    assert replies[-1].startswith("dashboard refreshed")
    assert chat.services.full_refreshes == 1
    await chat.run_command("!refresh", user=OPS)
    assert (chat.services.refreshes, chat.services.full_refreshes) == (2, 1)


async def test_refresh_refuses_other_arguments(chat: ChatHarness) -> None:
    assert await chat.run_command("!refresh everything", user=OPS) == ["usage: !refresh [full]"]
    assert chat.services.refreshes == 0


async def test_a_full_refresh_waits_for_the_run_in_flight_and_runs_again() -> None:
    builder = RecordingBuilder()
    refresher = DashboardRefresher(builder)
    running = asyncio.create_task(refresher.refresh())
    await asyncio.sleep(0.05)  # the incremental run is in flight
    full = await refresher.refresh(full=True)
    await running
    assert builder.builds == [False, True]
    assert full["all"].counts == {"bugs": 2}  # the full run's own result
    joined = await asyncio.gather(refresher.refresh(), refresher.refresh())
    assert builder.builds == [False, True, False]  # plain refreshes still share one run
    assert joined[0]["all"] is joined[1]["all"]
    await refresher.close()


async def test_the_builder_asks_every_hour_again_on_a_full_refresh(
    search: OpenSearchBackend, tmp_path: Path
) -> None:
    await index_graph_data(search)
    cache = GraphCache()
    builder = DashboardBuilder(tmp_path / "site", search, lambda: QUERIES, cache=cache)
    refresher = DashboardRefresher(builder)
    await refresher.refresh("all")
    await refresher.refresh("all")
    assert cache.last_plan["all"].kept is not None  # the second kept the settled hours
    status = await refresher.refresh("all", full=True)
    assert status["all"].ok
    assert cache.last_plan["all"].kept is None
    await refresher.refresh("gate", full=False)
    assert cache.last_plan["gate"].kept is None  # its first: every hour
    await refresher.refresh("gate")
    assert cache.last_plan["gate"].kept is not None
    await refresher.close()
