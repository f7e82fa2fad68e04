"""Announcements, formatted: pure functions from a build and its results to :class:`Text`.

The plain rendering keeps ER's wording (people grep their IRC logs for it); the IRC rendering
adds bold and colour; the Matrix rendering is HTML with links.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from bot.bugs import Bug
from bot.events.model import FailedBuild
from bot.transports.base import Text
from bot.transports.ircformat import GREEN, RED, RESET, bold, color_code
from bot.watch.outcome import JobResult

#: ER's colours: red for what nobody explained, green for a known bug's title.
UNKNOWN, KNOWN = color_code(RED), color_code(GREEN)


def change_link(build: FailedBuild) -> str:
    return build.change_url or f"{build.change},{build.patchset}"


def format_found(build: FailedBuild, jobs: Sequence[JobResult]) -> Text:
    """ER's positive announcement: ``<project> change: <url> failed because of: <entries>``."""
    ordered = sorted(jobs, key=lambda job: job.name)
    plain = ", ".join(_plain_entry(job) for job in ordered)
    irc = ", ".join(_irc_entry(job) for job in ordered)
    head = f"{build.project} change: {change_link(build)} failed because of: "
    irc_head = f"{bold(build.project)} change: {change_link(build)} failed because of: "
    items = "".join(f"<li>{_html_entry(job)}</li>" for job in ordered)
    html = f"{_html_head(build)} failed because of:<ul>{items}</ul>"
    return Text(head + plain, irc_head + irc, html)


def format_unrecognized(
    build: FailedBuild, job_names: Sequence[str], uncategorized_url: str | None = None
) -> Text:
    """ER's negative announcement, with a pointer to the uncategorized page when we have one."""
    jobs = ", ".join(sorted(job_names))
    tail = f" in the {build.queue or 'unknown'} queue with an unrecognized error"
    see = f" (see {uncategorized_url})" if uncategorized_url else ""
    plain = f"{build.project} change: {change_link(build)} failed {jobs}{tail}{see}"
    irc = (
        f"{bold(build.project)} change: {change_link(build)} failed "
        f"{UNKNOWN}{jobs}{RESET}{tail}{see}"
    )
    link = ""
    if uncategorized_url:
        link = f' (<a href="{escape(uncategorized_url)}">uncategorized failures</a>)'
    html = f"{_html_head(build)} failed <code>{escape(jobs)}</code>{escape(tail)}{link}"
    return Text(plain, irc, html)


def format_not_ready(build: FailedBuild, job_names: Sequence[str], waited: float) -> Text:
    """Logs never became searchable: say for which jobs, after how long."""
    jobs = ", ".join(sorted(job_names))
    plain = (
        f"Logs not ready after {waited:.0f}s for {jobs} of {build.project} change "
        f"{change_link(build)} ({build.change},{build.patchset})"
    )
    html = (
        f"Logs not ready after {waited:.0f}s for <code>{escape(jobs)}</code> of {_html_head(build)}"
    )
    return Text(plain, None, html)


def format_bug_list(jobs: Sequence[JobResult]) -> str:
    """The ``%(bugs)s`` of ER's review comment: ``- <job>: <bug url> …`` per line."""
    return "- " + "\n- ".join(_plain_entry(job) for job in sorted(jobs, key=lambda j: j.name))


def _plain_entry(job: JobResult) -> str:
    if not job.bugs:
        return f"{job.name}: unrecognized error"
    return f"{job.name}: " + " ".join(_plain_bug(bug) for bug in job.bugs)


def _plain_bug(bug: Bug) -> str:
    return f'{bug.url} "{bug.title}"' if bug.title else bug.url


def _irc_entry(job: JobResult) -> str:
    if not job.bugs:
        return f"{job.name}: {UNKNOWN}unrecognized error{RESET}"
    return f"{job.name}: " + " ".join(
        f"{bug.url} {KNOWN}{bug.title}{RESET}" if bug.title else bug.url for bug in job.bugs
    )


def _html_entry(job: JobResult) -> str:
    name = f"<code>{escape(job.name)}</code>"
    if job.url:
        name = f'<a href="{escape(job.url)}">{name}</a>'
    if not job.bugs:
        return f"{name}: <b>unrecognized error</b>"
    return f"{name}: " + ", ".join(_html_bug(bug) for bug in job.bugs)


def _html_bug(bug: Bug) -> str:
    title = f" {escape(bug.title)}" if bug.title else ""
    status = f" ({escape(bug.status)})" if bug.status else ""
    return f'<a href="{escape(bug.url)}">bug {escape(bug.id)}</a>{title}{status}'


def _html_head(build: FailedBuild) -> str:
    link = escape(change_link(build))
    change = f'<a href="{link}">{escape(build.change)}</a>' if build.change_url else link
    return f"<b>{escape(build.project)}</b> change {change}"
