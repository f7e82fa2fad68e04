"""``!refresh [full]`` / ``!graph``: rebuild the dashboard now and say where it is.

The refresh itself is the dashboard's (coalesced: asking while one runs joins that one), so a
burst of ``!refresh`` costs one rebuild. A rebuild asks only for the hours since the settled
ones it keeps; ``!refresh full`` asks for every hour of the window again (after a late reindex,
say), which costs as much as the daily full recompute. It is still admin-only by default: a
rebuild runs searches over the whole query repo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.chat.command import CommandError, Context, Rejected, command
from bot.chat.reply import Part, bold, duration, link, rich
from bot.transports.base import Text

if TYPE_CHECKING:
    from bot.chat.services import RefreshStatus


@command(
    "refresh",
    aliases=("graph",),
    help=(
        "rebuild the dashboard graphs now (joins a refresh already running) and link them;"
        " full: count every hour again, not only the newest"
    ),
    usage="[full]",
    acl="admin",
    rate=5,
    timeout=600,
)
async def refresh(ctx: Context) -> Text:
    full = wants_full(ctx.args)
    what = "every hour of the dashboard" if full else "the dashboard"
    await ctx.reply(Text.of(f"refreshing {what}; I will say when it is done"))
    status = await ctx.services.refresh_dashboard(full=full)
    if not status.ok:
        raise CommandError(f"the dashboard refresh failed: {status.error or 'no reason given'}")
    if ctx.room.transport == "matrix":
        await _send_chart(ctx)
    return format_refreshed(status, ctx.services.dashboard_url)


def wants_full(args: str) -> bool:
    """``full`` or nothing (pure); anything else is refused."""
    word = args.strip().casefold()
    if word not in ("", "full"):
        raise Rejected("usage: !refresh [full]")
    return word == "full"


async def _send_chart(ctx: Context) -> None:
    # Optional: only when the bot has a chart maker and the transport can post images.
    png = await ctx.services.chart_png(days=ctx.settings.default_days)
    if png:
        await ctx.send_image(png, "top-bugs.png")


def format_refreshed(status: RefreshStatus, url: str | None) -> Text:
    """``dashboard refreshed in 12 s · <link>`` (pure)."""
    took = f" in {duration(status.seconds)}" if status.seconds is not None else ""
    line: list[Part] = [bold("dashboard refreshed"), took]
    if url:
        line += [" · ", link("dashboard", url)]
    return rich(line)
