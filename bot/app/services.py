"""The chat commands' view of the running bot: :class:`bot.chat.services.Services` over the app."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.bugs import Bug
from bot.chat.dispatcher import Dispatcher
from bot.chat.services import RefreshStatus, StatusSnapshot, StreamStatus, UncatView
from bot.dashboard.chart import BarRow, top_bugs_png
from bot.dashboard.graph import graph
from bot.dashboard.links import kibana_url
from bot.dashboard.scheduler import RunStatus
from bot.intel import REPORT_TIMEOUT, ClusterReport, find_clusters
from bot.intel.uncategorized import uncategorized
from bot.queries import Query, QueryRepo
from bot.search.base import SearchBackend, SearchError
from bot.state import StateStore
from bot.transports.base import Incoming, Room
from bot.watch.classify import Classifier

if TYPE_CHECKING:
    from bot.app.process import App

#: Seconds a cluster report is reused by !uncat and !suggest.
CLUSTERS_TTL = 600.0


@dataclass
class AppServices:
    """What commands may use, backed by the app's own clients (commands never build any)."""

    app: App
    state: StateStore
    classifier: Classifier
    _clusters: dict[tuple[int, str | None], tuple[float, ClusterReport]] = field(
        default_factory=dict
    )
    _clusters_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def search(self) -> SearchBackend:
        assert self.app.backend is not None
        return self.app.backend

    @property
    def dashboard_url(self) -> str | None:
        return self.app.dashboard_url

    @property
    def uncategorized_url(self) -> str | None:
        return f"{self.app.dashboard_url}/uncategorized.html" if self.app.dashboard_url else None

    def queries(self) -> QueryRepo:
        return QueryRepo(queries=self.classifier.queries.queries)

    def kibana_url(self, lucene: str, days: int) -> str | None:
        return kibana_url(self.app.settings.search.kibana_url, lucene, days) or None

    async def bug_info(self, query: Query) -> Bug:
        told = replace(query.bug, title=query.title)
        found = await self.app.trackers.describe(told) if self.app.trackers else None
        # Tracker unknown or unreachable: what the query file says.
        return (
            replace(told, title=found.title or query.title, status=found.status) if found else told
        )

    async def refresh_dashboard(self) -> RefreshStatus:
        assert self.app.refresher is not None
        runs = await self.app.refresher.refresh()
        return _refresh_status(list(runs.values()))

    async def uncategorized(self, *, days: int, queue: str | None) -> UncatView:
        return await uncategorized(self.search, self.classifier.queries.queries, days, queue)

    async def status(self) -> StatusSnapshot:
        app = self.app
        try:
            search = str((await self.search.health()).get("status", "unknown"))
        except SearchError as exc:
            search = f"unreachable: {exc}"
        streams = tuple(
            StreamStatus(
                source.name,
                connected=_connected(source),
                last_event=_when(app.last_event.get(source.name)),
            )
            for source in app.sources
        )
        refresh = app.refresher.status.values() if app.refresher else ()
        return StatusSnapshot(
            uptime=time.time() - app.started,
            streams=streams,
            search=search,
            queue_depth=app.pipeline.pending if app.pipeline else 0,
            last_refresh=_refresh_status(list(refresh)) if refresh else None,
        )

    async def clusters(self, *, days: int, queue: str | None) -> ClusterReport:
        # Clustering reads many logs: one run per period and queue, reused for a while.
        async with self._clusters_lock:
            when, report = self._clusters.get((days, queue), (0.0, None))
            if report is None or time.monotonic() - when > CLUSTERS_TTL:
                async with asyncio.timeout(REPORT_TIMEOUT):
                    report = await find_clusters(
                        self.search, self.classifier.queries.queries, days=days, queue=queue
                    )
                self._clusters[(days, queue)] = (time.monotonic(), report)
            return report

    async def chart_png(self, *, days: int) -> bytes | None:
        data = await graph(self.search, self.classifier.queries.queries, days=days)
        rows = [
            BarRow(f"{bug.query.id} {bug.query.title or ''}".strip(), bug.fails, bug.fails24)
            for bug in data.bugs
        ]
        return await asyncio.to_thread(top_bugs_png, rows, days=days)


def _connected(source: object) -> bool:
    # Gerrit sources report their link; a replayed file or a broker client is up while it runs.
    status = getattr(source, "status", None)
    return bool(getattr(status, "connected", True))


def _when(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch else None


def _refresh_status(runs: list[RunStatus]) -> RefreshStatus:
    """Several dashboard parts summed up as one refresh: ok only if every part was."""
    finished = [run.started for run in runs if run.started and run.ok is not None]
    errors = [f"{run.part}: {run.error}" for run in runs if run.ok is False]
    return RefreshStatus(
        finished=max(finished) if finished else None,
        ok=not errors and all(run.ok for run in runs),
        seconds=sum(run.duration for run in runs),
        error="; ".join(errors) or None,
    )


def dispatcher_for(app: App, state: StateStore, classifier: Classifier) -> Dispatcher:
    """The dispatcher for every transport of ``app``."""
    names = (app.settings.irc.nick,) if app.settings.irc else ("recheckbot",)

    async def send_image(
        room: Room, png: bytes, filename: str, *, reply_to: Incoming | None = None
    ) -> None:
        # Only transports that show images have send_image (Matrix); others get no chart.
        sender = getattr(app.transports.get(room.transport), "send_image", None)
        if sender is not None:
            await sender(room, png, filename, reply_to=reply_to)

    services = AppServices(app, state, classifier)
    return Dispatcher(services, app.settings.chat, names=names, send_image=send_image)
