"""What chat commands may use (:class:`Services`), and the value types it deals in.

``bot/app/services.py`` implements it over the running app; tests use small fakes. Commands
never build clients of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot.bugs import Bug
from bot.intel import ClusterReport
from bot.intel.impact import ImpactReport
from bot.intel.tests import TestFilter, TestsReport
from bot.lifecycle.adopt import Adopted
from bot.queries import Query, QueryRepo
from bot.search.base import SearchBackend
from bot.state import StateStore
from bot.transports.base import Incoming, Room, Text
from bot.watch.evidence import BuildWhy


@dataclass(frozen=True)
class RefreshStatus:
    """The outcome of the last dashboard refresh."""

    finished: datetime | None  # None: never finished yet
    ok: bool
    seconds: float | None = None
    error: str | None = None  # one line, when not ok


@dataclass(frozen=True)
class StreamStatus:
    """One event source (a Gerrit server, an MQTT broker)."""

    name: str
    connected: bool
    last_event: datetime | None = None


@dataclass(frozen=True)
class TransportStatus:
    """One chat transport (IRC, Matrix, the console) and its rooms."""

    name: str
    connected: bool
    detail: str = ""  # where it is connected, or its last error
    rooms: tuple[tuple[str, str], ...] = ()  # (room id, "joined" or why not)


@dataclass(frozen=True)
class QuerySourceStatus:
    """One query source, as ``!queries`` and ``!sync`` show it."""

    name: str
    origin: str  # the repository URL or the directory
    queries: int  # loaded from it (shadowed ones included)
    shadowed: int = 0  # of those, left out for a source listed before
    commit: str | None = None  # a git source's commit in use
    committed: datetime | None = None  # that commit's time
    fetched: datetime | None = None  # when its remote last answered
    status: str | None = None  # the last sync's: updated, unchanged, kept-previous, error
    problems: tuple[str, ...] = ()  # why a commit was kept back, or the fetch failed
    kept_back: str | None = None  # the commit kept back, when one is
    git: bool = False  # a git source (else a directory)


@dataclass(frozen=True)
class StatusSnapshot:
    """The bot's health, as ``!status`` shows it."""

    uptime: float  # seconds
    streams: tuple[StreamStatus, ...]
    search: str  # cluster health ("green") or why it is unreachable
    queue_depth: int  # builds waiting to be judged
    last_refresh: RefreshStatus | None
    quarantined: Mapping[str, str] = field(default_factory=dict)  # query id -> server's reason
    transports: tuple[TransportStatus, ...] = ()


class UncatBuildView(Protocol):
    """One failed build no query explains (bot.intel.uncategorized.UncatBuild fits)."""

    @property
    def job(self) -> str: ...
    @property
    def log_url(self) -> str: ...
    @property
    def timestamp(self) -> datetime: ...
    @property
    def change(self) -> str: ...
    @property
    def patchset(self) -> str: ...


class UncatJobView(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def total(self) -> int: ...
    @property
    def unclassified(self) -> Sequence[UncatBuildView]: ...


class UncatView(Protocol):
    """Uncategorized failures over a period (bot.intel.uncategorized.UncatReport fits)."""

    @property
    def total(self) -> int: ...
    @property
    def classified(self) -> int: ...
    @property
    def jobs(self) -> Sequence[UncatJobView]: ...


class Services(Protocol):
    """Exactly what the chat commands need; commands never build clients."""

    @property
    def search(self) -> SearchBackend: ...
    @property
    def state(self) -> StateStore: ...
    @property
    def dashboard_url(self) -> str | None: ...
    @property
    def uncategorized_url(self) -> str | None: ...

    def queries(self) -> QueryRepo:
        """The query repo as currently loaded (it may be reloaded while the bot runs)."""
        ...

    def kibana_url(self, lucene: str, days: int) -> str | None: ...

    async def bug_info(self, query: Query) -> Bug:
        """The query's bug with its tracker's title and status (cached); what the query file
        says when the tracker is unknown or unreachable."""
        ...

    async def refresh_dashboard(self, *, full: bool = False) -> RefreshStatus:
        """Rebuild the dashboard now, or join the refresh already running; when done. With
        ``full`` every hour is asked again (after the refresh already running)."""
        ...

    async def uncategorized(self, *, days: int, queue: str | None) -> UncatView: ...

    async def status(self) -> StatusSnapshot: ...

    async def clusters(self, *, days: int, queue: str | None) -> ClusterReport:
        """Clusters of the uncategorized failures (cached by the bot between refreshes)."""
        ...

    async def chart_png(self, *, days: int) -> bytes | None:
        """A PNG chart of the top bugs, or None when no chart maker is configured."""
        ...

    async def why(self, change: str, patchset: str | None) -> Sequence[BuildWhy]:
        """The latest judged build(s) of a change (of that patchset), newest first: each
        failed job's bugs and the log lines they matched, from the journal."""
        ...

    async def impact(self, *, days: int, project: str | None) -> ImpactReport:
        """The known bugs ranked by what they cost over the last ``days`` (failed builds,
        changes, rechecks, CI time, gate failures: :mod:`bot.intel.impact`), counting only the
        builds of projects ``project`` matches; empty when the bot keeps no journal."""
        ...

    async def tests(
        self,
        selected: TestFilter,
        *,
        limit: int,
        failing_only: bool = True,
        search_timeout: float | None = None,
    ) -> TestsReport:
        """The ``limit`` tests with the most failures among the results ``selected`` picks
        (``failing_only``: only those that failed), from one request on the test-result index
        (:func:`bot.intel.tests.failing_tests`); ``search_timeout``: seconds the server may
        search before answering with what it has (the report is then ``partial``)."""
        ...

    async def flaky(
        self, selected: TestFilter, *, limit: int, search_timeout: float | None = None
    ) -> TestsReport:
        """The flakiest tests among the results ``selected`` picks, in one request
        (:func:`bot.intel.tests.flaky_report`)."""

    async def query_sources(self) -> Sequence[QuerySourceStatus]:
        """Where the queries come from, in the order that decides a bug found twice: each
        source's commit and how many queries it gives."""
        ...

    async def sync_queries(self) -> Sequence[QuerySourceStatus]:
        """Fetch the git sources now (or join the sync running) and reload the queries; the
        sources afterwards, each with what the sync did. Empty when no source is git."""

    async def adopt(
        self, cluster_id: str, bug_ref: str, *, days: int, queue: str | None, propose: bool
    ) -> Adopted:
        """The cluster's verified query written as the file of the bug ``bug_ref`` names
        (``1234567``, ``jira:OSPRH-12``, ``bz:2001234``, ``gh:org/repo#12``), and, with
        ``propose``, pushed to the query repository for review; else what would be pushed.
        :class:`bot.lifecycle.adopt.AdoptError` says why it cannot be adopted."""
        ...


class Send(Protocol):
    """A transport's ``send``: ``Transport.send`` fits as is."""

    async def __call__(
        self, room: Room, text: Text, *, reply_to: Incoming | None = None
    ) -> None: ...


class Whisper(Protocol):
    """A transport's ``whisper`` (:class:`bot.transports.base.Whispering`): the answer to
    ``to`` apart from the room."""

    async def __call__(self, to: Incoming, text: Text) -> None: ...


class SendImage(Protocol):
    """Upload and post an image (Matrix); optional."""

    async def __call__(
        self, room: Room, png: bytes, filename: str, *, reply_to: Incoming | None = None
    ) -> None: ...
