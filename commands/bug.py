"""``!bug``: one known bug: its query, what the tracker says, and its hits per day."""

from __future__ import annotations

from bot.bugs import Bug, ref_from_id
from bot.chat.command import Context, Rejected, command
from bot.chat.options import days_option, split_options
from bot.chat.reply import Part, bold, link, quoted, rich
from bot.queries import Query
from bot.search.stats import QueryReport
from bot.transports.base import Text
from bot.watch.messages import bug_page_url
from commands.query import bounded_report

SPARKS = "▁▂▃▄▅▆▇█"
#: Up to this many days, hits per day are numbers; beyond, a sparkline keeps the line short.
NUMBERS_UP_TO = 14
QUERY_SHOWN = 160


@command(
    "bug",
    usage="<bug id> [--days N]",
    help="a known bug: its query, the tracker's title and status, and its hits per day",
    rate=2,
)
async def bug(ctx: Context) -> Text:
    text, options = split_options(ctx.args, ("days",))
    days = days_option(ctx, options.get("days"))
    if not text or len(text.split()) > 1:
        raise Rejected(ctx.usage())
    query = ctx.services.queries().get(text)
    if query is None:
        what = "bug" if ref_from_id(text) else "bug id or query id"
        raise Rejected(f"no known query for {what} {quoted(text, 30)}")
    info = await ctx.services.bug_info(query) if query.bug.tracked else None
    report, partial = await bounded_report(ctx, query.effective, days, user_text=False)
    page = bug_page_url(ctx.services.dashboard_url, query.id)
    return format_bug(query, info, report, days, partial=partial, page=page)


def format_bug(
    query: Query,
    info: Bug | None,
    report: QueryReport,
    days: int,
    *,
    partial: bool = False,
    page: str | None = None,
) -> Text:
    """Three lines: the bug (its tracker and its dashboard page), its query, its hits per day
    (pure)."""
    title = (info.title if info else None) or query.title
    head: list[Part] = [bold(f"bug {query.bug.id}")]
    if title:
        head.append(f": {title[:120]}")
    if info and info.status:
        head.append(f" [{info.status}]")
    if query.bug.tracked:
        head += [" · ", link("tracker", query.bug.url)]
    if page:
        head += [" · ", link("bug page", page)]
    shown = " ".join(query.lucene.split())
    if len(shown) > QUERY_SHOWN:
        shown = shown[:QUERY_SHOWN] + "…"
    tail = f"last {days} d: {report.hits} hits, {report.failed_builds} failed builds"
    if report.hits and report.per_day:
        tail += f"; {days_span(report)}: {per_day([n for _, n, _ in report.per_day])}"
    tail += " (partial: the search timed out)" if partial else ""
    return rich(head, [f"query: {shown}"], [tail])


def days_span(report: QueryReport) -> str:
    """``per day 05-01…05-07 (UTC)``: which days the numbers are, so nobody has to count."""
    first, last = report.per_day[0][0], report.per_day[-1][0]
    return f"per day {first[5:]}…{last[5:]} (UTC)"


def per_day(hits: list[int]) -> str:
    """``0 3 1 0`` for a short period, a sparkline with its peak for a long one."""
    if len(hits) <= NUMBERS_UP_TO:
        return " ".join(map(str, hits))
    top = max(hits) or 1
    line = "".join(SPARKS[round(n * (len(SPARKS) - 1) / top)] for n in hits)
    return f"{line} (peak {max(hits)})"
