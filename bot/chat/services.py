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
