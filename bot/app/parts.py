"""The composition root: every client and worker the bot is made of, built once from the settings.

:func:`assemble` builds the parts in dependency order, registers each one's shutdown on the
exit stack (so they close in reverse order), and hands each consumer exactly the parts it uses.
Nothing below the app reads parts back from a shared object.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace

from bot.app.querysync import QuerySources, admin_room, query_watcher
from bot.bugs import Bug
from bot.config import Settings
from bot.dashboard.build import DashboardBuilder
from bot.dashboard.incremental import GraphCache
from bot.dashboard.scheduler import DashboardRefresher
from bot.dashboard.server import DashboardServer
from bot.events.convert import to_failed_build
from bot.events.source import EventSource
from bot.events.sources import sources_from
from bot.gerrit.ssh import check_keys
from bot.impact_store import ImpactJournal
from bot.intel import REPORT_TIMEOUT, ClusterReport, find_clusters
from bot.intel.digest import DigestFacts, gather_digest
from bot.intel.impact import gather_impact
from bot.lifecycle.feedback import Commenter
from bot.lifecycle.filing import Filer
from bot.lifecycle.propose import Proposer
from bot.lifecycle.schedule import LifecycleSchedule
from bot.queries import Query
from bot.queries.reload import QueryWatcher
from bot.queries.sources import configured
from bot.queries.store import QueryStore
from bot.reporters.gerrit import GerritReporters
from bot.search import open_backend, writer_of
from bot.search.breaker import CircuitBreaker, GuardedBackend
from bot.state import StateStore
from bot.trackers.client import TrackerClient
from bot.trackers.writer import TrackerWriter
from bot.transports.base import Transport
from bot.transports.registry import transports_from
from bot.watch.classify import Classifier, TestResults
from bot.watch.delivery import TransportOutlet
from bot.watch.digest import Digester, digest_rooms
from bot.watch.evidence import bug_evidence
from bot.watch.intake import Intake
from bot.watch.judging import Judge, log_ingest
from bot.watch.messages import bug_page_url
from bot.watch.pipeline import Limits, Pipeline
from bot.watch.readiness import ReadinessMonitor
from bot.watch.recording import ImpactRecorder
from bot.watch.routing import Routing, load_channels

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Clients:
    """What talks to the outside world (or to disk): opened first, closed last."""

    search: GuardedBackend
    state: StateStore
    trackers: TrackerClient
    store: QueryStore
    watcher: QueryWatcher
    routing: Routing
    transports: Mapping[str, Transport]
    impact: ImpactJournal  # the costs of the bugs, in the state file's own tables


@dataclass(frozen=True)
class Parts:
    """The running bot: its clients and the workers built on them."""

    clients: Clients
    sources: tuple[tuple[EventSource, list[str]], ...]  # each with the CI accounts it trusts
    classifier: Classifier
    monitor: ReadinessMonitor
    pipeline: Pipeline
    intake: Intake
    refresher: DashboardRefresher
    dashboard: DashboardServer
    dashboard_url: str  # public: links in announcements and replies
    queries: QuerySources | None = None  # the query sources' sync and status


async def open_clients(settings: Settings, stack: AsyncExitStack) -> Clients:
    """The search server, the journal, the trackers, the queries, routing and chat networks."""
    search = guarded_backend(settings)
    stack.push_async_callback(search.close)
    state = await StateStore.open(settings.state)
    stack.push_async_callback(state.close)
    impact = await ImpactJournal.open(settings.state)
    stack.push_async_callback(impact.close)
    trackers = TrackerClient(settings.trackers, state)
    stack.push_async_callback(trackers.close)
    store = QueryStore()
    watcher = query_watcher(settings, store)
    sources = ", ".join(source.name for source in configured(settings))
    log.info("%d queries loaded from %s", await watcher.load(), sources)
    routing = load_channels(settings.channels)
    transports = transports_from(settings)
    _warn_unserved(routing, transports)
    # Closed together: each lets what it queued go out for a moment, and the stop must be quick.
    stack.push_async_callback(close_all, transports.values())
    for name, transport in transports.items():
        await transport.connect()
        for room in routing.rooms:
            if room.transport == name:
                await transport.join(room)
    return Clients(search, state, trackers, store, watcher, routing, transports, impact)


async def assemble(settings: Settings, stack: AsyncExitStack) -> Parts:
    """Every part of the bot, started; closing ``stack`` stops them in reverse order."""
    # A Gerrit key that cannot be read or decrypted stops us before anything connects.
    await asyncio.to_thread(check_keys, settings.gerrit)
    clients = await open_clients(settings, stack)
    monitor = ReadinessMonitor(clients.search)
    stack.push_async_callback(monitor.close)
    refresher = await start_refresher(settings, clients, stack)
    dashboard = DashboardServer(settings.dashboard)
    await dashboard.start()
    stack.push_async_callback(dashboard.close)
    dashboard_url = (settings.dashboard.url or dashboard.url).rstrip("/")
    classifier = Classifier(clients.store, tests=TestResults.of(settings.search))
    recorder = ImpactRecorder(clients.impact)
    pipeline = build_pipeline(settings, clients, classifier, monitor, dashboard_url, recorder)
    # On a normal stop the app closes the transports first (see process._shut_down); here for
    # a start that fails half-way.
    stack.push_async_callback(pipeline.close)
    admin = admin_room(settings, clients.routing)
    queries = QuerySources(settings, clients.watcher, admin=admin, deliver=pipeline.rooms.deliver)
    stack.push_async_callback(queries.close)
    return Parts(
        clients=clients,
        sources=tuple(sources_from(settings, await clients.state.positions())),
        classifier=classifier,
        monitor=monitor,
        pipeline=pipeline,
        intake=Intake(pipeline, to_failed_build, recorder.observe),
        refresher=refresher,
        dashboard=dashboard,
        dashboard_url=dashboard_url,
        queries=queries,
    )


def _warn_unserved(routing: Routing, transports: Mapping[str, Transport]) -> None:
    """Say once, loudly, which channels will hear nothing (an ER channels.yaml on a Matrix-only
    bot routes everything to IRC); each of their messages is only journaled as given up."""
    for transport, channels in routing.unserved(transports).items():
        log.warning(
            "channels %s route to %s, which this bot does not run: they will hear nothing "
            "(configure %s:, or give them another transport: in the channels file)",
            ", ".join(channels),
            transport,
            transport,
        )


async def close_all(transports: Iterable[Transport]) -> None:
    """Close the transports together (each lets its queue go out for a moment)."""
    await asyncio.gather(*(transport.close() for transport in transports))


def guarded_backend(settings: Settings) -> GuardedBackend:
    """The search backend behind the bot-wide request cap and circuit breaker."""
    s = settings.search
    breaker = CircuitBreaker(failures=s.breaker_failures, cooldown=s.breaker_cooldown)
    return GuardedBackend(open_backend(s), breaker, max_concurrent=s.max_concurrent)


async def start_refresher(
    settings: Settings, clients: Clients, stack: AsyncExitStack
) -> DashboardRefresher:
    """The dashboard builds, scheduled every ``refresh_minutes`` (the first one now)."""
    builder = DashboardBuilder(
        settings.dashboard.output,
        clients.search,
        lambda: clients.store.queries,
        kibana=settings.search.kibana_url,
        look_up=functools.partial(described, clients.trackers),
        impact=functools.partial(gather_impact, clients.impact),
        evidence=functools.partial(bug_evidence, clients.state),
        subunit_index=settings.search.subunit_index,
        cache=GraphCache(
            margin_minutes=settings.dashboard.settle_margin_minutes,
            full_every_hours=settings.dashboard.full_refresh_hours,
            journal=clients.state,
        ),
    )
    refresher = DashboardRefresher(builder, refresh_minutes=settings.dashboard.refresh_minutes)
    await refresher.start()
    stack.push_async_callback(refresher.close)
    return refresher


async def described(trackers: TrackerClient, query: Query) -> Bug | None:
    """The query's bug as its tracker describes it (the dashboard's lookup)."""
    return await trackers.describe(replace(query.bug, title=query.title))


def build_pipeline(
    settings: Settings,
    clients: Clients,
    classifier: Classifier,
    monitor: ReadinessMonitor,
    dashboard_url: str,
    recorder: ImpactRecorder | None = None,
) -> Pipeline:
    """The watch pipeline: judge, route, deliver, report on the review."""
    watch = settings.watch
    writer = writer_of(clients.search) if watch.ingest else None
    if watch.ingest and writer is None:
        log.warning("watch.ingest needs a search backend that takes writes (opensearch)")
    judge = Judge(
        classifier,
        clients.search,
        monitor,
        clients.trackers.info,
        watch.wait,
        log_ingest(writer, settings.ingest) if writer else None,
    )
    reviews = GerritReporters(settings.gerrit, clients.routing.messages, state=clients.state)
    return Pipeline(
        state=clients.state,
        judge=judge,
        routing=clients.routing,
        outlet=TransportOutlet(clients.transports),
        uncategorized_url=watch.uncategorized_url or f"{dashboard_url}/uncategorized.html",
        dashboard_url=dashboard_url,
        limits=Limits(
            max_concurrent=watch.max_concurrent,
            max_active=watch.max_active,
            judge_retry_for=watch.judge_retry_for,
            give_up_after=watch.give_up_after,
        ),
        report=reviews.report,
        record=recorder.judged if recorder else None,
    )


def build_digester(settings: Settings, parts: Parts) -> Digester | None:
    """The weekly digest's sender, when the settings ask for one and a channel takes it."""
    if not settings.digest.enabled:
        return None
    clients = parts.clients
    rooms = digest_rooms(clients.routing, settings.digest.rooms)
    if not rooms:
        # Loud only when a schedule asked for it: the demo turns on_start on for any channels.
        level = logging.WARNING if settings.digest.schedule else logging.INFO
        log.log(level, "digest: no channel takes it (digest: true in the channels file, or rooms)")
        return None

    async def gather(now: float) -> DigestFacts:
        return await gather_digest(
            clients.impact,
            clients.search,
            clients.store.queries,
            days=settings.digest.days,
            history_days=settings.digest.history_days,
            queue=settings.chat.uncat_queue,
            now=now,
        )

    def page_of(bug_id: str) -> str | None:
        query = clients.store.repo().get(bug_id)
        return bug_page_url(parts.dashboard_url, query.id) if query else None

    return Digester(
        settings.digest,
        rooms,
        state=clients.state,
        gather=gather,
        deliver=parts.pipeline.rooms.deliver,
        dashboard=parts.dashboard_url,
        page_of=page_of,
    )


async def start_lifecycle(
    settings: Settings, parts: Parts, proposer: Proposer, stack: AsyncExitStack
) -> LifecycleSchedule | None:
    """The weekly bug comments and the filing of bugs for new clusters, when the settings opt
    in (``feedback:``); started, and stopped with ``stack``."""
    comments, filing = settings.feedback.comments, settings.feedback.filing
    if not comments.trackers and filing.tracker is None:
        return None
    clients = parts.clients
    writer = TrackerWriter(settings.trackers)
    stack.push_async_callback(writer.close)
    commenter = filer = None
    if comments.trackers:
        commenter = Commenter(
            comments,
            state=clients.state,
            writer=writer,
            search=clients.search,
            queries=lambda: clients.store.queries,
            page_of=functools.partial(bug_page_url, parts.dashboard_url),
        )
        _say_how("weekly comments on bugs of " + ", ".join(comments.trackers), comments.dry_run)
    if filing.tracker is not None:

        async def clusters(days: int, queue: str | None) -> ClusterReport:
            async with asyncio.timeout(REPORT_TIMEOUT):
                return await find_clusters(
                    clients.search, clients.store.queries, days=days, queue=queue
                )

        filer = Filer(
            filing,
            state=clients.state,
            writer=writer,
            clusters=clusters,
            repo=clients.store.repo,
            proposer=proposer,
            uncategorized_url=settings.watch.uncategorized_url
            or f"{parts.dashboard_url}/uncategorized.html",
        )
        _say_how(f"bugs filed on {filing.tracker} for new clusters", filing.dry_run)
    schedule = LifecycleSchedule(commenter=commenter, filer=filer)
    await schedule.start()
    stack.push_async_callback(schedule.close)
    return schedule


def _say_how(what: str, dry_run: bool) -> None:
    if dry_run:
        log.info("feedback: %s: a dry run, logged only (dry_run: false writes them)", what)
    else:
        log.info("feedback: %s", what)
