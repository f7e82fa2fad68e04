"""``!top [project]``: the five costliest known bugs, with what each cost (bot.intel.impact)."""

from __future__ import annotations

from bot.chat.command import Context, Rejected, command
from bot.chat.options import days_option, split_options
from bot.chat.reply import Part, bold, link, quoted, rich
from bot.intel.impact import GATE_RESET_HOURS, RECHECK_HOURS, ImpactReport, figures_text
from bot.transports.base import Text

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
    return format_top(report, days, project, ctx.services.dashboard_url)


def format_top(
    report: ImpactReport, days: int, project: str | None, dashboard: str | None = None
) -> Text:
    """A head line, then one line per bug, costliest first (pure)."""
    where = f" in {project}" if project else ""
    costly = [bug for bug in report.bugs if bug.figures(days).failed_builds][:SHOWN]
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
        lines.append(line)
    return rich(*lines)
