"""Dashboard refresh inside the bot: apscheduler jobs, on-demand refresh, last-run status.

Each dashboard part (graph all, graph gate, uncategorized) is one job, run every
``refresh_minutes``. A part never runs twice at once: a scheduled tick or a ``!refresh`` that
arrives while it runs joins the run in flight and gets its result; a ``!refresh full`` waits for
it and runs again, asking for every hour. A failure is logged once (again only when the reason
changes), the part's last good files stay, and the status says why.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Generic, Protocol, TypeVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.core.errors import describe
from bot.core.metrics import Metric, Sample

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds a scheduled run may start late (a busy loop, a suspended laptop) and still run.
MISFIRE_GRACE = 300
#: Seconds one part may take before it is abandoned (each request has its own timeout too).
PART_TIMEOUT = 900.0


class Builder(Protocol):
    """What the refresher drives (:class:`bot.dashboard.build.DashboardBuilder`)."""

    parts: tuple[str, ...]

    async def build_part(self, part: str) -> Mapping[str, int]: ...

    def recompute(self, parts: Collection[str]) -> None:
        """The next build of each of ``parts`` asks for every hour again."""
        ...


@dataclass(frozen=True)
class RunStatus:
    """The last run of one part, for ``!status`` and ``/metrics``."""

    part: str
    started: datetime | None = None
    duration: float = 0.0
    ok: bool | None = None  # None: never ran
    error: str | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    last_success: datetime | None = None
    runs: int = 0
    failures: int = 0

    def failed(self, started: datetime, duration: float, error: str) -> RunStatus:
        """This part after one more run, which failed: its last good counts stay."""
        return replace(
            self,
            started=started,
            duration=duration,
            ok=False,
            error=error,
            runs=self.runs + 1,
            failures=self.failures + 1,
        )

    def succeeded(self, started: datetime, duration: float, counts: Mapping[str, int]) -> RunStatus:
        """This part after one more run, which wrote its files."""
        return replace(
            self,
            started=started,
            duration=duration,
            ok=True,
            error=None,
            counts=dict(counts),
            last_success=started,
            runs=self.runs + 1,
        )


class Coalescer(Generic[T]):
    """Runs ``func`` once at a time; callers arriving during a run share its result."""

    def __init__(self, func: Callable[[], Awaitable[T]]) -> None:
        self._func = func
        self._task: asyncio.Task[T] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def run(self) -> T:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._func())
        # shield: a caller that gives up (a chat command timing out) must not cancel the
        # run the others wait for.
        return await asyncio.shield(self._task)

    async def finish(self) -> None:
        """Wait until the run in flight, if any, is over (its outcome is its callers')."""
        if self._task is not None and not self._task.done():
            await asyncio.wait({self._task})

    async def cancel(self) -> None:
        if self.running:
            assert self._task is not None
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class DashboardRefresher:
    """Owns the dashboard builder and its schedule: ``start()``, ``refresh()``, ``status``."""

    def __init__(
        self,
        builder: Builder,
        *,
        refresh_minutes: float = 30,
        part_timeout: float = PART_TIMEOUT,
    ) -> None:
        self.builder = builder
        self.refresh_minutes = refresh_minutes
        self.part_timeout = part_timeout
        self._closing = False
        self._status = {part: RunStatus(part) for part in builder.parts}
        self._runs = {part: Coalescer(self._runner(part)) for part in builder.parts}
        self._scheduler: AsyncIOScheduler | None = None
        self._first: asyncio.Task[None] | None = None

    @property
    def status(self) -> Mapping[str, RunStatus]:
        """The last run of every part."""
        return dict(self._status)

    async def start(self, *, run_now: bool = True) -> None:
        """Schedule every part; with ``run_now`` the first runs start right away, one part
        after the other in the builder's order (the list page first)."""
        scheduler = AsyncIOScheduler(timezone=UTC)
        for part in self.builder.parts:
            scheduler.add_job(
                self._scheduled,
                IntervalTrigger(minutes=self.refresh_minutes, timezone=UTC),
                args=[part],
                id=f"dashboard-{part}",
                name=f"dashboard {part}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=MISFIRE_GRACE,
            )
        scheduler.start()
        self._scheduler = scheduler
        if run_now:
            self._first = asyncio.create_task(self._first_runs())

    async def _first_runs(self) -> None:
        # In turn, not at once: the first runs ask for every hour, and run together each took
        # as long as all of them (the demo's 1,000 queries: the list page after 50 s, not 20).
        for part in self.builder.parts:
            if self._closing:
                return
            await self._scheduled(part)

    async def refresh(self, part: str | None = None, *, full: bool = False) -> dict[str, RunStatus]:
        """Refresh now (``!refresh``): every part, or one; joins runs already in flight. With
        ``full`` (``!refresh full``) every hour is asked again: a run in flight, which asks only
        for the newer hours, is waited for and followed by a full one."""
        parts = [part] if part else list(self.builder.parts)
        unknown = [p for p in parts if p not in self._runs]
        if unknown:
            raise ValueError(f"unknown dashboard part {unknown[0]!r}")
        if full:
            self.builder.recompute(parts)
            await asyncio.gather(*(self._runs[p].finish() for p in parts))
        results = await asyncio.gather(*(self._runs[p].run() for p in parts))
        return dict(zip(parts, results, strict=True))

    async def close(self) -> None:
        self._closing = True
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None
        if self._first is not None:
            self._first.cancel()
            await asyncio.gather(self._first, return_exceptions=True)
        await asyncio.gather(*(run.cancel() for run in self._runs.values()))

    async def _scheduled(self, part: str) -> None:
        try:
            await self._runs[part].run()
        except asyncio.CancelledError:
            if not self._closing:
                raise
            # Shutting down cancelled the run: not an error worth apscheduler's traceback.

    def _runner(self, part: str) -> Callable[[], Awaitable[RunStatus]]:
        async def run() -> RunStatus:
            return await self._run(part)

        return run

    async def _run(self, part: str) -> RunStatus:
        before = self._status[part]
        started = datetime.now(UTC)
        clock = time.monotonic()
        try:
            counts = await asyncio.wait_for(self.builder.build_part(part), self.part_timeout)
        except Exception as exc:
            reason = describe(exc)
            if reason != before.error:
                log.warning(
                    "dashboard %s: refresh failed, keeping the last good files: %s", part, reason
                )
            else:
                log.debug("dashboard %s: refresh failed again: %s", part, reason)
            status = before.failed(started, time.monotonic() - clock, reason)
        else:
            if before.ok is False:
                log.info("dashboard %s: refresh works again", part)
            status = before.succeeded(started, time.monotonic() - clock, counts)
        self._status[part] = status
        return status


def refresher_metrics(statuses: Mapping[str, RunStatus]) -> list[Metric]:
    """What ``/metrics`` shows of the refresher: last run time, duration, result, counts."""
    done = [s for s in statuses.values() if s.started is not None]

    def per_part(values: Iterable[tuple[RunStatus, float]]) -> tuple[Sample, ...]:
        return tuple(({"part": s.part}, value) for s, value in values)

    runs = [
        ({"part": s.part, "result": result}, float(n))
        for s in statuses.values()
        for result, n in (("ok", s.runs - s.failures), ("error", s.failures))
    ]
    items = [({"part": s.part, "item": k}, float(v)) for s in done for k, v in s.counts.items()]
    return [
        Metric(
            "recheckbot_dashboard_last_run_timestamp_seconds",
            "When the last refresh of a dashboard part started.",
            "gauge",
            per_part((s, _ts(s.started)) for s in done),
        ),
        Metric(
            "recheckbot_dashboard_last_run_duration_seconds",
            "How long the last refresh took.",
            "gauge",
            per_part((s, s.duration) for s in done),
        ),
        Metric(
            "recheckbot_dashboard_last_run_ok",
            "1 if the last refresh worked.",
            "gauge",
            per_part((s, 1.0 if s.ok else 0.0) for s in done),
        ),
        Metric(
            "recheckbot_dashboard_last_success_timestamp_seconds",
            "When the files of a part were last written.",
            "gauge",
            per_part((s, _ts(s.last_success)) for s in done if s.last_success),
        ),
        Metric("recheckbot_dashboard_runs_total", "Refreshes run, by result.", "counter", runs),
        Metric("recheckbot_dashboard_items", "What the last good refresh counted.", "gauge", items),
    ]


def _ts(when: datetime | None) -> float:
    return when.timestamp() if when else 0.0
