"""The weekly digest: its schedule and rooms, what each room is told (the hand-counted impact
facts of tests/support/impact.py, clusters, stopped queries), its three renderings, the search
for stopped queries on osmem, and the journal that keeps a week's digest from going out twice."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.config.digest import DigestSettings, Weekly, parse_weekly
from bot.demo.data import DemoBuildset, DemoJob, job_documents
from bot.intel import ClusterReport
from bot.intel.cluster import Cluster
from bot.intel.digest import (
    DigestFacts,
    RoomDigest,
    Stopped,
    parse_stopped,
    room_digest,
    stopped_queries,
    wants,
)
from bot.intel.evidence import JobEvidence
from bot.intel.impact import figures_text
from bot.intel.uncategorized import UncatBuild
from bot.queries import Query, load_queries
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.search.synth import matching_fields
from bot.state import StateStore
from bot.transports.base import Room, Text
from bot.transports.ircformat import BOLD
from bot.watch.digest import (
    Digester,
    DigestRoom,
    DigestRoomsError,
    digest_rooms,
    format_digest,
    keep_digesting,
    last_due,
    week_of,
)
from bot.watch.routing import load_channels, parse_channels
from tests.support.impact import FACTS, NOW, A, B, as_tuple
from tests.support.paths import ROOT

DAY = 86_400.0
DASH = "https://dash.example.org"


# --- schedule and rooms ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "weekly"),
    [
        ("mon 09:00", Weekly(0, 9, 0)),
        ("  Sunday 7:05 ", Weekly(6, 7, 5)),
        ("FRI 23:59", Weekly(4, 23, 59)),
    ],
)
def test_a_weekly_time(text: str, weekly: Weekly) -> None:
    assert parse_weekly(text) == weekly


@pytest.mark.parametrize("text", ["monkey 09:00", "mon 24:00", "mon 9", "09:00", "mon 09:60"])
def test_what_is_no_weekly_time(text: str) -> None:
    with pytest.raises(ValueError, match="no weekly time"):
        parse_weekly(text)


def test_the_settings_are_off_by_default_and_checked() -> None:
    assert not load_settings().digest.enabled
    settings = load_settings(digest={"schedule": "Monday 9:00"})
    assert settings.digest.schedule == "mon 09:00"  # as the reference shows it
    assert settings.digest.enabled
    with pytest.raises(ConfigError, match=r"digest\.schedule: 'mon' is no weekly time"):
        load_settings(digest={"schedule": "mon"})
    with pytest.raises(ConfigError, match="history_days must be more than days"):
        load_settings(digest={"days": 14})


def test_the_last_scheduled_time_and_its_week() -> None:
    monday_nine = Weekly(0, 9, 0)
    wednesday = datetime(2026, 5, 27, 12, 0, tzinfo=UTC)
    assert last_due(monday_nine, wednesday) == datetime(2026, 5, 25, 9, 0, tzinfo=UTC)
    just_before = datetime(2026, 5, 25, 8, 59, tzinfo=UTC)
    assert last_due(monday_nine, just_before) == datetime(2026, 5, 18, 9, 0, tzinfo=UTC)
    on_time = datetime(2026, 5, 25, 9, 0, tzinfo=UTC)
    assert last_due(monday_nine, on_time) == on_time
    assert last_due(Weekly(6, 23, 30), wednesday) == datetime(2026, 5, 24, 23, 30, tzinfo=UTC)
    assert week_of(on_time) == "2026-W22"
    assert week_of(datetime(2027, 1, 1, tzinfo=UTC)) == "2026-W53"  # ISO weeks cross years


ROUTING = parse_channels(
    {
        "openstack-nova": {"projects": ["nova"], "events": ["positive"], "digest": True},
        "nova-matrix": {
            "transport": "matrix",
            "room": "#nova:example.org",
            "projects": ["nova"],
            "events": ["positive"],
        },
        "qa-gate": {"room": "#openstack-qa", "projects": ["all"], "events": ["negative"]},
        "openstack-qa": {"projects": ["openstack/glance"], "events": ["positive"]},
    }
)


def test_the_rooms_that_take_it() -> None:
    assert [(r.name, r.room.key, r.projects) for r in digest_rooms(ROUTING)] == [
        ("openstack-nova", "irc:#openstack-nova", ("nova",))
    ]
    named = digest_rooms(ROUTING, ("nova-matrix", "qa-gate", "openstack-qa"))
    assert [(r.name, r.room.key, r.projects) for r in named] == [
        ("openstack-nova", "irc:#openstack-nova", ("nova",)),
        ("nova-matrix", "matrix:#nova:example.org", ("nova",)),
        # Two channels of one room: one digest, for the projects of both.
        ("qa-gate", "irc:#openstack-qa", ("all", "openstack/glance")),
    ]
    with pytest.raises(DigestRoomsError, match=r"digest\.rooms: nova, qa: not in the channels"):
        digest_rooms(ROUTING, ("qa", "nova", "qa-gate"))


def test_the_example_channels_give_the_demo_terminal_a_digest() -> None:
    rooms = digest_rooms(load_channels(ROOT / "channels.yaml"))
    assert [(r.name, r.room.transport, r.projects) for r in rooms] == [
        ("demo", "console", ("all",))
    ]


@pytest.mark.parametrize(
    ("patterns", "project", "wanted"),
    [
        (("all",), "x/y", True),
        (("nova",), "openstack/nova", True),
        (("openstack/nova",), "openstack/nova", True),
        (("openstack/*",), "openstack/nova", True),
        (("neutron-*",), "openstack/neutron-lib", True),
        (("nova",), "openstack/novaclient", False),
        ((), "openstack/nova", False),
    ],
)
def test_which_projects_a_room_wants(patterns: tuple[str, ...], project: str, wanted: bool) -> None:
    assert wants(patterns, project) is wanted


# --- what a room is told --------------------------------------------------------------------


def cluster(cid: str, project: str, first_days_ago: float, size: int = 2) -> Cluster:
    jobs = tuple(
        JobEvidence(
            UncatBuild(
                uuid=f"{cid}{n}",
                job="tempest-full-py3",
                project=project,
                log_url="https://logs.example.org/x/",
                timestamp=datetime.fromtimestamp(NOW - first_days_ago * DAY + n * 60, UTC),
                change=str(900 + n),
                patchset="1",
            )
        )
        for n in reversed(range(size))  # newest first, as clusters keep them
    )
    sample = "Kernel panic - not syncing: Fatal exception in interrupt handler of the guest"
    return Cluster(cid, ("kernel panic",), jobs, (1.0,), (1.0,), (("console",),), (sample,))


CLUSTERS = ClusterReport(
    datetime.fromtimestamp(NOW, UTC),
    14,
    "gate",
    20,
    6,
    (
        cluster("c-aaaaaa", "openstack/nova", 2),
        cluster("c-bbbbbb", "openstack/glance", 3),
        cluster("c-cccccc", "openstack/nova", 10),  # first seen before the week: not new
    ),
)
STOPPED = (
    Stopped("1708704", 12, datetime.fromtimestamp(NOW - 9 * DAY, UTC), ("openstack/nova",)),
    Stopped("1745168", 3, None, ()),
)
FACTS_OF_THE_WEEK = DigestFacts(NOW, 7, FACTS, CLUSTERS, STOPPED)


def test_a_project_room_gets_its_own_costs_clusters_and_stopped_queries() -> None:
    nova = room_digest(FACTS_OF_THE_WEEK, ("nova",))
    # Nova's builds of the week: b1, b2 and b5 (A), b1 (B): counted in tests/support/impact.py.
    assert [(bug.bug.key, as_tuple(bug.figures(7))) for bug in nova.costliest] == [
        (A, (3, 2, 2, 2700.0, 0)),
        (B, (1, 1, 1, 1200.0, 0)),
    ]
    assert [c.id for c in nova.clusters or ()] == ["c-aaaaaa"]
    assert [s.query_id for s in nova.stopped or ()] == ["1708704"]
    glance = room_digest(FACTS_OF_THE_WEEK, ("glance",))
    assert [(bug.bug.key, as_tuple(bug.figures(7))) for bug in glance.costliest] == [
        (B, (1, 1, 0, 3600.0, 1))
    ]
    assert [c.id for c in glance.clusters or ()] == ["c-bbbbbb"]
    assert glance.stopped == ()


def test_a_room_of_all_projects_gets_everything_within_its_limits() -> None:
    everything = room_digest(FACTS_OF_THE_WEEK, ("all",), bugs=1, clusters=1)
    assert [bug.bug.key for bug in everything.costliest] == [B]  # the 7-day ranking's first
    assert [c.id for c in everything.clusters or ()] == ["c-aaaaaa"]
    assert [s.query_id for s in everything.stopped or ()] == ["1708704", "1745168"]
    cinder = room_digest(FACTS_OF_THE_WEEK, ("cinder",))
    assert (cinder.costliest, cinder.clusters, cinder.stopped) == ((), (), ())


def test_what_was_not_gathered_is_no_part() -> None:
    broken = replace(FACTS_OF_THE_WEEK, clusters=None, stopped=None, problems=("search: down",))
    digest = room_digest(broken, ("nova",))
    assert (digest.clusters, digest.stopped, digest.problems) == (None, None, ("search: down",))
    text = format_digest("openstack-nova", digest)
    assert "new uncategorized" not in text.plain
    assert "stopped hitting" not in text.plain
    assert text.plain.splitlines()[-1] == "not gathered: search: down"


# --- the renderings -------------------------------------------------------------------------


def nova_text() -> Text:
    digest = room_digest(FACTS_OF_THE_WEEK, ("nova",))
    pages = {"1001": f"{DASH}/bug/1001", "1708704": f"{DASH}/bug/1708704"}
    return format_digest("openstack-nova", digest, dashboard=DASH, page_of=pages.get)


def test_plain_text_is_a_few_short_lines_with_one_link() -> None:
    text = nova_text()
    a_figures = "3 failed builds, 2 changes, 2 rechecks, 45 min CI, 0 gate failures"
    assert text.plain.splitlines() == [
        f"weekly digest for openstack-nova: the 7 days to 2025-06-15 15:06 UTC · {DASH}",
        f"1. bug 1001 (Disk quota exceeded): {a_figures}",
        "2. bug 1002 (Mirror unreachable): 1 failed build, 1 change, 1 recheck, 20 min CI,"
        " 0 gate failures",
        "new uncategorized failures: c-aaaaaa (2 builds, tempest-full-py3: Kernel panic - not"
        " syncing: Fatal exception in interrupt han…) · !suggest <id>",
        "stopped hitting (no hit in 7 d, hits before): bug 1708704 (12 hits, last 9 d ago)",
    ]
    assert max(len(line) for line in text.plain.splitlines()) < 160
    assert text.irc is not None
    assert text.irc.startswith(f"{BOLD}weekly digest for openstack-nova{BOLD}: ")
    assert text.irc.replace(BOLD, "") == text.plain


def test_matrix_links_each_bug_to_its_page() -> None:
    html = nova_text().html or ""
    assert html.startswith("<b>weekly digest for openstack-nova</b>: the 7 days to ")
    assert f'<a href="{DASH}">dashboard</a>' in html
    assert f'1. <a href="{DASH}/bug/1001">bug 1001</a> (Disk quota exceeded): ' in html
    assert "2. bug 1002 (Mirror unreachable)" in html  # no query of it: no page
    assert f'<a href="{DASH}/uncategorized.html">new uncategorized failures</a>: ' in html
    assert f'<a href="{DASH}/bug/1708704">bug 1708704</a> (12 hits, last 9 d ago)' in html
    assert html.count("<br>") == 4


def test_a_quiet_week_and_hostile_text() -> None:
    quiet = RoomDigest(7, NOW, (), (), ())
    assert format_digest("x", quiet).plain.splitlines()[1:] == [
        "costliest bugs: none failed a build of these projects",
        "new uncategorized failures: none",
        "stopped hitting (no hit in 7 d, hits before): none",
    ]
    hostile = format_digest("evil\r\nPRIVMSG #x :<b>", quiet, dashboard="javascript:alert(1)")
    assert len(hostile.plain.splitlines()) == 4
    assert "javascript" not in (hostile.html or "")
    assert "&lt;b&gt;" in (hostile.html or "")
    many = RoomDigest(7, NOW, (), (), tuple(Stopped(str(n), 1, None, ()) for n in range(8)))
    assert format_digest("x", many).plain.endswith("bug 4 (1 hits) and 3 more")


# --- the stopped queries, on osmem ----------------------------------------------------------


def logged(query: Query, days_ago: float, project: str = "openstack/nova") -> DemoBuildset:
    extra = dict(matching_fields(query.lucene))
    name = str(extra.pop("build_name", "tempest-full-py3"))
    job = DemoJob(
        name, f"{query.id}{days_ago}".ljust(32, "0"), "FAILURE", bug=query.id, extra=extra
    )
    started = datetime.now(UTC) - timedelta(days=days_ago)
    return DemoBuildset(str(extra.pop("project", project)), "9001", "1", "gate", started, (job,))


async def test_a_query_that_hit_before_the_week_but_not_in_it(
    search: OpenSearchBackend,
) -> None:
    repo = load_queries(ROOT / "queries")
    stopped, busy, silent = (repo.get(q) for q in ("1708704", "1541364", "1745168"))
    assert stopped is not None
    assert busy is not None
    assert silent is not None
    buildsets = [logged(stopped, 9), logged(stopped, 10), logged(busy, 9), logged(busy, 2)]
    docs = [doc for b in buildsets for job in b.jobs for doc in job_documents(b, job)]
    await bulk_index(search.client, docs)
    found = await stopped_queries(search, [stopped, busy, silent], days=7, history_days=14)
    assert [(s.query_id, s.hits_before, s.projects) for s in found] == [
        ("1708704", 2, ("openstack/nova",))
    ]
    assert found[0].last_seen is not None
    assert timedelta(days=8.9) < datetime.now(UTC) - found[0].last_seen < timedelta(days=9.1)


def test_parse_stopped_reads_what_the_server_left_out() -> None:
    response = {
        "aggregations": {
            "queries": {
                "buckets": {
                    "b": {"doc_count": 2, "recent": {"doc_count": 0}, "last": {"value": None}},
                    "a": {"doc_count": 0, "recent": {"doc_count": 0}},
                    "c": {"doc_count": 4, "recent": {"doc_count": 1}},
                }
            }
        }
    }
    assert parse_stopped(response) == [Stopped("b", 2, None, ())]
    assert parse_stopped({}) == []


# --- never twice ----------------------------------------------------------------------------


class Deliveries:
    """The delivery queues' ``deliver``, on the real journal: what was sent where, once."""

    def __init__(self, state: StateStore) -> None:
        self.state = state
        self.sent: list[tuple[str, Room, Text]] = []

    async def __call__(self, key: str, room: Room, text: Text) -> tuple[str, str | None]:
        if await self.state.delivered(key, room.key):
            return "already", None
        self.sent.append((key, room, text))
        await self.state.mark_delivered(key, room.key)
        return "sent", None


NOVA_ROOM = DigestRoom("openstack-nova", Room("irc", "#openstack-nova"), ("nova",))
QA_ROOM = DigestRoom("qa", Room("matrix", "!qa:example.org"), ("all",))


def digester(state: StateStore, deliver: Deliveries, gathered: list[float]) -> Digester:
    async def gather(now: float) -> DigestFacts:
        gathered.append(now)
        return replace(FACTS_OF_THE_WEEK, now=now)

    settings = DigestSettings(schedule="mon 09:00")
    return Digester(settings, [NOVA_ROOM, QA_ROOM], state=state, gather=gather, deliver=deliver)


async def test_a_weeks_digest_goes_to_each_room_once_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    state = await StateStore.open(path)
    deliver, gathered = Deliveries(state), []
    results = await digester(state, deliver, gathered).send("2026-W22", NOW)
    assert results == {"irc:#openstack-nova": "sent", "matrix:!qa:example.org": "sent"}
    assert [(key, room.key) for key, room, _ in deliver.sent] == [
        ("digest/2026-W22", "irc:#openstack-nova"),
        ("digest/2026-W22", "matrix:!qa:example.org"),
    ]
    await state.close()

    state = await StateStore.open(path)  # a restart
    again, gathered = Deliveries(state), []
    assert await digester(state, again, gathered).send("2026-W22", NOW + 60) == {}
    assert (again.sent, gathered) == ([], [])  # not even gathered: the journal said so
    await digester(state, again, gathered).send("2026-W23", NOW + 7 * DAY)
    assert len(again.sent) == 2  # the next week is another digest
    await state.close()


async def test_a_room_whose_delivery_was_journaled_is_not_told_again(tmp_path: Path) -> None:
    # Killed after the delivery, before the digest row: the delivery journal still says so.
    state = await StateStore.open(tmp_path / "state.sqlite")
    await state.mark_delivered("digest/2026-W22", NOVA_ROOM.room.key)
    deliver: Deliveries = Deliveries(state)
    results = await digester(state, deliver, []).send("2026-W22", NOW)
    assert results == {"irc:#openstack-nova": "already", "matrix:!qa:example.org": "sent"}
    assert await state.digested("2026-W22", ["irc:#openstack-nova", "x"]) == {"irc:#openstack-nova"}
    await state.close()


async def test_a_patient_digest_waits_for_the_search_server(tmp_path: Path) -> None:
    state = await StateStore.open(tmp_path / "state.sqlite")
    deliver = Deliveries(state)

    async def broken(now: float) -> DigestFacts:
        return replace(FACTS_OF_THE_WEEK, clusters=None, problems=("clusters: down",))

    made = Digester(DigestSettings(), [NOVA_ROOM], state=state, gather=broken, deliver=deliver)
    assert await made.send("2026-W22", NOW, patient=True) == {}
    assert await made.send("2026-W22", NOW) == {"irc:#openstack-nova": "sent"}
    assert deliver.sent[0][2].plain.endswith("not gathered: clusters: down")
    await state.close()


async def test_at_start_and_when_due(tmp_path: Path) -> None:
    state = await StateStore.open(tmp_path / "state.sqlite")
    deliver, gathered = Deliveries(state), []
    made = digester(state, deliver, gathered)
    # Tuesday: this week's is one day late (within the catch-up), and on_start asks for it too.
    tuesday = datetime(2026, 5, 26, 9, 0, tzinfo=UTC).timestamp()
    made.settings = DigestSettings(schedule="mon 09:00", on_start=True)
    running = asyncio.create_task(keep_digesting(made, clock=lambda: tuesday, step=3600))
    async with asyncio.timeout(10):
        while len(deliver.sent) < 2:  # noqa: ASYNC110 (the task journals as it goes)
            await asyncio.sleep(0.01)
    running.cancel()
    assert {key for key, _, _ in deliver.sent} == {"digest/2026-W22"}
    assert len(deliver.sent) == 2  # on start; the catch-up found both rooms done
    # Two days late: too late for last week's; only on_start's own week.
    state2 = await StateStore.open(tmp_path / "other.sqlite")
    late = Deliveries(state2)
    made = digester(state2, late, [])
    made.settings = DigestSettings(schedule="thu 09:00")
    saturday = datetime(2026, 5, 30, 9, 0, tzinfo=UTC).timestamp()
    running = asyncio.create_task(keep_digesting(made, clock=lambda: saturday, step=3600))
    await asyncio.sleep(0.2)
    running.cancel()
    assert late.sent == []
    await state.close()
    await state2.close()


def test_figures_read_as_in_top() -> None:
    digest = room_digest(FACTS_OF_THE_WEEK, ("nova",))
    line = format_digest("n", digest).plain.splitlines()[1]
    assert line.endswith(figures_text(digest.costliest[0].figures(7)))


async def test_the_journal_keeps_a_weeks_rows_whatever_keep_days_says(tmp_path: Path) -> None:
    state = await StateStore.open(tmp_path / "state.sqlite")
    now = time.time()
    await state.record_digest("irc:#a", "2026-W20", "sent", now - 9 * DAY)
    await state.record_digest("irc:#a", "2026-W21", "given-up", now - 2 * DAY)
    await state.prune(3600)  # keep_days of an hour
    rooms = ["irc:#a"]
    assert await state.digested("2026-W20", rooms) == set()
    assert await state.digested("2026-W21", rooms) == {"irc:#a"}
    await state.close()
