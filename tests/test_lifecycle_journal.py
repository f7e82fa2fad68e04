"""The journal of the bot's writes to the trackers (bot.state.lifecycle) and when they run
(bot.lifecycle.schedule): claims that hold across a reopen, what pruning keeps, the weekly
schedule's last time and the catch-up at start."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.config.digest import parse_weekly
from bot.lifecycle.feedback import FeedbackRun
from bot.lifecycle.schedule import LifecycleSchedule, last_due, week_label
from bot.state import StateStore
from bot.state.lifecycle import KEEP


async def test_claims_hold_across_a_reopen_and_only_a_refused_claim_is_released(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.sqlite"
    state = await StateStore.open(path)
    assert await state.claim_comment("launchpad:1", "2026-W10", 1.0)
    assert not await state.claim_comment("launchpad:1", "2026-W10", 2.0)
    assert await state.claim_cluster("c-3f9a2b", 1.0)
    await state.settle_cluster("c-3f9a2b", "filed", 3.0, bug="github:o/r#5", url="https://x/5")
    await state.close()

    state = await StateStore.open(path)
    assert not await state.claim_comment("launchpad:1", "2026-W10", 4.0)
    assert not await state.claim_cluster("c-3f9a2b", 4.0)
    await state.release_cluster("c-3f9a2b")  # filed: stays
    row = await state.filed("c-3f9a2b")
    assert row is not None
    assert (row.state, row.bug, row.url) == ("filed", "github:o/r#5", "https://x/5")
    await state.release_comment("launchpad:1", "2026-W10")  # still "posting": goes
    assert await state.comment_row("launchpad:1", "2026-W10") is None
    await state.close()


async def test_pruning_keeps_each_bugs_latest_comment(tmp_path: Path) -> None:
    state = await StateStore.open(tmp_path / "state.sqlite")
    old = time.time() - KEEP - 86400
    for week, at in (("2025-W01", old - 1000), ("2025-W02", old)):
        await state.claim_comment("jira:A-1", week, at)
        await state.settle_comment("jira:A-1", week, "posted", at, comment="101")
    await state.claim_comment("jira:A-2", "2025-W02", old)
    await state.settle_comment("jira:A-2", "2025-W02", "given-up", old, reason="HTTP 401")
    await state.claim_cluster("c-1", old)
    await state.prune(30 * 86400)
    assert await state.comment_row("jira:A-1", "2025-W01") is None
    kept = await state.last_comment("jira:A-1")
    assert kept is not None
    assert (kept.week, kept.comment) == ("2025-W02", "101")  # next week edits it
    assert await state.comment_row("jira:A-2", "2025-W02") is None
    assert await state.filed("c-1") is not None  # never filed twice, however old
    await state.close()


async def test_a_journal_from_before_gets_the_tables(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    await (await StateStore.open(path)).close()
    conn = sqlite3.connect(path)
    conn.executescript("DROP TABLE feedback_comments; DROP TABLE filed_clusters;")
    conn.close()
    state = await StateStore.open(path)
    assert await state.claim_comment("launchpad:1", "2026-W10", 1.0)
    assert await state.filed_rows() == []
    await state.close()


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (datetime(2026, 3, 2, 10, 0, tzinfo=UTC), datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),
        (datetime(2026, 3, 2, 9, 59, tzinfo=UTC), datetime(2026, 2, 23, 10, 0, tzinfo=UTC)),
        (datetime(2026, 3, 8, 23, 0, tzinfo=UTC), datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),
    ],
)
def test_the_last_scheduled_time(now: datetime, due: datetime) -> None:
    assert last_due(parse_weekly("mon 10:00"), now) == due


def test_week_labels_are_iso_weeks() -> None:
    assert week_label(datetime(2026, 3, 2, tzinfo=UTC)) == "2026-W10"
    assert week_label(datetime(2027, 1, 1, tzinfo=UTC)) == "2026-W53"


class Recorder:
    """Stands in for the Commenter: records the weeks it was run for."""

    def __init__(self, schedule: str) -> None:
        self.settings = SimpleNamespace(schedule=schedule)
        self.weeks: list[str] = []
        self.ran = asyncio.Event()

    async def run(self, week: str, now: float) -> FeedbackRun:
        self.weeks.append(week)
        self.ran.set()
        return FeedbackRun()


def weekly_at(when: datetime) -> str:
    return f"{('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')[when.weekday()]} {when:%H:%M}"


async def test_a_bot_started_soon_after_the_scheduled_time_catches_up() -> None:
    now = datetime.now(UTC)
    recorder = Recorder(weekly_at(now - timedelta(hours=3)))
    schedule = LifecycleSchedule(commenter=recorder)  # type: ignore[arg-type]
    await schedule.start(now=now)
    async with asyncio.timeout(10):
        await recorder.ran.wait()
    await schedule.close()
    due = last_due(parse_weekly(recorder.settings.schedule), now)
    assert recorder.weeks == [week_label(due)]


async def test_a_bot_started_days_later_waits_for_the_next_time() -> None:
    now = datetime.now(UTC)
    recorder: Any = Recorder(weekly_at(now - timedelta(days=3)))
    schedule = LifecycleSchedule(commenter=recorder)
    await schedule.start(now=now)
    jobs = [job.id for job in schedule._scheduler.get_jobs()]  # type: ignore[union-attr]
    await schedule.close()
    assert jobs == ["feedback-comments"]
    assert recorder.weeks == []
