"""The chat commands' view of the running bot: :class:`bot.chat.services.Services` over the
parts the app built, each handed over by name (commands never build clients)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace

from bot.app.querysync import QuerySources
from bot.app.vitals import Vitals, refresh_status
from bot.bugs import JIRA_BROWSE, Bug
from bot.chat.services import QuerySourceStatus, RefreshStatus, StatusSnapshot, UncatView
from bot.config.propose import ProposeSettings
from bot.core.errors import describe
from bot.dashboard.chart import BarRow, top_bugs_png
from bot.dashboard.graph import graph
from bot.dashboard.links import kibana_url
from bot.dashboard.scheduler import DashboardRefresher
from bot.impact_store import ImpactJournal
from bot.intel import REPORT_TIMEOUT, ClusterReport, find_clusters
from bot.intel.impact import ImpactReport, gather_impact
from bot.intel.tests import TestFilter, TestsReport, failing_tests, flaky_report
from bot.intel.uncategorized import uncategorized
from bot.lifecycle.adopt import Adopted, adopt, adoption, parse_bug_ref
from bot.lifecycle.propose import Proposer
from bot.queries import Query, QueryRepo
from bot.queries.store import QueryStore
from bot.search.base import SearchBackend, SearchError
from bot.state import StateStore
from bot.trackers.client import TrackerClient
from bot.watch.evidence import BuildWhy, why

#: Seconds a cluster report is reused by !uncat and !suggest.
CLUSTERS_TTL = 600.0


@dataclass
class AppServices:
    """What commands may use, backed by the app's own clients."""

    search: SearchBackend
    state: StateStore
    store: QueryStore
    trackers: TrackerClient
    refresher: DashboardRefresher
    vitals: Vitals
    dashboard_url: str | None
    kibana: str | None = None  # Kibana / OpenSearch Dashboards base, for Discover links
    _clusters: dict[tuple[int, str | None], tuple[float, ClusterReport]] = field(
        default_factory=dict
    )
    _clusters_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    impact_journal: ImpactJournal | None = None  # what the bugs cost (bot.impact_store)
    query_repos: QuerySources | None = None  # where the queries come from, their sync
    proposer: Proposer = field(default_factory=lambda: Proposer(ProposeSettings()))
    jira_browse: str = JIRA_BROWSE  # where Jira keys given in chat point

    @property
    def uncategorized_url(self) -> str | None:
        return f"{self.dashboard_url}/uncategorized.html" if self.dashboard_url else None

    def queries(self) -> QueryRepo:
        return self.store.repo()

    def kibana_url(self, lucene: str, days: int) -> str | None:
        return kibana_url(self.kibana, lucene, days) or None

    async def bug_info(self, query: Query) -> Bug:
        told = replace(query.bug, title=query.title)
        found = await self.trackers.describe(told)
        if found is None:  # the tracker is unreachable: what the query file says
            return told
        return replace(told, title=found.title or query.title, status=found.status)

    async def refresh_dashboard(self, *, full: bool = False) -> RefreshStatus:
        runs = await self.refresher.refresh(full=full)
        return refresh_status(list(runs.values()))

    async def uncategorized(self, *, days: int, queue: str | None) -> UncatView:
        return await uncategorized(self.search, self.store.queries, days, queue)

    async def status(self) -> StatusSnapshot:
        try:
            search = str((await self.search.health()).get("status", "unknown"))
        except SearchError as exc:
            search = f"unreachable: {describe(exc)}"
        vitals = self.vitals
        return StatusSnapshot(
            uptime=vitals.uptime,
            streams=vitals.streams(),
            search=search,
            queue_depth=vitals.pipeline.pending,
            last_refresh=vitals.last_refresh() if self.refresher.status else None,
            quarantined=vitals.classifier.quarantined,
            transports=vitals.chat_transports(),
        )

    async def clusters(self, *, days: int, queue: str | None) -> ClusterReport:
        # Clustering reads many logs: one run per period and queue, reused for a while.
        async with self._clusters_lock:
            when, report = self._clusters.get((days, queue), (0.0, None))
            if report is None or time.monotonic() - when > CLUSTERS_TTL:
                async with asyncio.timeout(REPORT_TIMEOUT):
                    report = await find_clusters(
                        self.search, self.store.queries, days=days, queue=queue
                    )
                self._clusters[(days, queue)] = (time.monotonic(), report)
            return report

    async def chart_png(self, *, days: int) -> bytes | None:
        data = await graph(self.search, self.store.queries, days=days)
        rows = [
            BarRow(f"{bug.query.id} {bug.query.title or ''}".strip(), bug.fails, bug.fails24)
            for bug in data.bugs
        ]
        return await asyncio.to_thread(top_bugs_png, rows, days=days)

    async def why(self, change: str, patchset: str | None) -> list[BuildWhy]:
        return await why(self.state, change, patchset)

    async def impact(self, *, days: int, project: str | None) -> ImpactReport:
        if self.impact_journal is None:
            return ImpactReport(time.time(), (days,), days, ())
        return await gather_impact(self.impact_journal, windows=(days,), project=project)

    # The test-result index pattern (search.subunit_index).
    subunit_index: str = "subunit-*"

    async def tests(
        self,
        selected: TestFilter,
        *,
        limit: int,
        failing_only: bool = True,
        search_timeout: float | None = None,
    ) -> TestsReport:
        return await failing_tests(
            self.search,
            self.subunit_index,
            selected,
            limit=limit,
            failing_only=failing_only,
            search_timeout=search_timeout,
        )

    async def flaky(
        self, selected: TestFilter, *, limit: int, search_timeout: float | None = None
    ) -> TestsReport:
        return await flaky_report(
            self.search, self.subunit_index, selected, limit=limit, search_timeout=search_timeout
        )

    async def query_sources(self) -> list[QuerySourceStatus]:
        return await self.query_repos.statuses() if self.query_repos else []

    async def sync_queries(self) -> list[QuerySourceStatus]:
        return await self.query_repos.sync_now() if self.query_repos else []

    async def adopt(
        self, cluster_id: str, bug_ref: str, *, days: int, queue: str | None, propose: bool
    ) -> Adopted:
        bug = parse_bug_ref(bug_ref, jira_browse=self.jira_browse)
        report = await self.clusters(days=days, queue=queue)
        plan = adoption(report, cluster_id, bug, self.store.repo(), self.proposer.settings)
        return await adopt(plan, self.proposer, propose=propose)
