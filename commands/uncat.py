"""``!uncat``: recent failed builds that no known bug explains, with links."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
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

# Job names are [\w.-]; allowing only those plus * and ? also keeps fnmatch's [classes] out.
_JOB_GLOB = re.compile(r"[\w.*?-]{1,100}")


@command(
    "uncat",
    usage="[job-glob] [--days N]",
    help="recent failed builds no known bug explains, newest first, with their logs",
    rate=3,
    timeout=60,
)
async def uncat(ctx: Context) -> Text:
    text, options = split_options(ctx.args, ("days",))
    days = days_option(ctx, options.get("days"))
    glob = check_glob(text)
    report = await ctx.services.uncategorized(days=days, queue=ctx.settings.uncat_queue)
    jobs = [job for job in report.jobs if glob is None or fnmatchcase(job.name, glob)]
    return format_uncat(
        report,
        jobs,
        days=days,
        queue=ctx.settings.uncat_queue,
        glob=glob,
        limit=ctx.settings.uncat_items,
        page=ctx.services.uncategorized_url,
        clusters=await top_clusters(ctx, days) if glob is None else [],
    )


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


def format_uncat(
    report: UncatView,
    jobs: Sequence[UncatJobView],
    *,
    days: int,
    queue: str | None,
    glob: str | None,
    limit: int,
    page: str | None,
    now: datetime | None = None,
    clusters: Sequence[Sequence[Part]] = (),
) -> Text:
    """A count line, then the newest ``limit`` uncategorized builds, one per line (pure)."""
    builds = newest(jobs)
    failed = report.total if glob is None else sum(job.total for job in jobs)
    where = f"{queue} " if queue else ""
    which = f" of jobs matching {glob}" if glob else ""
    head: list[Part] = [
        bold(f"{len(builds)} of {failed}"),
        f" failed {where}builds{which} in the last {days} d are uncategorized",
    ]
    if page:
        head += [" · ", link("uncategorized page", page)]
    lines: list[list[Part]] = [head]
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
