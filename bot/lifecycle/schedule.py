"""When the bot writes to the trackers: apscheduler jobs, as the dashboard refresh runs.

* The weekly comments (:mod:`bot.lifecycle.feedback`) at ``feedback.comments.schedule`` (a cron
  trigger, UTC); at start too when the bot was down at the last scheduled time and it is less
  than :data:`CATCH_UP` ago; and once more after a tracker asked us to wait (a rate limit). The
  week's journal rows make every run after the first skip what it did.
* The look for clusters to file a bug for (:mod:`bot.lifecycle.filing`) every
  ``feedback.filing.interval_minutes``, the first at start.

A job never runs twice at once (``max_instances=1``); a failed run is logged and the next one
tries again.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.config.digest import Weekly, parse_weekly
from bot.core.errors import describe
from bot.lifecycle.feedback import Commenter
from bot.lifecycle.filing import Filer

log = logging.getLogger(__name__)

#: Seconds after the scheduled time in which a bot that was down still writes the week's comments.
CATCH_UP = 2 * 86_400.0
#: Seconds a scheduled run may start late and still run.
MISFIRE_GRACE = 3600


def week_label(when: datetime) -> str:
    """The ISO week ``when`` falls in: ``2026-W22``."""
    year, week, _ = when.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def weekly_trigger(weekly: Weekly) -> CronTrigger:
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[weekly.weekday]
    return CronTrigger(day_of_week=day, hour=weekly.hour, minute=weekly.minute, timezone=UTC)


def last_due(weekly: Weekly, now: datetime) -> datetime:
    """The latest scheduled time at or before ``now``."""
    found: datetime = weekly_trigger(weekly).get_next_fire_time(
        None, now - timedelta(days=7, seconds=-1)
    )
    return found if found <= now else found - timedelta(days=7)


class LifecycleSchedule:
    """Owns the feedback jobs: ``start()``, ``close()``."""

    def __init__(self, *, commenter: Commenter | None = None, filer: Filer | None = None) -> None:
        self.commenter = commenter
        self.filer = filer
        self._scheduler: AsyncIOScheduler | None = None

    async def start(self, *, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        scheduler = self._scheduler = AsyncIOScheduler(timezone=UTC)
        if self.commenter is not None:
            weekly = parse_weekly(self.commenter.settings.schedule)
            scheduler.add_job(
                self._comment_now,
                weekly_trigger(weekly),
                id="feedback-comments",
                name="weekly bug comments",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=MISFIRE_GRACE,
            )
            due = last_due(weekly, now)
            if (now - due).total_seconds() <= CATCH_UP:
                scheduler.add_job(
                    self._comments,
                    "date",
                    run_date=now,
                    args=[due],
                    id="feedback-catch-up",
                    misfire_grace_time=MISFIRE_GRACE,
                )
        if self.filer is not None:
            scheduler.add_job(
                self._file,
                IntervalTrigger(minutes=self.filer.settings.interval_minutes, timezone=UTC),
                id="feedback-filing",
                name="bugs for new clusters",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=MISFIRE_GRACE,
                next_run_time=now,
            )
        scheduler.start()

    async def close(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None

    async def _comment_now(self) -> None:
        await self._comments(datetime.now(UTC))

    async def _comments(self, due: datetime) -> None:
        assert self.commenter is not None
        week = week_label(due)
        try:
            run = await self.commenter.run(week, time.time())
        except Exception as exc:  # the search server, the journal: the next run tries again
            log.warning("feedback %s: %s", week, describe(exc))
            return
        if run.results:
            log.info(
                "feedback %s: %s",
                week,
                ", ".join(f"{k} {v}" for k, v in sorted(run.results.items())),
            )
        if run.retry_after is not None and self._scheduler is not None:
            when = datetime.now(UTC) + timedelta(seconds=run.retry_after)
            self._scheduler.add_job(
                self._comments,
                "date",
                run_date=when,
                args=[due],
                id="feedback-retry",
                replace_existing=True,
                misfire_grace_time=MISFIRE_GRACE,
            )

    async def _file(self) -> None:
        assert self.filer is not None
        try:
            run = await self.filer.run(time.time())
        except Exception as exc:
            log.warning("filing: %s", describe(exc))
            return
        if run.results:
            log.info("filing: %s", ", ".join(f"{k} {v}" for k, v in sorted(run.results.items())))
