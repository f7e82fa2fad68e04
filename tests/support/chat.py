"""The in-process chat harness (errbot's testbot, our way) and the services behind it.

:class:`FakeServices` is :class:`bot.chat.services.Services` on a real osmem server seeded with
demo data and a real :class:`~bot.state.StateStore`, with a canned dashboard and status;
:class:`ChatHarness` is a console-like transport around the real dispatcher: messages go in,
replies are collected. The ``services`` and ``chat`` fixtures (registered in ``conftest.py``)
give every test its own of each.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from bot.bugs import Bug, launchpad
from bot.chat.command import CommandSpec, Context, Registry, load_commands
from bot.chat.dispatcher import Dispatcher
from bot.chat.services import (
    QuerySourceStatus,
    RefreshStatus,
    StatusSnapshot,
    StreamStatus,
    TransportStatus,
)
from bot.config import SearchSettings
from bot.config.chat import ChatSettings, Principals, RateLimit
from bot.config.propose import ProposeSettings
from bot.demo.data import DemoData, generate
from bot.impact_store import ImpactJournal
from bot.intel import ClusterReport
from bot.intel.impact import ImpactReport, gather_impact
from bot.intel.tests import TestFilter, TestsReport, failing_tests, flaky_report
from bot.lifecycle.adopt import Adopted, adopt, adoption, parse_bug_ref
from bot.lifecycle.propose import Proposer
from bot.queries import Query, QueryRepo, load_queries
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.state import StateStore
from bot.transports.base import Incoming, Room, Text, User
from bot.watch.evidence import BuildWhy, why
from tests.support.paths import UPSTREAM_QUERIES, require_upstream

ALICE = User("irc", "alice!~alice@home.example.net", "alice")
OPS = User("irc", "ops!~ops@trusted.host", "ops")
MATRIX_ADMIN = User("matrix", "@root:admins.example", "root")
CHANNEL = Room("irc", "#openstack-qa")
MATRIX_ROOM = Room("matrix", "!qa:example.org")
CONSOLE = Room("console", "console")
DEMO_BUGS = ("1400905", "1541364", "1298006")
DEMO_DAYS = 6  # data spans 6 days; queries look 7 back, so nothing sits on the window's edge
DASHBOARD = "https://dash.example.org/"
BIG = RateLimit(burst=10_000, per_minute=60_000)
SETTINGS = ChatSettings(
    admins=Principals(irc_masks=("*!*@trusted.host",), matrix_users=("@*:admins.example",)),
    user_rate=BIG,
    room_rate=BIG,
)


@functools.cache
def upstream_repo() -> QueryRepo:
    return load_queries(UPSTREAM_QUERIES)


# --- fake services: real search and state, canned dashboard and status ------------------------


@dataclass(frozen=True)
class UncatBuild:
    job: str
    log_url: str
    timestamp: datetime
    change: str
    patchset: str


@dataclass(frozen=True)
class UncatJob:
    name: str
    total: int
    unclassified: tuple[UncatBuild, ...]


@dataclass(frozen=True)
class UncatReport:
    total: int
    classified: int
    jobs: tuple[UncatJob, ...]


def demo_uncat(data: DemoData, days: int, queue: str | None) -> UncatReport:
    """What the dashboard would say, computed from the generator's own knowledge."""
    since = datetime.now(UTC) - timedelta(days=days)
    runs: dict[str, list[tuple[bool, UncatBuild]]] = {}
    for bs in data.buildsets:
        if bs.started < since or (queue and bs.queue != queue):
            continue
        for job in bs.jobs:
            if job.status == "FAILURE" and job.voting:
                build = UncatBuild(job.name, bs.log_url(job), bs.started, bs.change, bs.patchset)
                runs.setdefault(job.name, []).append((job.bug is not None, build))
    jobs = tuple(
        UncatJob(name, len(items), tuple(b for known, b in items if not known))
        for name, items in sorted(runs.items())
    )
    total = sum(job.total for job in jobs)
    return UncatReport(total, total - sum(len(j.unclassified) for j in jobs), jobs)


@dataclass
class FakeServices:
    """:class:`bot.chat.services.Services` for tests."""

    search: Any  # OpenSearchBackend, or a wrapper recording bodies
    state: StateStore
    repo: QueryRepo
    data: DemoData
    impact_journal: ImpactJournal | None = None  # a test's hand-written impact facts
    dashboard_url: str | None = DASHBOARD
    uncategorized_url: str | None = DASHBOARD + "uncategorized.html"
    refresh_ok: bool = True
    refreshes: int = 0
    full_refreshes: int = 0
    png: bytes | None = None
    bugs: dict[str, Bug] = field(default_factory=dict)
    quarantined: dict[str, str] = field(default_factory=dict)
    transports: tuple[TransportStatus, ...] = ()
    sources: list[QuerySourceStatus] = field(default_factory=list)  # what !queries shows
    synced: list[QuerySourceStatus] = field(default_factory=list)  # what !sync comes back with
    syncs: int = 0
    cluster_report: ClusterReport | None = None  # what !adopt adopts from
    proposer: Proposer = field(default_factory=lambda: Proposer(ProposeSettings()))

    def queries(self) -> QueryRepo:
        return self.repo

    def kibana_url(self, lucene: str, days: int) -> str | None:
        return f"https://kibana.example.org/app/discover#/?q={quote(lucene)}&days={days}"

    async def bug_info(self, query: Query) -> Bug:
        return self.bugs.get(query.id) or query.bug.described(title=query.title)

    async def refresh_dashboard(self, *, full: bool = False) -> RefreshStatus:
        self.refreshes += 1
        self.full_refreshes += full
        await asyncio.sleep(0)
        error = None if self.refresh_ok else "search server unreachable"
        return RefreshStatus(datetime.now(UTC), self.refresh_ok, 1.5, error)

    async def uncategorized(self, *, days: int, queue: str | None) -> UncatReport:
        return demo_uncat(self.data, days, queue)

    async def status(self) -> StatusSnapshot:
        now = datetime.now(UTC)
        streams = (
            StreamStatus("opendev", True, now - timedelta(minutes=2)),
            StreamStatus("rdo", False, None),
        )
        last = RefreshStatus(now - timedelta(minutes=12), True, 3.0)
        return StatusSnapshot(
            3 * 3600 + 720, streams, "green", 2, last, self.quarantined, self.transports
        )

    async def chart_png(self, *, days: int) -> bytes | None:
        return self.png

    async def clusters(self, *, days: int, queue: str | None) -> ClusterReport:
        return ClusterReport(datetime.now(UTC), days, queue, 0, 0, ())

    async def why(self, change: str, patchset: str | None) -> list[BuildWhy]:
        return await why(self.state, change, patchset)  # the real journal's

    async def impact(self, *, days: int, project: str | None) -> ImpactReport:
        if self.impact_journal is None:
            return ImpactReport(datetime.now(UTC).timestamp(), (days,), days, ())
        return await gather_impact(self.impact_journal, windows=(days,), project=project)

    async def tests(
        self,
        selected: TestFilter,
        *,
        limit: int,
        failing_only: bool = True,
        search_timeout: float | None = None,
    ) -> TestsReport:
        # The real query on the test's own osmem: a test writes the results it needs.
        return await failing_tests(
            self.search,
            "subunit-*",
            selected,
            limit=limit,
            failing_only=failing_only,
            search_timeout=search_timeout,
        )

    async def flaky(
        self, selected: TestFilter, *, limit: int, search_timeout: float | None = None
    ) -> TestsReport:
        return await flaky_report(
            self.search, "subunit-*", selected, limit=limit, search_timeout=search_timeout
        )

    async def query_sources(self) -> list[QuerySourceStatus]:
        return self.sources

    async def sync_queries(self) -> list[QuerySourceStatus]:
        self.syncs += 1
        return self.synced

    async def adopt(
        self, cluster_id: str, bug_ref: str, *, days: int, queue: str | None, propose: bool
    ) -> Adopted:
        """The real adoption, of :attr:`cluster_report`, through :attr:`proposer`."""
        bug = parse_bug_ref(bug_ref)
        report = self.cluster_report or ClusterReport(datetime.now(UTC), days, queue, 0, 0, ())
        plan = adoption(report, cluster_id, bug, self.repo, self.proposer.settings)
        return await adopt(plan, self.proposer, propose=propose)


@pytest.fixture
async def services(search_settings: SearchSettings, tmp_path: Path) -> AsyncIterator[FakeServices]:
    require_upstream()
    repo = upstream_repo()
    # A few bugs, so each has several hits; the repo the commands see is the whole upstream one.
    known = [q for q in (repo.get(bug) for bug in DEMO_BUGS) if q is not None]
    data = generate(known, days=DEMO_DAYS, buildsets_per_day=6, seed=5)
    backend = OpenSearchBackend(search_settings)
    await bulk_index(backend.client, data.documents())
    state = await StateStore.open(tmp_path / "state.sqlite")
    bugs = {
        "1400905": launchpad("1400905").described(
            title="Hash Sum mismatch in apt", status="Confirmed"
        )
    }
    yield FakeServices(backend, state, repo, data, bugs=bugs)
    await state.close()
    await backend.close()


# --- the harness -------------------------------------------------------------------------------


class ChatHarness:
    """A console-like transport in-process: messages go in, replies are collected.

    ``whispering``: it can answer someone apart from the room (as IRC and Matrix can); what it
    whispers is collected in :attr:`whispered`.
    """

    def __init__(
        self,
        services: FakeServices,
        settings: ChatSettings = SETTINGS,
        *,
        whispering: bool = True,
        **kw: Any,
    ) -> None:
        self.services = services
        self.sent: list[tuple[Room, Text, Incoming | None]] = []
        self.whispered: list[tuple[Incoming, Text]] = []
        self.images: list[tuple[Room, str, bytes]] = []
        self.whispering = whispering
        self.dispatcher = Dispatcher(services, settings, send_image=self.send_image, **kw)

    async def send(self, room: Room, text: Text, *, reply_to: Incoming | None = None) -> None:
        self.sent.append((room, text, reply_to))

    async def whisper(self, to: Incoming, text: Text) -> None:
        self.whispered.append((to, text))

    async def send_image(
        self, room: Room, png: bytes, filename: str, *, reply_to: Incoming | None = None
    ) -> None:
        self.images.append((room, filename, png))

    async def run(
        self, text: str, user: User = ALICE, room: Room = CHANNEL, *, private: bool = False
    ) -> list[Text]:
        """The replies in the room to ``text`` (``private``: a private message in ``room``)."""
        start = len(self.sent)
        incoming = Incoming(room, user, text, "$event", private=private)
        whisper = self.whisper if self.whispering else None
        await self.dispatcher.handle(incoming, self.send, whisper)
        return [sent for _, sent, _ in self.sent[start:]]

    async def run_command(
        self, text: str, user: User = ALICE, room: Room = CHANNEL, *, private: bool = False
    ) -> list[str]:
        """The plain text of every reply to ``text``."""
        return [reply.plain for reply in await self.run(text, user, room, private=private)]

    async def audit(self) -> list[tuple[str, str, str, str]]:
        """(user, room, command, result), oldest first."""
        rows = await self.services.state.audit_log(limit=1000)
        return [row[1:] for row in reversed(rows)]


@pytest.fixture
def chat(services: FakeServices) -> ChatHarness:
    return ChatHarness(services)


def with_commands(*specs: CommandSpec) -> Registry:
    """The real commands plus test ones."""
    registry = load_commands()
    for spec in specs:
        registry.add(spec)
    return registry


def spec(name: str, handler: Callable[[Context], Any], **kw: Any) -> CommandSpec:
    return CommandSpec(name, handler, help=f"test command {name}", **kw)
