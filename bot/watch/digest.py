"""The weekly digest: a few lines per room on what its projects' week cost and what changed.

Which rooms: each channel of channels.yaml with ``digest: true`` or named in ``digest.rooms``
(one digest per room, for the projects of every channel that names it). When: at
``digest.schedule`` (a weekday and a time, UTC) each week, and with ``digest.on_start`` at start
too. What: :mod:`bot.intel.digest`, gathered once for all rooms, picked per room.

**Never twice.** A room's digest of a week (ISO week of the scheduled time: ``2026-W22``) is
journaled in :mod:`bot.state.digests` once delivered or given up, and delivered under the journal
key ``digest/<week>``, so the delivery journal's exactly-once promise holds for it as for an
announcement: a restart skips a room that had it, even one whose delivery was cut short. A bot
that was down at the scheduled time sends the week's digest when it starts within
:data:`CATCH_UP` of it. The loop looks at the clock at least every :data:`STEP` seconds (a
suspended machine or a changed clock does not make it miss the time).

**Renderings.** Matrix HTML links each bug to its dashboard page, the clusters to the
uncategorized page and the head to the dashboard; plain text and IRC name the bugs (``!bug
<id>`` tells more) and carry one link, the dashboard's, so every line stays short.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape

from bot.config.digest import DigestSettings, Weekly
from bot.core.errors import ReadableError, describe
from bot.intel.cluster import Cluster
from bot.intel.digest import DigestFacts, RoomDigest, Stopped, room_digest
from bot.intel.impact import figures_text
from bot.state import StateStore
from bot.transports.base import Room, Text
from bot.transports.ircformat import bold
from bot.transports.safety import http_url
from bot.watch.messages import clean
from bot.watch.returned import Deliver
from bot.watch.routing import Routing

log = logging.getLogger(__name__)

#: Seconds after the scheduled time in which a bot that was down still sends the week's digest.
CATCH_UP = 86_400.0
#: Seconds between looks at the clock, at most.
STEP = 300.0
#: Seconds after the scheduled time the digest waits for a search server that fails (its
#: clusters and stopped queries), retrying every :data:`STEP`; then it goes out without them.
PATIENCE = 3600.0
TITLE_SHOWN = 40
SAMPLE_SHOWN = 60
STOPPED_SHOWN = 5

#: Gathers the facts of every room's digest at a time (epoch seconds).
Gather = Callable[[float], Awaitable[DigestFacts]]
#: A bug's dashboard page from its id as labelled (None: no query of it, or no dashboard).
PageOf = Callable[[str], str | None]


class DigestRoomsError(ReadableError):
    """``digest.rooms`` names a channel that channels.yaml does not have."""


@dataclass(frozen=True)
class DigestRoom:
    name: str  # the (first) channel's name, as people know it
    room: Room
    projects: tuple[str, ...]


# --- pure: rooms, weeks, times --------------------------------------------------------------


def digest_rooms(routing: Routing, named: Collection[str] = ()) -> list[DigestRoom]:
    """The rooms that take the digest, in file order, each once with all its channels'
    projects; :class:`DigestRoomsError` for a name in ``named`` no channel has."""
    unknown = sorted(set(named) - {channel.name for channel in routing.channels})
    if unknown:
        raise DigestRoomsError(
            f"digest.rooms: {', '.join(unknown)}: not in the channels file (its channels: "
            f"{', '.join(channel.name for channel in routing.channels)})"
        )
    rooms: dict[Room, DigestRoom] = {}
    for channel in routing.channels:
        if not (channel.config.digest or channel.name in named):
            continue
        seen = rooms.get(channel.room)
        projects = (*(seen.projects if seen else ()), *channel.config.projects)
        name = seen.name if seen else channel.name
        rooms[channel.room] = DigestRoom(name, channel.room, tuple(dict.fromkeys(projects)))
    return list(rooms.values())


def week_of(when: datetime) -> str:
    """The ISO week ``when`` falls in: ``2026-W22``."""
    year, week, _ = when.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def last_due(weekly: Weekly, now: datetime) -> datetime:
    """The latest scheduled time at or before ``now``."""
    now = now.astimezone(UTC)
    monday = (now - timedelta(days=now.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    due = monday + timedelta(days=weekly.weekday, hours=weekly.hour, minutes=weekly.minute)
    return due if due <= now else due - timedelta(days=7)


# --- pure: the text -------------------------------------------------------------------------


@dataclass
class _Line:
    """One line in the three renderings (what :func:`bot.chat.reply.rich` does for replies,
    with links that plain text and IRC may leave out)."""

    plain: list[str] = field(default_factory=list)
    irc: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)

    def say(self, text: str, *, strong: bool = False) -> _Line:
        shown = clean(text)
        self.plain.append(shown)
        self.irc.append(bold(shown) if strong else shown)
        self.html.append(f"<b>{escape(shown)}</b>" if strong else escape(shown))
        return self

    def link(self, label: str, url: str | None, *, in_text: bool = False) -> _Line:
        """``label`` linked to ``url`` in HTML; plain text and IRC show the URL when
        ``in_text``, else the label."""
        href = http_url(url)
        shown = clean(label)
        if href is None:
            return self.say(label)
        said = href if in_text else shown
        self.plain.append(said)
        self.irc.append(said)
        self.html.append(f'<a href="{escape(href)}">{escape(shown)}</a>')
        return self


def format_digest(
    name: str,
    digest: RoomDigest,
    *,
    dashboard: str | None = None,
    page_of: PageOf = lambda _: None,
) -> Text:
    """A room's digest: a head line, a line per costly bug, one for the new clusters, one for
    the queries that stopped hitting, and one for what could not be gathered (pure)."""
    lines = [_head(name, digest, dashboard)]
    lines += _costliest(digest, page_of)
    if digest.clusters is not None:
        lines.append(_clusters(digest.clusters, dashboard))
    if digest.stopped is not None:
        lines.append(_stopped(digest.stopped, digest.days, digest.now, page_of))
    if digest.problems:
        lines.append(_Line().say("not gathered: " + "; ".join(digest.problems)))
    return Text(
        "\n".join("".join(line.plain) for line in lines),
        "\n".join("".join(line.irc) for line in lines),
        "<br>".join("".join(line.html) for line in lines),
    )


def _head(name: str, digest: RoomDigest, dashboard: str | None) -> _Line:
    until = datetime.fromtimestamp(digest.now, UTC)
    line = _Line().say(f"weekly digest for {name}", strong=True)
    line.say(f": the {digest.days} days to {until:%Y-%m-%d %H:%M} UTC")
    if http_url(dashboard):
        line.say(" · ").link("dashboard", dashboard, in_text=True)
    return line


def _costliest(digest: RoomDigest, page_of: PageOf) -> list[_Line]:
    if not digest.costliest:
        return [_Line().say("costliest bugs: none failed a build of these projects")]
    lines = []
    for n, bug in enumerate(digest.costliest, start=1):
        label = bug.bug
        line = _Line().say(f"{n}. ").link(f"bug {label.id}", page_of(label.id))
        if label.title:
            cut = label.title[:TITLE_SHOWN]
            line.say(f" ({cut}…)" if len(label.title) > TITLE_SHOWN else f" ({cut})")
        lines.append(line.say(f": {figures_text(bug.figures(digest.days))}"))
    return lines


def _clusters(clusters: Sequence[Cluster], dashboard: str | None) -> _Line:
    page = f"{dashboard.rstrip('/')}/uncategorized.html" if dashboard else None
    line = _Line().link("new uncategorized failures", page).say(": ")
    if not clusters:
        return line.say("none")
    for n, cluster in enumerate(clusters):
        sample = cluster.sample[:SAMPLE_SHOWN] + ("…" if len(cluster.sample) > SAMPLE_SHOWN else "")
        jobs = ", ".join(cluster.job_names[:2])
        line.say(", " if n else "").say(cluster.id, strong=True)
        line.say(f" ({cluster.size} builds, {jobs}: {sample})")
    return line.say(" · !suggest <id>")


def _stopped(stopped: Sequence[Stopped], days: int, now: float, page_of: PageOf) -> _Line:
    line = _Line().say(f"stopped hitting (no hit in {days} d, hits before): ")
    if not stopped:
        return line.say("none")
    when = datetime.fromtimestamp(now, UTC)
    for n, query in enumerate(stopped[:STOPPED_SHOWN]):
        line.say(", " if n else "").link(f"bug {query.query_id}", page_of(query.query_id))
        last = f", last {_days(when - query.last_seen)} d ago" if query.last_seen else ""
        line.say(f" ({query.hits_before} hits{last})")
    if len(stopped) > STOPPED_SHOWN:
        line.say(f" and {len(stopped) - STOPPED_SHOWN} more")
    return line


def _days(span: timedelta) -> int:
    return round(span.total_seconds() / 86_400)


# --- sending --------------------------------------------------------------------------------


class Digester:
    """Sends a week's digest to every room that has not had it yet."""

    def __init__(
        self,
        settings: DigestSettings,
        rooms: Sequence[DigestRoom],
        *,
        state: StateStore,
        gather: Gather,
        deliver: Deliver,
        dashboard: str | None = None,
        page_of: PageOf = lambda _: None,
    ) -> None:
        self.settings = settings
        self.rooms = tuple(rooms)
        self._state = state
        self._gather = gather
        self._deliver = deliver
        self._dashboard = dashboard
        self._page_of = page_of

    async def send(self, week: str, now: float, *, patient: bool = False) -> dict[str, str]:
        """The digest of ``week`` for each room that has not had it: room key → ``sent``,
        ``already`` or ``given-up``. ``patient``: when part of it could not be gathered, send
        nothing yet (the caller retries)."""
        keys = [r.room.key for r in self.rooms]
        done = await self._state.digested(week, keys)
        waiting = [r for r in self.rooms if r.room.key not in done]
        if not waiting:
            return {}
        facts = await self._gather(now)
        if facts.problems and patient:
            log.warning("digest %s: waiting for %s", week, "; ".join(facts.problems))
            return {}
        results = await asyncio.gather(*(self._send_one(week, r, facts) for r in waiting))
        return dict(zip((r.room.key for r in waiting), results, strict=True))

    async def _send_one(self, week: str, target: DigestRoom, facts: DigestFacts) -> str:
        s = self.settings
        digest = room_digest(facts, target.projects, bugs=s.bugs, clusters=s.clusters)
        text = format_digest(target.name, digest, dashboard=self._dashboard, page_of=self._page_of)
        result, reason = await self._deliver(f"digest/{week}", target.room, text)
        if reason:
            log.warning("digest %s for %s: %s", week, target.room.id, reason)
        await self._state.record_digest(target.room.key, week, result, time.time())
        return result


async def keep_digesting(
    digester: Digester,
    *,
    clock: Callable[[], float] = time.time,
    step: float = STEP,
) -> None:
    """At start (``on_start``), then at every scheduled time, until cancelled."""
    settings = digester.settings
    if settings.on_start:
        now = clock()
        await _safely(digester, week_of(datetime.fromtimestamp(now, UTC)), now, patient=False)
    weekly = settings.weekly
    if weekly is None:
        return
    while True:
        now = clock()
        due = last_due(weekly, datetime.fromtimestamp(now, UTC))
        late = now - due.timestamp()
        if late <= CATCH_UP:
            await _safely(digester, week_of(due), now, patient=late < PATIENCE)
        next_due = due.timestamp() + 7 * 86_400.0
        await asyncio.sleep(max(1.0, min(step, next_due - clock())))


async def _safely(digester: Digester, week: str, now: float, *, patient: bool) -> None:
    try:
        results = await digester.send(week, now, patient=patient)
    except Exception as exc:  # the journal's disk: the next look tries again
        log.warning("digest %s: %s", week, describe(exc))
        return
    if results:
        log.info("digest %s: %s", week, ", ".join(f"{k} {v}" for k, v in sorted(results.items())))
