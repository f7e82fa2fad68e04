"""The weekly bug comment from the running bot: started after this week's scheduled time, it
catches up and comments once on the bug (the Launchpad stand-in); started again the same week,
it writes nothing (the journal); in a dry run it writes nothing at all."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app.process import App
from bot.config import SearchSettings
from bot.config.digest import DAYS
from tests.support.botproc import journal
from tests.support.scenario import Scenario, scenario
from tests.support.trackers import TrackerStandIn

BUG = "launchpad:1541364"


@pytest.fixture
async def run(tmp_path: Path, search_settings: SearchSettings) -> AsyncIterator[Scenario]:
    async with scenario(tmp_path, search_settings.url) as started:
        yield started


@pytest.fixture
async def standin() -> AsyncIterator[TrackerStandIn]:
    async with TrackerStandIn(launchpad_token="tok", launchpad_secret="sec") as trackers:
        trackers.add_launchpad("1541364", "apt repos", [("nova", "Confirmed", None)])
        yield trackers


def an_hour_ago() -> str:
    """A weekly schedule whose last time was an hour ago: the bot catches up at start."""
    due = datetime.now(UTC) - timedelta(hours=1)
    return f"{DAYS[due.weekday()]} {due:%H:%M}"


async def configure(run: Scenario, standin: TrackerStandIn, *, dry_run: bool) -> None:
    failed = run.buildset("openstack/nova", "tempest-full-py3", "1541364")
    await run.index_logs(failed)
    comments: dict[str, Any] = {
        "trackers": ["launchpad"],
        "dry_run": dry_run,
        "schedule": an_hour_ago(),
    }
    # A channel only because the routing file needs one: this bot runs no chat network.
    run.channels = {"openstack-nova": {"projects": ["nova"], "events": ["positive"]}}
    run.extra = {
        "trackers": standin.settings().model_dump(),
        "feedback": {"comments": comments},
    }


async def logged(caplog: pytest.LogCaptureFixture, pattern: str, count: int = 1) -> None:
    """Until the bot logged ``count`` lines matching ``pattern`` (its scheduler's job logs)."""
    async with asyncio.timeout(60):
        # Polling, not an Event: the bot's scheduler job writes the log.
        while sum(bool(re.search(pattern, r.getMessage())) for r in caplog.records) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_the_bot_comments_once_a_week_across_a_restart(
    run: Scenario, standin: TrackerStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.lifecycle")
    await configure(run, standin, dry_run=False)
    app = await run.start()
    assert app.parts is not None
    await logged(caplog, rf"^feedback \d{{4}}-W\d\d: {BUG} posted$")
    (text,) = standin.writes.texts(BUG)
    assert "- 1 failed build in 1 change" in text
    assert f"{app.parts.dashboard_url}/bug/1541364" in text
    await run.stop()

    again = App(run.settings(), announce=lambda line: None)
    stop = asyncio.Event()
    running = asyncio.create_task(again.run(stop))
    await logged(caplog, rf"^feedback \d{{4}}-W\d\d: {BUG} already$")
    stop.set()
    await running
    assert standin.writes.texts(BUG) == [text]
    assert len(standin.writes.writes()) == 1


async def test_a_dry_run_of_the_bot_writes_nothing(
    run: Scenario, standin: TrackerStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.lifecycle")
    await configure(run, standin, dry_run=True)
    await run.start()
    await logged(caplog, rf"^feedback \d{{4}}-W\d\d: {BUG} dry-run$")
    await run.stop()
    assert any(
        r.getMessage().startswith("feedback (dry run) on launchpad 1541364:\n")
        for r in caplog.records
    )
    assert standin.writes.writes() == []
    assert journal(run.workdir / "state.sqlite", "SELECT COUNT(*) FROM feedback_comments") == [(0,)]
