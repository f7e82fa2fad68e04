"""``!queries``: where the queries come from — each source with its commit, age and count.

Sources are listed in the order that decides a bug found in two of them (the first wins).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.chat.command import Context, command
from bot.chat.reply import Part, ago, bold, rich
from bot.transports.base import Text

if TYPE_CHECKING:
    from bot.chat.services import QuerySourceStatus

#: Characters of a URL or directory shown.
ORIGIN_SHOWN = 80


@command(
    "queries",
    help="where the queries come from: each source with its commit, age and count (first wins)",
)
async def queries(ctx: Context) -> Text:
    return format_sources(await ctx.services.query_sources())


def format_sources(sources: Sequence[QuerySourceStatus], now: datetime | None = None) -> Text:
    """A line per source: ``1. upstream (https://…): commit 1a2b3c4 from 3 h 2 min ago,
    120 queries, fetched 4 min ago`` (pure)."""
    now = now or datetime.now(UTC)
    if not sources:
        return Text.of("no query sources configured")
    total = sum(s.queries - s.shadowed for s in sources)
    lines: list[list[Part]] = [[bold(f"{total} queries in use"), f" from {len(sources)} source(s)"]]
    lines += [[f"{n}. ", *source_line(s, now)] for n, s in enumerate(sources, 1)]
    return rich(*lines)


def shorten(origin: str, limit: int = ORIGIN_SHOWN) -> str:
    """A long URL or path cut in the middle: its host and its repository's name both stay."""
    if len(origin) <= limit:
        return origin
    keep = (limit - 1) // 2
    return f"{origin[:keep]}…{origin[-keep:]}"


def source_line(source: QuerySourceStatus, now: datetime) -> list[Part]:
    parts: list[Part] = [bold(source.name), f" ({shorten(source.origin)}): "]
    if source.git and source.commit is None:
        parts.append("no commit taken yet")
    elif source.commit:
        when = f" from {ago(source.committed, now)}" if source.committed else ""
        parts.append(f"commit {source.commit[:7]}{when}")
    else:
        parts.append("directory")
    hidden = f" ({source.shadowed} shadowed by an earlier source)" if source.shadowed else ""
    parts.append(f", {source.queries} queries{hidden}")
    if source.fetched:
        parts.append(f", fetched {ago(source.fetched, now)}")
    if source.kept_back:
        first = source.problems[0][:100] if source.problems else "no reason kept"
        parts.append(f"; commit {source.kept_back[:7]} KEPT BACK: {first}")
    elif source.status == "error" and source.problems:
        parts.append(f"; last sync FAILED: {source.problems[0][:100]}")
    return parts
