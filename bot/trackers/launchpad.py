"""Launchpad: ``GET <api>/bugs/<id>`` for the title, then its bug tasks for targets and statuses.

Read anonymously, as ER did. Launchpad hides a private bug from anonymous readers (the API answers
as if it did not exist), so 401/403/404 become ER's "Unknown (Private Bug)" rather than an error.
A bug has no status of its own, only one per task (project, series or package): it counts as
closed when every task is complete, since the day the last one closed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp

from bot.bugs import Bug, Target
from bot.config.trackers import LaunchpadSettings
from bot.trackers import (
    HttpError,
    NotFound,
    TrackerError,
    get_json,
    mapping,
    parse_time,
    text,
)

#: Statuses Launchpad counts as complete, for tasks that do not carry ``is_complete``.
RESOLVED = frozenset({"Fix Released", "Invalid", "Won't Fix", "Opinion", "Expired"})
_HIDDEN = (401, 403, 404)
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


def task_complete(task: Mapping[str, Any]) -> bool:
    flag = task.get("is_complete")
    return flag if isinstance(flag, bool) else task.get("status") in RESOLVED


def task_closed(task: Mapping[str, Any]) -> datetime | None:
    return parse_time(task.get("date_closed")) or parse_time(task.get("date_fix_released"))


def parse_launchpad(ref: Bug, bug: Mapping[str, Any], tasks: Sequence[Any]) -> Bug:
    """A bug resource and its bug task entries → ``ref`` as Launchpad describes it (pure)."""
    if bug.get("private") is True:
        return ref.hidden()
    entries = [mapping(task) for task in tasks]
    targets = tuple(
        Target(text(t.get("bug_target_name")) or "?", text(t.get("status")) or "Unknown")
        for t in entries
    )
    closed = bool(entries) and all(task_complete(t) for t in entries)
    since = max((d for t in entries if (d := task_closed(t))), default=None) if closed else None
    return ref.described(
        title=text(bug.get("title")),
        status=_status(entries, closed),
        closed=closed,
        closed_since=since,
        targets=targets,
    )


def _status(tasks: list[Mapping[str, Any]], closed: bool) -> str | None:
    """One word for the bug: the status of the task that closed last, or of the first open one."""
    if closed:
        latest = max(tasks, key=lambda t: task_closed(t) or _NEVER)
        return text(latest.get("status"))
    open_tasks = [t for t in tasks if not task_complete(t)]
    return text(open_tasks[0].get("status")) if open_tasks else None


async def fetch(http: aiohttp.ClientSession, settings: LaunchpadSettings, ref: Bug) -> Bug:
    if not ref.id.isdigit():
        raise NotFound(f"not a Launchpad bug number: {ref.id!r}")
    base = settings.api_url.rstrip("/") + "/"
    try:
        bug = mapping(await get_json(http, f"{base}bugs/{ref.id}"))
    except HttpError as exc:
        if exc.status in _HIDDEN:
            return ref.hidden()
        raise
    if bug.get("private") is True:
        return ref.hidden()
    link = _on(base, bug.get("bug_tasks_collection_link")) or f"{base}bugs/{ref.id}/bug_tasks"
    tasks = await _tasks(http, base, link, settings.max_task_pages)
    return parse_launchpad(ref, bug, tasks)


async def _tasks(
    http: aiohttp.ClientSession, base: str, link: str, pages: int
) -> list[Mapping[str, Any]]:
    tasks: list[Mapping[str, Any]] = []
    next_link: str | None = link
    for _ in range(pages):
        if next_link is None:
            break
        page = mapping(await get_json(http, next_link))
        entries = page.get("entries")
        if not isinstance(entries, list):
            raise TrackerError(f"bug tasks: no entries in {next_link}")
        tasks += [mapping(entry) for entry in entries]
        next_link = _on(base, page.get("next_collection_link"))
    return tasks


def _on(base: str, link: object) -> str | None:
    # Follow the API's own links only while they stay on the configured API (a mirror, a test
    # stand-in): a link elsewhere is rebuilt from the base instead.
    return link if isinstance(link, str) and link.startswith(base) else None
