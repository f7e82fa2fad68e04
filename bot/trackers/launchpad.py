"""Launchpad: ``GET <api>/bugs/<id>`` for the title, then its bug tasks for targets and statuses.

Read anonymously, as ER did. Launchpad hides a private bug from anonymous readers (the API answers
as if it did not exist), so 401/403/404 become ER's "Unknown (Private Bug)" rather than an error.
A bug has no status of its own, only one per task (project, series or package): it counts as
closed when every task is complete, since the day the last one closed.

Writes (a comment, its edit, a new bug) are signed with an OAuth access token
(``trackers.launchpad.oauth_token``/``oauth_token_secret``, as ``launchpadlib`` obtains them).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.bugs import Bug, Target, launchpad
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
from bot.trackers.writing import NewBug, Posted, send

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


# --- writing: comments, their edits, new bugs (OAuth 1.0, PLAINTEXT as launchpadlib signs) ---

_COMMENT = re.compile(r"/bugs/(\d+)/comments/(\d+)$")
_NEW_BUG = re.compile(r"/bugs/(\d+)$")


def oauth_header(settings: LaunchpadSettings, *, nonce: str, timestamp: int) -> dict[str, str]:
    """The ``Authorization`` header of a write (pure); empty without a token."""
    token, secret = settings.oauth_token, settings.oauth_token_secret
    if token is None or secret is None:
        return {}
    fields = {
        "oauth_consumer_key": settings.oauth_consumer_key,
        "oauth_token": token.get_secret_value(),
        "oauth_signature_method": "PLAINTEXT",
        # PLAINTEXT: the consumer secret (Launchpad's is empty) & the token secret.
        "oauth_signature": "&" + quote(secret.get_secret_value(), safe=""),
        "oauth_timestamp": str(timestamp),
        "oauth_nonce": nonce,
        "oauth_version": "1.0",
    }
    pairs = ", ".join(f'{name}="{quote(value, safe="")}"' for name, value in fields.items())
    return {"Authorization": f'OAuth realm="https://api.launchpad.net/", {pairs}'}


def _signed(settings: LaunchpadSettings) -> dict[str, str]:
    return oauth_header(settings, nonce=secrets.token_hex(16), timestamp=int(time.time()))


def comment_link(location: str) -> str | None:
    """The web page of a comment from its API location (``…/bugs/1/comments/3``)."""
    found = _COMMENT.search(location)
    return f"https://bugs.launchpad.net/bugs/{found[1]}/comments/{found[2]}" if found else None


async def comment(
    http: aiohttp.ClientSession, settings: LaunchpadSettings, ref: Bug, text: str
) -> Posted:
    """``newMessage`` on the bug; the new message's location names it for an edit."""
    base = settings.api_url.rstrip("/") + "/"
    form = {"ws.op": "newMessage", "content": text}
    answer = await send(http, "POST", f"{base}bugs/{ref.id}", headers=_signed(settings), form=form)
    location = answer.headers.get("Location", "")
    if not location:
        raise TrackerError(f"bug {ref.id}: the comment was taken without a location")
    return Posted(location, comment_link(location))


async def edit_comment(
    http: aiohttp.ClientSession, settings: LaunchpadSettings, ref: Bug, posted: str, text: str
) -> Posted:
    """``editContent`` on a message we posted (Launchpad keeps its earlier revisions)."""
    base = settings.api_url.rstrip("/") + "/"
    link = _on(base, posted)
    if link is None:
        raise NotFound(f"bug {ref.id}: {posted[:80]!r} is no message of this API")
    form = {"ws.op": "editContent", "new_content": text}
    await send(http, "POST", link, headers=_signed(settings), form=form)
    return Posted(link, comment_link(link))


async def file_bug(http: aiohttp.ClientSession, settings: LaunchpadSettings, bug: NewBug) -> Bug:
    """``createBug`` on the project; the new bug's number is in the answer's location."""
    base = settings.api_url.rstrip("/") + "/"
    form = {
        "ws.op": "createBug",
        "target": f"{base}{bug.project}",
        "title": bug.title,
        "description": bug.description,
        "tags": json.dumps(list(bug.labels)),
    }
    answer = await send(http, "POST", f"{base}bugs", headers=_signed(settings), form=form)
    found = _NEW_BUG.search(answer.headers.get("Location", ""))
    if found is None:
        raise TrackerError("the new bug was taken without its location")
    return launchpad(found[1], bug.project)
