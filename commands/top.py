"""``!top [project]``: the five costliest known bugs, with what each cost (bot.intel.impact)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.chat.command import Context, Rejected, command
from bot.chat.options import days_option, split_options
from bot.chat.reply import Part, bold, link, quoted, rich
from bot.intel.impact import (
    GATE_RESET_HOURS,
    RECHECK_HOURS,
    BugImpact,
    ImpactReport,
    figures_text,
)
from bot.queries import QueryRepo
from bot.transports.base import Text
from bot.watch.messages import bug_page_url

SHOWN = 5
TITLE_SHOWN = 40
PROJECT_CHARS = 100


@command(
    "top",
    usage="[project] [--days N]",
    help="the five costliest known bugs: failed builds, changes, rechecks, CI time, gate failures",
    rate=1,
)
async def top(ctx: Context) -> Text:
    text, options = split_options(ctx.args, ("days",))
    days = days_option(ctx, options.get("days"))
    if len(text.split()) > 1 or len(text) > PROJECT_CHARS:
        raise Rejected(f"one project name or glob, not {quoted(text, 30)} ({ctx.usage()})")
    project = text or None
    report = await ctx.services.impact(days=days, project=project)
    dashboard = ctx.services.dashboard_url
    pages = bug_pages(costliest(report, days), ctx.services.queries(), dashboard)
    return format_top(report, days, project, dashboard, pages)


def costliest(report: ImpactReport, days: int) -> list[BugImpact]:
    """The bugs ``!top`` lists: the first :data:`SHOWN` that failed a build in ``days``."""
    return [bug for bug in report.bugs if bug.figures(days).failed_builds][:SHOWN]


def bug_pages(bugs: Sequence[BugImpact], repo: QueryRepo, dashboard: str | None) -> dict[str, str]:
    """Bug key → the dashboard page of its query, for the bugs the repo still has a query for."""
    pages: dict[str, str] = {}
    for bug in bugs:
        query = repo.get(bug.bug.id)
        if query is not None and (page := bug_page_url(dashboard, query.id)):
            pages[bug.bug.key] = page
    return pages


def format_top(
    report: ImpactReport,
    days: int,
    project: str | None,
    dashboard: str | None = None,
    pages: Mapping[str, str] | None = None,
) -> Text:
    """A head line, then one line per bug, costliest first, with its tracker and its dashboard
    page (``pages``: bug key → URL) (pure)."""
    where = f" in {project}" if project else ""
    costly = costliest(report, days)
    if not costly:
        return rich([f"no known bug failed a build the bot judged in the last {days} d{where}"])
    head: list[Part] = [
        bold(f"costliest bugs over {days} d{where}"),
        f" (score: CI hours + {RECHECK_HOURS:g} per recheck"
        f" + {GATE_RESET_HOURS:g} per gate failure)",
    ]
    if dashboard:
        head += [" · ", link("dashboard", dashboard)]
    lines: list[list[Part]] = [head]
    for n, bug in enumerate(costly, start=1):
        label = bug.bug
        line: list[Part] = [f"{n}. ", bold(f"bug {label.id}")]
        if label.title:
            title = label.title
            line.append(f" ({title[:TITLE_SHOWN]}…)" if len(title) > TITLE_SHOWN else f" ({title})")
        line.append(f": {figures_text(bug.figures(days))}")
        if label.url:
            line += [" · ", link("tracker", label.url)]
        if page := (pages or {}).get(label.key):
            line += [" · ", link("bug page", page)]
        lines.append(line)
    return rich(*lines)
