"""``!status``: is the bot well? Streams, search, queue, chat transports and rooms, dashboard."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.chat.command import Context, command
from bot.chat.reply import Part, ago, bold, duration, rich
from bot.transports.base import Text

if TYPE_CHECKING:
    from bot.chat.services import RefreshStatus, StatusSnapshot, StreamStatus, TransportStatus

#: Rooms named per transport; the rest are counted. Rooms not joined are named first.
ROOMS_SHOWN = 6


@command(
    "status",
    help="uptime, streams, search health, queue depth, chat transports and their rooms, "
    "last dashboard refresh, refused queries",
)
async def status(ctx: Context) -> Text:
    return format_status(await ctx.services.status())


def format_status(snap: StatusSnapshot, now: datetime | None = None) -> Text:
    """The bot and its search server, the event streams, the dashboard; the refused queries
    when there are any (pure)."""
    now = now or datetime.now(UTC)
    first: list[Part] = [
        bold(f"up {duration(snap.uptime)}"),
        f" · search: {snap.search[:100]}",
        f" · queue: {snap.queue_depth} build{'' if snap.queue_depth == 1 else 's'} waiting",
    ]
    streams = "; ".join(_stream(s, now) for s in snap.streams) or "none configured"
    dashboard = f"dashboard: {_refresh(snap.last_refresh, now)}"
    lines: list[list[Part]] = [first, [f"streams: {streams}"]]
    lines += [[transport_line(t)] for t in snap.transports]
    lines.append([dashboard])
    if snap.quarantined:
        lines.append([_quarantined(snap.quarantined)])
    return rich(*lines)


def _quarantined(queries: Mapping[str, str]) -> str:
    """The queries the search server refuses: the operator must fix them in the repo."""
    shown = ", ".join(f"{qid} ({reason[:60]})" for qid, reason in sorted(queries.items())[:3])
    more = f" and {len(queries) - 3} more" if len(queries) > 3 else ""
    return f"quarantined queries (the search server refuses them): {shown}{more}"


def transport_line(transport: TransportStatus) -> str:
    """``irc connected (127.0.0.1:6667 as rb): #a joined, #b not joined (banned)`` (pure)."""
    state = "connected" if transport.connected else "DOWN"
    detail = f" ({transport.detail[:80]})" if transport.detail else ""
    return f"{transport.name} {state}{detail}: {rooms_part(transport.rooms)}"


def rooms_part(rooms: Sequence[tuple[str, str]]) -> str:
    """The rooms and whether each is joined; those that are not first, with why."""
    if not rooms:
        return "no rooms"
    missing = [f"{room} not joined ({why[:60]})" for room, why in rooms if why != "joined"]
    joined = [f"{room} joined" for room, why in rooms if why == "joined"]
    named = (missing + joined)[:ROOMS_SHOWN]
    rest = len(rooms) - len(named)
    if not rest:
        return ", ".join(named)
    # Past the rooms named, all joined when the missing ones all fit.
    return (
        ", ".join(named) + f" and {rest} more" + (" joined" if len(missing) <= ROOMS_SHOWN else "")
    )


def _stream(stream: StreamStatus, now: datetime) -> str:
    state = "connected" if stream.connected else "DOWN"
    seen = f", last event {ago(stream.last_event, now)}" if stream.last_event else ", no event yet"
    return f"{stream.name} {state}{seen}"


def _refresh(refresh: RefreshStatus | None, now: datetime) -> str:
    if refresh is None or refresh.finished is None:
        return "not refreshed yet"
    if not refresh.ok:
        return f"last refresh FAILED {ago(refresh.finished, now)}: {(refresh.error or '?')[:100]}"
    return f"refreshed {ago(refresh.finished, now)}"
