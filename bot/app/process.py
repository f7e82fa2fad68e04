"""The watch-bot process: the one place that builds clients and wires the parts together.

sources → parse → pipeline (journal, readiness, classify) → routing → transports; chat from
the transports → dispatcher; the dashboard refreshed by the scheduler and served with
``/healthz`` and ``/metrics``. SIGTERM / SIGINT stop intake, let in-flight builds finish for a
grace period, and leave the rest journaled for the next start.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import time
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import replace
from typing import Any

from bot.app.wiring import build_sources, build_transports, start_chat
from bot.config import Settings
from bot.core.logs import install_secret_masking
from bot.core.metrics import Metric, format_metrics, gauge
from bot.dashboard.build import DashboardBuilder
from bot.dashboard.scheduler import DashboardRefresher
from bot.dashboard.scheduler import format_metrics as dashboard_metrics
from bot.dashboard.server import DashboardServer
from bot.events.model import FailedBuild
from bot.events.parse import Skip, parse_event
from bot.events.source import EventSource, RawEvent
from bot.events.zuul_mqtt import parse_mqtt_message
from bot.queries import Query, load_queries
from bot.reporters.gerrit import GerritReporters
from bot.search import SearchBackend, open_backend
from bot.search.breaker import CircuitBreaker, GuardedBackend
from bot.state import StateStore
from bot.trackers.client import TrackerClient
from bot.transports.base import Transport
from bot.watch.classify import Classifier
from bot.watch.delivery import TransportOutlet
from bot.watch.judging import make_judge
from bot.watch.pipeline import Limits, Pipeline
from bot.watch.querywatch import QueryWatcher
from bot.watch.readiness import ReadinessMonitor
from bot.watch.returned import watch_returned
from bot.watch.routing import Routing, load_channels

log = logging.getLogger(__name__)

#: Seconds in-flight builds get to finish on shutdown before they are left to the journal.
SHUTDOWN_GRACE = 10.0
#: Seconds between prunes of the journal (the first runs at start).
PRUNE_INTERVAL = 86400.0


def to_failed_build(raw: RawEvent, ci_accounts: list[str]) -> FailedBuild | Skip:
    """Parse a raw event of any source kind."""
    if raw.kind == "zuul-mqtt":
        return parse_mqtt_message(raw)
    return parse_event(raw, ci_accounts=ci_accounts)


class App:
    """The running bot; ``await App(settings).run(stop)`` until ``stop`` is set or a signal."""

    def __init__(self, settings: Settings, *, announce: Callable[[str], None] = print) -> None:
        self.settings = settings
        self._announce = announce
        self.started = time.time()
        self.events_received = 0
        self.last_event: dict[str, float] = {}
        self.transports: dict[str, Transport] = {}
        self.pipeline: Pipeline | None = None
        self.dashboard: DashboardServer | None = None
        self.refresher: DashboardRefresher | None = None
        self.backend: GuardedBackend | None = None
        self.dashboard_url: str | None = None
        self.sources: list[EventSource] = []
        self.trackers: TrackerClient | None = None
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or _signal_event()
        async with AsyncExitStack() as stack:
            # Before anything can log: secrets never reach a log record, whoever logs it.
            stack.callback(install_secret_masking(self.settings.masked_values()))
            await self._start(stack)
            self.ready.set()
            await stop.wait()
            log.info("stopping: letting in-flight builds finish for %.0fs", SHUTDOWN_GRACE)
            if self.pipeline:
                await self.pipeline.drain(SHUTDOWN_GRACE)

    async def _start(self, stack: AsyncExitStack) -> None:
        settings = self.settings
        backend = self.backend = _guarded(settings)
        stack.push_async_callback(backend.close)
        state = await StateStore.open(settings.state)
        stack.push_async_callback(state.close)
        # Closed after the transports (which flush what they hold), before the state store:
        # the delivery workers then journal what the transports confirmed on their way out.
        stack.push_async_callback(self._close_pipeline)
        classifier = Classifier()
        jira_browse = settings.trackers.jira.url.rstrip("/") + "/browse/"
        loader = functools.partial(load_queries, jira_browse=jira_browse)
        watcher = QueryWatcher(settings.queries, classifier, loader=loader)
        trackers = self.trackers = TrackerClient(settings.trackers, state)
        stack.push_async_callback(trackers.close)
        log.info("%d queries loaded from %s", await watcher.load(), settings.queries)
        routing = load_channels(settings.channels)
        monitor = ReadinessMonitor(backend)
        stack.push_async_callback(monitor.close)

        self.transports = await build_transports(settings, routing)
        for transport in self.transports.values():
            stack.push_async_callback(transport.close)

        dashboard_url = await self._start_dashboard(stack, backend, classifier, trackers)
        reviews = GerritReporters(settings.gerrit, routing.messages, state=state)
        self.pipeline = Pipeline(
            state=state,
            judge=make_judge(settings, classifier, backend, monitor, trackers),
            routing=routing,
            outlet=TransportOutlet(self.transports),
            uncategorized_url=settings.watch.uncategorized_url
            or f"{dashboard_url}/uncategorized.html",
            limits=_limits(settings),
            report=reviews.report,
        )
        tasks = _TaskGroup(stack)
        tasks.spawn("query-watch", watcher.run())
        tasks.spawn("journal prune", _prune(state, settings.watch.keep_days))
        tasks.spawn("returned bugs", self._watch_returned(backend, classifier, routing, trackers))
        for source, accounts in build_sources(settings):
            self.sources.append(source)
            tasks.spawn(f"source {source.name}", self._pump(source, accounts))
        dispatcher = start_chat(self, tasks.spawn, state, classifier)
        stack.push_async_callback(dispatcher.close)
        await self.pipeline.resume()

    async def _start_dashboard(
        self,
        stack: AsyncExitStack,
        backend: SearchBackend,
        classifier: Classifier,
        trackers: TrackerClient,
    ) -> str:
        """Schedule the dashboard builds and serve them; returns the dashboard's public URL."""
        settings = self.settings
        builder = DashboardBuilder(
            settings.dashboard.output,
            backend,
            lambda: classifier.queries.queries,
            kibana=settings.search.kibana_url,
            look_up=lambda query: trackers.describe(replace(query.bug, title=query.title)),
        )
        self.refresher = DashboardRefresher(
            builder, refresh_minutes=settings.dashboard.refresh_minutes
        )
        await self.refresher.start()
        stack.push_async_callback(self.refresher.close)
        self.dashboard = DashboardServer(
            settings.dashboard, health=self.health, metrics=self.metrics_text
        )
        await self.dashboard.start()
        stack.push_async_callback(self.dashboard.close)
        self._announce(f"dashboard: {self.dashboard.url}/")
        self.dashboard_url = (settings.dashboard.url or self.dashboard.url).rstrip("/")
        return self.dashboard_url

    async def _pump(self, source: EventSource, ci_accounts: list[str]) -> None:
        assert self.pipeline is not None
        async for raw in source.events():
            self.events_received += 1
            self.last_event[source.name] = time.time()
            result = to_failed_build(raw, ci_accounts)
            if isinstance(result, Skip):
                log.debug("%s: skipped event: %s", source.name, result.reason)
                continue
            log.info("%s: failed build %s", source.name, result.key)
            await self.pipeline.submit(result)

    async def _watch_returned(
        self,
        backend: SearchBackend,
        classifier: Classifier,
        routing: Routing,
        trackers: TrackerClient,
    ) -> None:
        assert self.pipeline is not None

        async def closed(query: Query) -> bool | None:
            details = await trackers.info(query.bug)
            return details.closed if details else None

        await watch_returned(
            backend,
            lambda: classifier.queries.queries,
            closed,
            routing,
            self.pipeline.rooms.deliver,
        )

    async def _close_pipeline(self) -> None:
        if self.pipeline is not None:
            await self.pipeline.close()

    def health(self) -> Mapping[str, Any]:
        transports = {name: t.health().connected for name, t in self.transports.items()}
        breaker = self.backend.breaker.status() if self.backend else None
        return {
            "ok": all(transports.values()),
            "uptime": round(time.time() - self.started),
            "transports": transports,
            "search": breaker.to_json() | {"status": breaker.describe()} if breaker else None,
            "events_received": self.events_received,
            "pending_builds": self.pipeline.pending if self.pipeline else 0,
        }

    def metrics_text(self) -> str:
        metrics: list[Metric] = [
            gauge("recheckbot_uptime_seconds", "Seconds since start", time.time() - self.started),
            Metric(
                "recheckbot_events_received_total",
                "Events received from all sources",
                "counter",
                (({}, self.events_received),),
            ),
            gauge(
                "recheckbot_pending_builds",
                "Builds being judged or announced",
                self.pipeline.pending if self.pipeline else 0,
            ),
            Metric(
                "recheckbot_transport_connected",
                "1 when the chat transport is connected",
                "gauge",
                tuple(
                    ({"transport": name}, float(t.health().connected))
                    for name, t in self.transports.items()
                ),
            ),
            gauge(
                "recheckbot_search_circuit_open",
                "1 while the search circuit breaker fails requests fast",
                float(bool(self.backend and self.backend.breaker.state == "open")),
            ),
        ]
        dashboard = dashboard_metrics(self.refresher.status) if self.refresher else ""
        return format_metrics(metrics) + dashboard


class _TaskGroup:
    """Background tasks owned by the app: logged when they die, cancelled on exit."""

    def __init__(self, stack: AsyncExitStack) -> None:
        self._tasks: list[asyncio.Task[None]] = []
        stack.push_async_callback(self._cancel)

    def spawn(self, name: str, coro: Any) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_log_end)
        self._tasks.append(task)

    async def _cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _log_end(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("%s stopped: %s", task.get_name(), exc, exc_info=exc)
    else:
        log.info("%s finished", task.get_name())


def _guarded(settings: Settings) -> GuardedBackend:
    """The search backend behind the bot-wide request cap and circuit breaker."""
    s = settings.search
    breaker = CircuitBreaker(failures=s.breaker_failures, cooldown=s.breaker_cooldown)
    return GuardedBackend(open_backend(s), breaker, max_concurrent=s.max_concurrent)


def _limits(settings: Settings) -> Limits:
    w = settings.watch
    return Limits(
        max_concurrent=w.max_concurrent,
        max_active=w.max_active,
        judge_retry_for=w.judge_retry_for,
        give_up_after=w.give_up_after,
    )


async def _prune(state: StateStore, keep_days: float) -> None:
    """Drop old journal rows now and then once a day; a failure is retried the next day."""
    while True:
        try:
            if dropped := await state.prune(keep_days * 86400):
                log.info("journal: pruned %d builds older than %g days", dropped, keep_days)
        except Exception as exc:  # disk trouble: the bot goes on, the journal grows a day more
            log.warning("journal: prune failed: %s", exc)
        await asyncio.sleep(PRUNE_INTERVAL)


def _signal_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


__all__ = ["App", "Routing", "to_failed_build"]
