"""Announcements, formatted: pure functions from a build and its results to :class:`Text`.

The plain rendering keeps ER's wording (people grep their IRC logs for it) and names the queue
(check or gate); the IRC rendering adds bold and colour; the Matrix rendering is HTML with
links. An unrecognized failure points at the uncategorized page, once per announcement.

Each known bug also has a page on the dashboard (``<dashboard>/bug/<query id>``). Matrix HTML
links it after every bug. Plain text and IRC keep the tracker link where ER had it (people grep
their logs for it) and add the bug pages at the end only while the line stays within
:data:`SHORT_LINE` characters: a message of many bugs is long enough already, and its pages are
one click away in Matrix and on the dashboard.

Everything from outside (Gerrit's project, change, branch and job names, the index's URLs, bug
ids and titles) passes through :func:`clean` before it is written, and only http(s) URLs become
links. An announcement lists at most :data:`MAX_JOBS` jobs and counts the rest, so a buildset
of thousands of failed jobs is still one short message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from bot.bugs import Bug
from bot.events.model import FailedBuild
from bot.queries.pages import page_url
from bot.state.evidence import Matched
from bot.transports.base import Text
from bot.transports.ircformat import GREEN, RED, RESET, bold, color_code, strip_formatting
from bot.transports.safety import http_url, printable
from bot.watch.outcome import JobResult

#: ER's colours: red for what nobody explained, green for a known bug's title.
UNKNOWN, KNOWN = color_code(RED), color_code(GREEN)
#: Jobs one announcement lists at most; the others are counted, with a link to all of them.
MAX_JOBS = 20
#: Characters a plain/IRC announcement may reach with its bug pages added; beyond, they are left
#: out (an IRC line is 512 bytes with the sender and target; a room reads a short line).
SHORT_LINE = 350


def clean(text: str) -> str:
    """External text as one plain line for a room: no IRC formatting codes, no line breaks
    (a spoofed second line), no bidi overrides or other control characters."""
    return printable(strip_formatting(text))


def change_link(build: FailedBuild) -> str:
    return clean(build.change_url or f"{build.change},{build.patchset}")


def bug_page_url(dashboard_url: str | None, query_id: str) -> str | None:
    """``<dashboard>/bug/<query id>``, the bug's page; None without an http(s) dashboard."""
    base = http_url(dashboard_url)
    return page_url(base, query_id) if base is not None else None


def page_id(evidence: Sequence[Matched], bug: Bug) -> str:
    """The id of ``bug``'s page: the query that matched it (a job's ``evidence``, from its
    verdict), else the bug's id (an ER query file is named after its bug)."""
    return next((m.query for m in evidence if m.bug == bug.id), bug.id)


def format_found(
    build: FailedBuild,
    jobs: Sequence[JobResult],
    uncategorized_url: str | None = None,
    *,
    dashboard_url: str | None = None,
) -> Text:
    """ER's positive announcement, with the queue: ``<project> change: <url> failed in the
    <queue> queue because of: <entries>``; the uncategorized page after the first
    "unrecognized error", once (in HTML every "unrecognized error" links there); each bug's
    dashboard page (see the module docstring)."""
    ordered, hidden = _listed(jobs)
    more = [_more(build, hidden)] if hidden else []
    see = _pointing(ordered, _see(uncategorized_url))
    pairs = list(zip(ordered, see, strict=True))
    plain = ", ".join([*(_plain_entry(job) + after for job, after in pairs), *more])
    irc = ", ".join([*(_irc_entry(job) + after for job, after in pairs), *more])
    project, failed = clean(build.project), f"failed{_in_queue(build)} because of: "
    head = f"{project} change: {change_link(build)} {failed}"
    pages = bug_pages(ordered, dashboard_url)
    tail = _short_pages(head + plain, list(dict.fromkeys(pages.values())))
    irc_head = f"{bold(project)} change: {change_link(build)} {failed}"
    href = http_url(uncategorized_url)
    items = "".join(f"<li>{_html_entry(job, href, pages)}</li>" for job in ordered)
    if hidden:
        items += f"<li>{_html_more(build, hidden)}</li>"
    html = f"{_html_head(build)} failed{escape(_in_queue(build))} because of:<ul>{items}</ul>"
    return Text(head + plain + tail, irc_head + irc + tail, html)


def format_unrecognized(
    build: FailedBuild, job_names: Sequence[str], uncategorized_url: str | None = None
) -> Text:
    """ER's negative announcement, with a pointer to the uncategorized page when we have one."""
    jobs, hidden = _names(job_names)
    more = f" {_more(build, hidden)}" if hidden else ""
    tail = f" in the {clean(build.queue or 'unknown')} queue with an unrecognized error"
    see = _see(uncategorized_url)
    project = clean(build.project)
    plain = f"{project} change: {change_link(build)} failed {jobs}{more}{tail}{see}"
    irc = (
        f"{bold(project)} change: {change_link(build)} failed "
        f"{UNKNOWN}{jobs}{RESET}{more}{tail}{see}"
    )
    link = ""
    if href := http_url(uncategorized_url):
        link = f' (<a href="{escape(href)}">uncategorized failures</a>)'
    html_more = f" {_html_more(build, hidden)}" if hidden else ""
    html = f"{_html_head(build)} failed <code>{escape(jobs)}</code>{html_more}{escape(tail)}{link}"
    return Text(plain, irc, html)


def format_not_ready(build: FailedBuild, job_names: Sequence[str], waited: float) -> Text:
    """Logs never became searchable: say for which jobs, after how long."""
    jobs, hidden = _names(job_names)
    more = f" {_more(build, hidden)}" if hidden else ""
    change = f"{clean(build.change)},{clean(build.patchset)}"
    plain = (
        f"Logs not ready after {waited:.0f}s for {jobs}{more} of {clean(build.project)} change "
        f"{change_link(build)} ({change})"
    )
    html_more = f" {_html_more(build, hidden)}" if hidden else ""
    html = (
        f"Logs not ready after {waited:.0f}s for <code>{escape(jobs)}</code>{html_more} of "
        f"{_html_head(build)}"
    )
    return Text(plain, None, html)


def format_returned(bug: Bug, failures: int) -> Text:
    """A closed bug that came back: its id and title, how often its query hit in a day."""
    title = f' "{clean(bug.title)}"' if bug.title else ""
    builds = f"{failures} failed build{'s' if failures != 1 else ''}"
    href = http_url(bug.url)
    plain = f"Closed bug {clean(bug.id)}{title} is back: its query hit {builds} in the last day" + (
        f" — {href}" if href else ""
    )
    label = escape(clean(bug.id))
    shown = f'<a href="{escape(href)}">{label}</a>' if href else label
    html = (
        f"Closed bug {shown}{escape(title)} is back: its query hit <b>{failures}</b> "
        f"failed build{'s' if failures != 1 else ''} in the last day"
    )
    return Text(plain, None, html)


def format_bug_list(jobs: Sequence[JobResult]) -> str:
    """The ``%(bugs)s`` of ER's review comment: ``- <job>: <bug url> …`` per line.

    Verbatim, not :func:`clean`: a review comment is no chat line, and the reporter quotes it.
    """
    return "- " + "\n- ".join(_review_entry(job) for job in sorted(jobs, key=lambda j: j.name))


def _in_queue(build: FailedBuild) -> str:
    """`` in the gate queue``: check failures are a developer's own, gate ones everybody's."""
    return f" in the {clean(build.queue)} queue" if build.queue else ""


def bug_pages(jobs: Sequence[JobResult], dashboard_url: str | None) -> dict[str, str]:
    """Bug key → its dashboard page, for every bug ``jobs`` name, in their order: one page per
    bug, whichever job's evidence names its query."""
    evidence = [matched for job in jobs for matched in job.evidence]
    pages: dict[str, str] = {}
    for bug in (bug for job in jobs for bug in job.bugs):
        if bug.key not in pages and (page := bug_page_url(dashboard_url, page_id(evidence, bug))):
            pages[bug.key] = page
    return pages


def _short_pages(line: str, pages: Sequence[str]) -> str:
    """`` (bug page: <url>)`` to end ``line`` with, when the line stays short; else ""."""
    if not pages:
        return ""
    said = f" (bug page{'s' if len(pages) > 1 else ''}: {' '.join(pages)})"
    return said if len(line) + len(said) <= SHORT_LINE else ""


def _see(uncategorized_url: str | None) -> str:
    return f" (see {clean(uncategorized_url)})" if uncategorized_url else ""


def _pointing(jobs: Sequence[JobResult], see: str) -> list[str]:
    """What follows each job's entry: ``see`` after the first unrecognized one only."""
    first = next((n for n, job in enumerate(jobs) if not job.bugs), None)
    return [see if n == first else "" for n in range(len(jobs))]


def _listed(jobs: Sequence[JobResult]) -> tuple[list[JobResult], int]:
    """The jobs an announcement lists, by name, and how many it leaves out: over the cap, the
    ones with a known bug go first (they are what the announcement is for)."""
    chosen = sorted(jobs, key=lambda job: (not job.bugs, job.name))[:MAX_JOBS]
    return sorted(chosen, key=lambda job: job.name), len(jobs) - len(chosen)


def _names(job_names: Sequence[str]) -> tuple[str, int]:
    """Job names, sorted, cut at the cap and comma-joined; and how many were left out."""
    names = sorted(job_names)
    return ", ".join(clean(name) for name in names[:MAX_JOBS]), max(0, len(names) - MAX_JOBS)


def _all_jobs(build: FailedBuild) -> str:
    """Where every job can be seen: the buildset, else the change."""
    return http_url(build.buildset_url) or change_link(build)


def _more(build: FailedBuild, hidden: int) -> str:
    return f"… and {hidden:,} more: {_all_jobs(build)}"


def _html_more(build: FailedBuild, hidden: int) -> str:
    target = _all_jobs(build)
    shown = escape(target)
    href = http_url(target)
    return f"… and {hidden:,} more: " + (f'<a href="{escape(href)}">{shown}</a>' if href else shown)


def _review_entry(job: JobResult) -> str:
    if not job.bugs:
        return f"{job.name}: unrecognized error"
    bugs = (f'{bug.url} "{bug.title}"' if bug.title else bug.url for bug in job.bugs)
    return f"{job.name}: " + " ".join(bugs)


def _plain_entry(job: JobResult) -> str:
    if not job.bugs:
        return f"{clean(job.name)}: unrecognized error"
    return f"{clean(job.name)}: " + " ".join(_plain_bug(bug) for bug in job.bugs)


def _plain_bug(bug: Bug) -> str:
    return f'{clean(bug.url)} "{clean(bug.title)}"' if bug.title else clean(bug.url)


def _irc_entry(job: JobResult) -> str:
    if not job.bugs:
        return f"{clean(job.name)}: {UNKNOWN}unrecognized error{RESET}"
    return f"{clean(job.name)}: " + " ".join(
        f"{clean(bug.url)} {KNOWN}{clean(bug.title)}{RESET}" if bug.title else clean(bug.url)
        for bug in job.bugs
    )


def _html_entry(job: JobResult, uncategorized: str | None, pages: Mapping[str, str]) -> str:
    name = f"<code>{escape(clean(job.name))}</code>"
    if href := http_url(job.url):
        name = f'<a href="{escape(href)}">{name}</a>'
    if not job.bugs and uncategorized:
        return f'{name}: <a href="{escape(uncategorized)}"><b>unrecognized error</b></a>'
    if not job.bugs:
        return f"{name}: <b>unrecognized error</b>"
    return f"{name}: " + ", ".join(_html_bug(bug, pages.get(bug.key)) for bug in job.bugs)


def _html_bug(bug: Bug, page: str | None = None) -> str:
    title = f" {escape(clean(bug.title))}" if bug.title else ""
    status = f" ({escape(clean(bug.status))})" if bug.status else ""
    label = f"bug {escape(clean(bug.id))}"
    if href := http_url(bug.url):
        label = f'<a href="{escape(href)}">{label}</a>'
    shown = f' · <a href="{escape(page)}">bug page</a>' if page else ""
    return f"{label}{title}{status}{shown}"


def _html_head(build: FailedBuild) -> str:
    project = f"<b>{escape(clean(build.project))}</b>"
    if href := http_url(build.change_url):
        return f'{project} change <a href="{escape(href)}">{escape(clean(build.change))}</a>'
    return f"{project} change {escape(change_link(build))}"
