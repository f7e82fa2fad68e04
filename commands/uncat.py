"""``!uncat``: recent failed builds that no known bug explains, with links.

A busy channel gets a summary (counts, the top jobs, the page); the list of builds comes in a
private message, or apart from the room on request (``!uncat --all``: an IRC private message, a
Matrix thread), so ten lines never land in the channel.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from bot.chat.command import Context, Rejected, command
from bot.chat.options import days_option, split_options
from bot.chat.reply import Part, ago, bold, link, rich
from bot.search.base import SearchError
from bot.transports.base import Text
from commands.suggest import cluster_lines

if TYPE_CHECKING:
    from bot.chat.services import UncatBuildView, UncatJobView, UncatView

log = logging.getLogger(__name__)

#: Clusters listed under the uncategorized builds.
CLUSTER_LINES = 3
#: Jobs named in the channel's summary.
TOP_JOBS = 3

# Job names are [\w.-]; allowing only those plus * and ? also keeps fnmatch's [classes] out.
_JOB_GLOB = re.compile(r"[\w.*?-]{1,100}")


@command(
    "uncat",
    usage="[job-glob] [--days N] [--all]",
    help="recent failed builds no known bug explains: in a room a summary, the builds with "
    "their logs in a private message (--all: sent to you apart from the room)",
    rate=2,
    timeout=60,
)
async def uncat(ctx: Context) -> Text | None:
    text, options = split_options(ctx.args, ("days",), flags=("all",))
    days = days_option(ctx, options.get("days"))
    glob = check_glob(text)
    report = await ctx.services.uncategorized(days=days, queue=ctx.settings.uncat_queue)
    jobs = [job for job in report.jobs if glob is None or fnmatchcase(job.name, glob)]
    window = Window(days, ctx.settings.uncat_queue, glob, ctx.services.uncategorized_url)
    if not ctx.private and "all" not in options:
        more = " ".join(filter(None, (f"{ctx.settings.prefix}uncat", ctx.args, "--all")))
        return format_summary(report, jobs, window, more=more)
    clusters = await top_clusters(ctx, days) if glob is None else []
    full = format_uncat(report, jobs, window, limit=ctx.settings.uncat_items, clusters=clusters)
    if ctx.private:
        return full
    await ctx.whisper(full)
    return None


async def top_clusters(ctx: Context, days: int) -> list[list[Part]]:
    """The largest clusters of these failures, for ``!suggest <id>``; none when unavailable."""
    try:
        report = await ctx.services.clusters(days=days, queue=ctx.settings.uncat_queue)
    except (SearchError, TimeoutError) as exc:
        log.info("!uncat without clusters: %s", exc)
        return []
    return cluster_lines(report, CLUSTER_LINES)


def check_glob(text: str) -> str | None:
    """The job glob (None: all jobs); :class:`Rejected` for anything but one plain glob."""
    if not text:
        return None
    if not _JOB_GLOB.fullmatch(text):
        raise Rejected("a job glob is one word of letters, digits, . _ - * ?, like tempest-*")
    return text


@dataclass(frozen=True)
class Window:
    """What a ``!uncat`` answer covers, and where the page is."""

    days: int
    queue: str | None
    glob: str | None
    page: str | None


def format_summary(
    report: UncatView, jobs: Sequence[UncatJobView], window: Window, *, more: str
) -> Text:
    """For a room: the count line, then the jobs with the most uncategorized builds and how to
    get the list (pure)."""
    head = _head(report, jobs, window)
    ranked = sorted(
        ((job.name, len(job.unclassified)) for job in jobs if job.unclassified),
        key=lambda item: (-item[1], item[0]),
    )
    if not ranked:
        return rich(head)
    top = ", ".join(f"{name} ({n})" for name, n in ranked[:TOP_JOBS])
    return rich(head, [f"top jobs: {top} · the full list: {more} (sent to you apart)"])


def _head(report: UncatView, jobs: Sequence[UncatJobView], window: Window) -> list[Part]:
    builds = sum(len(job.unclassified) for job in jobs)
    failed = report.total if window.glob is None else sum(job.total for job in jobs)
    where = f"{window.queue} " if window.queue else ""
    which = f" of jobs matching {window.glob}" if window.glob else ""
    head: list[Part] = [
        bold(f"{builds} of {failed}"),
        f" failed {where}builds{which} in the last {window.days} d are uncategorized",
    ]
    if window.page:
        head += [" · ", link("uncategorized page", window.page)]
    return head


def format_uncat(
    report: UncatView,
    jobs: Sequence[UncatJobView],
    window: Window,
    *,
    limit: int,
    now: datetime | None = None,
    clusters: Sequence[Sequence[Part]] = (),
) -> Text:
    """A count line, then the newest ``limit`` uncategorized builds, one per line, then the
    largest clusters (pure)."""
    builds = newest(jobs)
    lines: list[list[Part]] = [_head(report, jobs, window)]
    lines += [_build_line(build, now or datetime.now(UTC)) for build in builds[:limit]]
    if len(builds) > limit:
        lines.append([f"… and {len(builds) - limit} more"])
    lines += [list(line) for line in clusters]
    return rich(*lines)


def newest(jobs: Sequence[UncatJobView]) -> list[UncatBuildView]:
    every = [build for job in jobs for build in job.unclassified]
    return sorted(every, key=lambda build: build.timestamp, reverse=True)


def _build_line(build: UncatBuildView, now: datetime) -> list[Part]:
    change = f" {build.change},{build.patchset}" if build.change else ""
    line: list[Part] = [f"{build.job}{change} · {ago(build.timestamp, now)}"]
    if build.log_url:
        line += [" · ", link("logs", build.log_url)]
    return line
