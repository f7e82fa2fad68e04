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
from typing import Any

from bot.classify import Classifier, classify_when_ready
from bot.config import Settings
from bot.dashboard.build import DashboardBuilder
from bot.dashboard.server import DashboardServer
from bot.events.model import FailedBuild
from bot.events.parse import Skip, parse_event
from bot.events.source import EventSource, RawEvent
from bot.events.zuul_mqtt import parse_mqtt_message
from bot.metrics import Metric, format_metrics, gauge
from bot.pipeline import Outcome, Pipeline, outcome_of
from bot.queries import load_queries
from bot.querywatch import QueryWatcher
from bot.readiness import ReadinessMonitor
from bot.routing import Routing, load_channels
from bot.scheduler import DashboardRefresher
from bot.scheduler import format_metrics as dashboard_metrics
from bot.search import SearchBackend, open_backend
from bot.state import StateStore
from bot.trackers.client import TrackerClient
from bot.transports.base import Room, Text, Transport
from bot.wiring import build_sources, build_transports, start_chat

log = logging.getLogger(__name__)

#: Seconds in-flight builds get to finish on shutdown before they are left to the journal.
SHUTDOWN_GRACE = 10.0


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
        self.backend: SearchBackend | None = None
        self.dashboard_url: str | None = None
        self.source_names: list[str] = []
        self.trackers: TrackerClient | None = None
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or _signal_event()
        async with AsyncExitStack() as stack:
            await self._start(stack)
            self.ready.set()
            await stop.wait()
            log.info("stopping: letting in-flight builds finish for %.0fs", SHUTDOWN_GRACE)
            if self.pipeline:
                await self.pipeline.drain(SHUTDOWN_GRACE)

    async def _start(self, stack: AsyncExitStack) -> None:
        settings = self.settings
        backend = self.backend = open_backend(settings.search)
        stack.push_async_callback(backend.close)
        state = await StateStore.open(settings.state)
        stack.push_async_callback(state.close)
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

        async def judge(build: FailedBuild) -> Outcome:
            deadline = monitor.deadline_for(build, settings.watch.wait)
            verdict = await classify_when_ready(
                build, classifier, backend, monitor=monitor, deadline=deadline
            )
            by_id = classifier.queries.by_id
            # Tracker titles and projects (for team routing) join the verdict before it is saved.
            return await trackers.enrich(outcome_of(verdict, by_id), by_id)

        dashboard_url = await self._start_dashboard(stack, backend, classifier, trackers)
        self.pipeline = Pipeline(
            state=state,
            judge=judge,
            routing=routing,
            deliver=self._deliver,
            uncategorized_url=settings.watch.uncategorized_url
            or f"{dashboard_url}/uncategorized.html",
            max_concurrent=settings.watch.max_concurrent,
        )
        tasks = _TaskGroup(stack)
        tasks.spawn("query-watch", watcher.run())
        for source, accounts in build_sources(settings):
            self.source_names.append(source.name)
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
            bug_info=trackers.graph_bug_data,
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

    async def _deliver(self, room: Room, text: Text) -> None:
        transport = self.transports.get(room.transport)
        if transport is None:
            # Routed to a network this instance does not speak (e.g. IRC in the demo).
            log.debug("no %s transport for %s; not announced there", room.transport, room.id)
            return
        await transport.send(room, text)

    def health(self) -> Mapping[str, Any]:
        transports = {name: t.health().connected for name, t in self.transports.items()}
        return {
            "ok": all(transports.values()),
            "uptime": round(time.time() - self.started),
            "transports": transports,
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


def _signal_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


__all__ = ["App", "Routing", "to_failed_build"]
