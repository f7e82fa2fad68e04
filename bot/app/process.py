"""The watch-bot process: assemble the parts, start the background work, stop cleanly.

sources → intake → pipeline (journal, readiness, classify) → routing → transports; chat from the
transports → dispatcher; the dashboard refreshed by the scheduler and served with ``/healthz``
and ``/metrics``. SIGTERM / SIGINT stop intake, let in-flight builds finish for a grace period,
and leave the rest journaled for the next start.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AsyncExitStack
from typing import Any

from bot.app.parts import Parts, assemble, build_digester, close_all, start_lifecycle
from bot.app.services import AppServices
from bot.app.vitals import Vitals
from bot.chat.dispatcher import Dispatcher
from bot.chat.services import SendImage
from bot.config import Settings
from bot.core.gc import settle
from bot.core.logs import install_secret_masking
from bot.intel.quality import BugClosed
from bot.lifecycle.propose import Proposer
from bot.queries import Query
from bot.state import StateStore
from bot.trackers.client import TrackerClient
from bot.transports.base import ImageSender, Incoming, Room, Transport
from bot.watch.digest import keep_digesting
from bot.watch.intake import keep_positions, save_positions
from bot.watch.recording import keep_pruned
from bot.watch.returned import watch_returned

log = logging.getLogger(__name__)

#: Seconds in-flight builds get to finish on shutdown before they are left to the journal: the
#: whole stop must fit in ``docker stop``'s 10 s, and what is cut short resumes on the next start.
SHUTDOWN_GRACE = 2.0
#: Seconds between prunes of the journal (the first runs at start).
PRUNE_INTERVAL = 86400.0


class App:
    """The running bot; ``await App(settings).run(stop)`` until ``stop`` is set or a signal.

    ``ready`` is set once every part is up; ``parts`` and ``vitals`` are there from then on.
    """

    def __init__(self, settings: Settings, *, announce: Callable[[str], None] = print) -> None:
        self.settings = settings
        self._announce = announce
        self.ready = asyncio.Event()
        self.parts: Parts | None = None
        self.vitals: Vitals | None = None

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or _signal_event()
        async with AsyncExitStack() as stack:
            # Before anything can log: secrets never reach a log record, whoever logs it.
            stack.callback(install_secret_masking(self.settings.masked_values()))
            started = time.time()
            parts = self.parts = await assemble(self.settings, stack)
            vitals = self.vitals = _vitals(parts, started)
            parts.dashboard.attach(health=vitals.health, metrics=vitals.metrics)
            await _start_work(self.settings, parts, vitals, _TaskGroup(stack), stack)
            settle()  # what was built at start lives on: out of the collector's full passes
            self._announce(f"dashboard: {parts.dashboard.url}/")
            self.ready.set()
            await stop.wait()
            await _shut_down(parts, vitals)


async def _shut_down(parts: Parts, vitals: Vitals) -> None:
    """Stop in the order that loses nothing: in-flight builds get a moment, the transports flush
    what they queued while the delivery workers still run (so they journal it "sent"), then the
    workers stop. The exit stack closes the rest; closing twice is harmless."""
    log.info("stopping: letting in-flight builds finish for %.0fs", SHUTDOWN_GRACE)
    await parts.pipeline.drain(SHUTDOWN_GRACE)
    await close_all(parts.clients.transports.values())
    await parts.pipeline.close()
    await save_positions(vitals.sources, parts.clients.state)


def _vitals(parts: Parts, started: float) -> Vitals:
    clients = parts.clients
    return Vitals(
        started=started,
        search=clients.search,
        transports=clients.transports,
        sources=tuple(source for source, _ in parts.sources),
        intake=parts.intake,
        pipeline=parts.pipeline,
        refresher=parts.refresher,
        classifier=parts.classifier,
        monitor=parts.monitor,
        watcher=clients.watcher,
    )


async def _start_work(
    settings: Settings, parts: Parts, vitals: Vitals, tasks: _TaskGroup, stack: AsyncExitStack
) -> None:
    """The background tasks: sources, the query watcher, upkeep, chat; then resume the journal."""
    clients = parts.clients
    tasks.spawn("query-watch", clients.watcher.run())
    if parts.queries is not None:
        await parts.queries.start(settings.query_sync.interval_minutes)
    tasks.spawn("journal prune", _prune(clients.state, settings.watch.keep_days))
    tasks.spawn("source positions", keep_positions(vitals.sources, clients.state))
    tasks.spawn("impact prune", keep_pruned(clients.impact, settings.watch.keep_days))
    closed = _bug_closed(clients.trackers)
    returned = watch_returned(
        clients.search,
        lambda: clients.store.queries,
        closed,
        clients.routing,
        parts.pipeline.rooms.deliver,
    )
    tasks.spawn("returned bugs", returned)
    if digester := build_digester(settings, parts):
        tasks.spawn("weekly digest", keep_digesting(digester))
    proposer = Proposer(settings.propose)
    await start_lifecycle(settings, parts, proposer, stack)
    for source, accounts in parts.sources:
        tasks.spawn(f"source {source.name}", parts.intake.pump(source, accounts))
    dispatcher = _dispatcher(settings, parts, vitals, proposer)
    stack.push_async_callback(dispatcher.close)
    for name, transport in clients.transports.items():
        tasks.spawn(f"chat {name}", dispatcher.serve(transport))
    await parts.pipeline.resume()


def _dispatcher(settings: Settings, parts: Parts, vitals: Vitals, proposer: Proposer) -> Dispatcher:
    clients = parts.clients
    services = AppServices(
        search=clients.search,
        state=clients.state,
        store=clients.store,
        trackers=clients.trackers,
        refresher=parts.refresher,
        vitals=vitals,
        dashboard_url=parts.dashboard_url,
        kibana=settings.search.kibana_url,
        impact_journal=clients.impact,
        subunit_index=settings.search.subunit_index,
        query_repos=parts.queries,
        proposer=proposer,
        jira_browse=settings.trackers.jira.url.rstrip("/") + "/browse/",
    )
    names = (settings.irc.nick,) if settings.irc else ("recheckbot",)
    return Dispatcher(
        services, settings.chat, names=names, send_image=_image_sender(clients.transports)
    )


def _image_sender(transports: Mapping[str, Transport]) -> SendImage:
    async def send_image(
        room: Room, png: bytes, filename: str, *, reply_to: Incoming | None = None
    ) -> None:
        # Only transports that show images (Matrix) get the chart.
        transport = transports.get(room.transport)
        if isinstance(transport, ImageSender):
            await transport.send_image(room, png, filename, reply_to=reply_to)

    return send_image


def _bug_closed(trackers: TrackerClient) -> BugClosed:
    async def closed(query: Query) -> bool | None:
        details = await trackers.info(query.bug)
        return details.closed if details else None

    return closed


class _TaskGroup:
    """Background tasks owned by the app: logged when they die, cancelled on exit."""

    def __init__(self, stack: AsyncExitStack) -> None:
        self._tasks: list[asyncio.Task[None]] = []
        stack.push_async_callback(self._cancel)

    def spawn(self, name: str, coro: Coroutine[Any, Any, None]) -> None:
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
