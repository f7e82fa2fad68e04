"""``!why``: which bug failed a change's last run, and the log line that says so.

From the journal: each verdict is saved with the lines its queries matched (from the same
classification request), so the answer needs no search and works where no Kibana is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.chat.command import Context, Rejected, command
from bot.chat.options import split_options
from bot.chat.reply import Part, ago, bold, link, rich
from bot.search.lines import clean
from bot.transports.base import Text
from bot.watch.evidence import BuildWhy, JobWhy
from bot.watch.messages import bug_page_url, page_id

#: Lines of a reply in a room (a line per build, a line per job); more in private or apart.
CHANNEL_LINES = 4
PRIVATE_LINES = 12
#: Characters of a log line shown in chat.
SHOWN_CHARS = 200

_CHANGE = re.compile(r"([0-9]{1,10})(?:[,/]([0-9]{1,5}))?")
# A review URL names the change after "/+/" (Gerrit 2.14+) or "#/c/" (older), else at its end.
_URL_PATH = re.compile(r"https?://[^\s/]+/(?:.*/\+/|#/c/)?(?P<rest>[0-9][0-9/,]*)")


@command(
    "why",
    usage="<change>[,<patchset>] [--all]",
    help="why a change's last run failed: each failed job's known bug and the log line it "
    "matched (--all: every job, sent to you apart from the room)",
)
async def why(ctx: Context) -> Text | None:
    text, options = split_options(ctx.args, (), flags=("all",))
    found = parse_change(text)
    if found is None:
        raise Rejected(ctx.usage())
    change, patchset = found
    builds = await ctx.services.why(change, patchset)
    now, dashboard = datetime.now(UTC), ctx.services.dashboard_url
    if not ctx.private and "all" not in options:
        asked = f"{change},{patchset}" if patchset else change
        more = f"{ctx.settings.prefix}why {asked} --all (sent to you apart)"
        return format_why(
            change, patchset, builds, limit=CHANNEL_LINES, now=now, more=more, dashboard=dashboard
        )
    full = format_why(change, patchset, builds, limit=PRIVATE_LINES, now=now, dashboard=dashboard)
    if ctx.private:
        return full
    await ctx.whisper(full)
    return None


def parse_change(text: str) -> tuple[str, str | None] | None:
    """``912345``, ``912345,3``, ``912345/3`` or a review URL → (change, patchset or None)."""
    text = text.strip().rstrip("/")
    url = _URL_PATH.fullmatch(text)
    found = _CHANGE.fullmatch(url["rest"] if url else text)
    if found is None:
        return None
    return found[1], found[2]


def format_why(
    change: str,
    patchset: str | None,
    builds: Sequence[BuildWhy],
    *,
    limit: int,
    now: datetime,
    more: str | None = None,
    dashboard: str | None = None,
) -> Text:
    """A line per build and one per failed job, at most ``limit`` lines; the last one, when
    jobs are left out, says how many and ``more`` (how to see them); a job's line links its
    first bug's page on ``dashboard`` (pure)."""
    if not builds:
        asked = f"{change},{patchset}" if patchset else change
        return rich([f"no judged build of change {asked} in my journal"])
    lines: list[list[Part]] = []
    jobs_left = 0
    for build in builds:
        if len(lines) + 1 >= limit:
            jobs_left += len(build.jobs)
            continue
        lines.append(_build_line(build, now))
        room = limit - len(lines)
        shown = build.jobs if len(build.jobs) <= room else build.jobs[: room - 1]
        lines += [_job_line(job, dashboard) for job in shown]
        jobs_left += len(build.jobs) - len(shown)
    if jobs_left:
        lines.append([f"… and {jobs_left} more failed job(s)" + (f": {more}" if more else "")])
    return rich(*lines)


def _build_line(build: BuildWhy, now: datetime) -> list[Part]:
    b = build.build
    explained = sum(1 for job in build.jobs if job.bugs)
    when = ago(datetime.fromtimestamp(build.judged, UTC), now)
    where = f"{b.queue}, " if b.queue else ""
    return [
        bold(f"{b.change},{b.patchset}"),
        f" {b.project} ({where}{when}): {explained} of {len(build.jobs)} failed jobs explained",
    ]


def _job_line(job: JobWhy, dashboard: str | None = None) -> list[Part]:
    if job.state == "not-ready":
        return [f"{job.name}: its logs were not searchable in time"]
    if not job.bugs:
        return [f"{job.name}: no known bug (unrecognized)"]
    ids = ", ".join(bug.id for bug in job.bugs)
    said = f"{job.name} matched bug{'s' if len(job.bugs) > 1 else ''} {ids}"
    page = bug_page_url(dashboard, page_id(job.evidence, job.bugs[0]))
    linked: list[Part] = [" · ", link("bug page", page)] if page else []
    shown = next((m.lines[0] for m in job.evidence if m.lines), None)
    if shown is None:
        return [f"{said} (no log line kept)", *linked]
    where = f" in {shown.file.rsplit('/', 1)[-1]}" if shown.file else ""
    return [f"{said} on: `{clean(shown.message, SHOWN_CHARS)}`{where}", *linked]
