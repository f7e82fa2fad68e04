"""The chat dispatcher, through an in-process fake transport (errbot's testbot, our way).

Also the kit the other chat tests import: :class:`FakeServices` (a real osmem search server
seeded with demo data, a real StateStore) and :class:`ChatHarness` with ``run_command``.
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
from bot.chat.command import CommandError, CommandSpec, Context, Registry, Rejected, load_commands
from bot.chat.dispatcher import Dispatcher
from bot.chat.invocation import parse_invocation, text_problem
from bot.chat.services import RefreshStatus, StatusSnapshot, StreamStatus
from bot.config import SearchSettings
from bot.config.chat import ChatSettings, Principals, RateLimit
from bot.demo.data import DemoData, generate
from bot.intel import ClusterReport
from bot.queries import Query, QueryRepo, load_queries
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.state import StateStore
from bot.transports.base import Incoming, Room, Text, User
from bot.transports.ircformat import strip_formatting
from tests.support.paths import UPSTREAM_QUERIES, require_upstream

ALICE = User("irc", "alice!~alice@home.example.net", "alice")
OPS = User("irc", "ops!~ops@trusted.host", "ops")
MATRIX_ADMIN = User("matrix", "@root:admins.example", "root")
CHANNEL = Room("irc", "#openstack-qa")
MATRIX_ROOM = Room("matrix", "!qa:example.org")
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
    dashboard_url: str | None = DASHBOARD
    uncategorized_url: str | None = DASHBOARD + "uncategorized.html"
    refresh_ok: bool = True
    refreshes: int = 0
    png: bytes | None = None
    bugs: dict[str, Bug] = field(default_factory=dict)

    def queries(self) -> QueryRepo:
        return self.repo

    def kibana_url(self, lucene: str, days: int) -> str | None:
        return f"https://kibana.example.org/app/discover#/?q={quote(lucene)}&days={days}"

    async def bug_info(self, query: Query) -> Bug:
        return self.bugs.get(query.id) or query.bug.described(title=query.title)

    async def refresh_dashboard(self) -> RefreshStatus:
        self.refreshes += 1
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
        return StatusSnapshot(3 * 3600 + 720, streams, "green", 2, last)

    async def chart_png(self, *, days: int) -> bytes | None:
        return self.png

    async def clusters(self, *, days: int, queue: str | None) -> ClusterReport:
        return ClusterReport(datetime.now(UTC), days, queue, 0, 0, ())


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
    """A console-like transport in-process: messages go in, replies are collected."""

    def __init__(
        self, services: FakeServices, settings: ChatSettings = SETTINGS, **kw: Any
    ) -> None:
        self.services = services
        self.sent: list[tuple[Room, Text, Incoming | None]] = []
        self.images: list[tuple[Room, str, bytes]] = []
        self.dispatcher = Dispatcher(services, settings, send_image=self.send_image, **kw)

    async def send(self, room: Room, text: Text, *, reply_to: Incoming | None = None) -> None:
        self.sent.append((room, text, reply_to))

    async def send_image(
        self, room: Room, png: bytes, filename: str, *, reply_to: Incoming | None = None
    ) -> None:
        self.images.append((room, filename, png))

    async def run(self, text: str, user: User = ALICE, room: Room = CHANNEL) -> list[Text]:
        start = len(self.sent)
        await self.dispatcher.handle(Incoming(room, user, text, "$event"), self.send)
        return [sent for _, sent, _ in self.sent[start:]]

    async def run_command(self, text: str, user: User = ALICE, room: Room = CHANNEL) -> list[str]:
        """The plain text of every reply to ``text``."""
        return [reply.plain for reply in await self.run(text, user, room)]

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


# --- recognising commands ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "args", "by_name"),
    [
        ("!query message:foo --days 3", "query", "message:foo --days 3", False),
        ("  !HELP  ", "help", "", False),
        ("recheckbot: uncat tempest-*", "uncat", "tempest-*", True),
        ("recheckbot, status", "status", "", True),
        ("RecheckBot: !bug 1400905", "bug", "1400905", True),
    ],
)
def test_parse_invocation(text: str, name: str, args: str, by_name: bool) -> None:
    found = parse_invocation(text, "!", ["recheckbot"])
    assert found is not None
    assert (found.name, found.args, found.by_name) == (name, args, by_name)


@pytest.mark.parametrize(
    "text", ["hello", "!!!", "! help", "!=x", "recheckbotx: help", "recheckbot:", "see !help?"]
)
def test_not_for_the_bot(text: str) -> None:
    assert parse_invocation(text, "!", ["recheckbot"]) is None


def test_irc_formatting_is_stripped_and_controls_refused() -> None:
    assert strip_formatting("\x02!help\x02 \x0304,01red\x03") == "!help red"
    assert text_problem("!help", 100) is None
    assert "U+0007" in (text_problem("!help \x07", 100) or "")
    assert "too long" in (text_problem("!help " + "x" * 200, 100) or "")
    assert text_problem('!query message:"👨\u200d👩\u200d👧"', 100) is None  # ZWJ emoji


# --- the dispatcher ----------------------------------------------------------------------------


async def test_help_by_prefix_and_by_name(chat: ChatHarness) -> None:
    (by_prefix,) = await chat.run_command("!help")
    (by_name,) = await chat.run_command("recheckbot: help")
    assert by_prefix == by_name
    assert "!query" in by_prefix
    assert "!refresh/!graph (admins)" in by_prefix


async def test_replies_go_to_the_room_threaded_under_the_message(chat: ChatHarness) -> None:
    await chat.run("!help", room=MATRIX_ROOM)
    room, _, reply_to = chat.sent[-1]
    assert room == MATRIX_ROOM
    assert reply_to is not None
    assert reply_to.event_id == "$event"


async def test_unknown_command_hints_the_closest_name(chat: ChatHarness) -> None:
    assert await chat.run_command("!qeury message:foo") == [
        "unknown command !qeury — did you mean !query?"
    ]
    assert await chat.run_command("recheckbot: frobnicate") == [
        "unknown command !frobnicate; !help lists them"
    ]
    # "!frobnicate" alone looks like another bot's command: not ours to answer.
    assert await chat.run_command("!frobnicate") == []
    assert (await chat.audit())[-1][2:] == ("!frobnicate", "rejected: unknown command")


async def test_a_failing_command_is_reported_and_the_bot_goes_on(services: FakeServices) -> None:
    async def boom(ctx: Context) -> Text:
        raise ValueError("kaboom\nsecond line")

    async def broken(ctx: Context) -> Text:
        raise CommandError("the tracker said no")

    registry = with_commands(spec("boom", boom), spec("broken", broken))
    chat = ChatHarness(services, registry=registry)
    assert await chat.run_command("!boom") == ["sorry, !boom failed: ValueError: kaboom"]
    assert await chat.run_command("!broken") == ["sorry, !broken failed: the tracker said no"]
    assert "commands:" in (await chat.run_command("!help"))[0]
    results = [row[3] for row in await chat.audit()]
    assert results == [
        "error: ValueError: kaboom",
        "error: the tracker said no",
        "ok",
    ]


async def test_a_slow_command_times_out(services: FakeServices) -> None:
    async def slow(ctx: Context) -> Text:
        await asyncio.sleep(30)
        return Text.of("never")

    chat = ChatHarness(services, registry=with_commands(spec("slow", slow, timeout=0.05)))
    assert await chat.run_command("!slow") == ["sorry, !slow timed out after 0.05 s"]
    assert (await chat.audit())[-1][3] == "error: timeout"


async def test_rejections_are_replied_and_audited(chat: ChatHarness) -> None:
    assert await chat.run_command("!bug") == ["usage: !bug <bug id> [--days N]"]
    row = (await chat.audit())[-1]
    assert row == (
        ALICE.id,
        "irc:#openstack-qa",
        "!bug",
        "rejected: usage: !bug <bug id> [--days N]",
    )


async def test_a_failing_transport_does_not_break_the_dispatcher(services: FakeServices) -> None:
    chat = ChatHarness(services)

    async def broken_send(room: Room, text: Text, *, reply_to: Incoming | None = None) -> None:
        raise ConnectionError("socket closed")

    await chat.dispatcher.handle(Incoming(CHANNEL, ALICE, "!help"), broken_send)
    assert (await chat.audit())[-1][3] == "ok"
    assert len(await chat.run_command("!help")) == 1


async def test_dispatch_runs_in_the_background_and_close_cancels(services: FakeServices) -> None:
    started = asyncio.Event()

    async def hang(ctx: Context) -> Text:
        started.set()
        await asyncio.sleep(60)
        return Text.of("never")

    chat = ChatHarness(services, registry=with_commands(spec("hang", hang)))
    chat.dispatcher.dispatch(Incoming(CHANNEL, ALICE, "!hang"), chat.send)
    chat.dispatcher.dispatch(Incoming(CHANNEL, ALICE, "!help"), chat.send)
    await asyncio.wait_for(started.wait(), 5)
    for _ in range(50):
        if chat.sent:
            break
        await asyncio.sleep(0.02)
    assert "commands:" in chat.sent[0][1].plain
    await asyncio.wait_for(chat.dispatcher.close(), 5)


async def test_a_rejected_handler_reply_is_its_reason(services: FakeServices) -> None:
    async def picky(ctx: Context) -> Text:
        raise Rejected(f"no thanks, {ctx.user.name}")

    chat = ChatHarness(services, registry=with_commands(spec("picky", picky)))
    assert await chat.run_command("!picky") == ["no thanks, alice"]


async def test_names_can_be_turned_off(services: FakeServices) -> None:
    chat = ChatHarness(services, SETTINGS.model_copy(update={"address_by_name": False}))
    assert await chat.run_command("recheckbot: help") == []


async def test_matrix_refresh_posts_the_chart(chat: ChatHarness) -> None:
    chat.services.png = b"\x89PNG fake"
    replies = await chat.run_command("!graph", user=MATRIX_ADMIN, room=MATRIX_ROOM)
    assert replies[-1].startswith("dashboard refreshed")
    assert chat.images == [(MATRIX_ROOM, "top-bugs.png", b"\x89PNG fake")]
    await chat.run_command("!refresh", user=OPS)  # IRC: no image
    assert len(chat.images) == 1


async def test_a_command_waiting_too_long_for_a_slot_times_out(services: FakeServices) -> None:
    started = asyncio.Event()

    async def hog(ctx: Context) -> Text:
        started.set()
        await asyncio.sleep(60)
        return Text.of("never")

    async def quick(ctx: Context) -> Text:
        return Text.of("done")

    registry = with_commands(spec("hog", hog), spec("quick", quick, timeout=0.1))
    settings = SETTINGS.model_copy(update={"max_concurrent": 1})
    chat = ChatHarness(services, settings, registry=registry)
    chat.dispatcher.dispatch(Incoming(CHANNEL, OPS, "!hog"), chat.send)
    await asyncio.wait_for(started.wait(), 5)
    assert await chat.run_command("!quick") == ["sorry, !quick timed out after 0.1 s"]
    await chat.dispatcher.close()
    assert await chat.run_command("!quick") == ["done"]


async def test_matrix_names_and_no_image_support(services: FakeServices) -> None:
    services.png = b"\x89PNG"
    dispatcher = Dispatcher(services, SETTINGS, names=("recheckbot", "@recheckbot:example.org"))
    sent: list[Text] = []

    async def send(room: Room, text: Text, *, reply_to: Incoming | None = None) -> None:
        sent.append(text)

    message = Incoming(MATRIX_ROOM, MATRIX_ADMIN, "@recheckbot:example.org: refresh")
    await dispatcher.handle(message, send)  # no send_image: the chart is skipped, not an error
    assert sent[-1].plain.startswith("dashboard refreshed")


# --- the registry ------------------------------------------------------------------------------
