"""Jira: ``GET <base>/rest/api/2/issue/<KEY>?fields=…`` (REST v2, on Server, DC and Cloud alike).

Closed means the status is in Jira's "done" category (workflows name their statuses freely, the
category is fixed); it closed at ``resolutiondate``. Auth: a bearer personal access token
(Server/DC) or, with ``username``, basic auth with an API token (Cloud). Jira answers 404 both
for a missing issue and for one the reader may not see, so both are "not found". Writes (a
comment, its edit, a new issue) need the token; Jira Cloud answers 429 with ``Retry-After``
when it wants us to slow down.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import aiohttp

from bot.bugs import Bug, Target, jira
from bot.config.trackers import JiraSettings
from bot.core.http import basic_auth
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

FIELDS = "summary,status,project,resolution,resolutiondate,components"
_KEY = re.compile(r"[A-Z][A-Z0-9_]*-\d+")


def parse_jira(ref: Bug, issue: Mapping[str, Any]) -> Bug:
    """An issue resource → ``ref`` as the tracker describes it (pure)."""
    fields = mapping(issue.get("fields"))
    status = mapping(fields.get("status"))
    name = text(status.get("name"))
    category = text(mapping(status.get("statusCategory")).get("key"))
    resolution = text(mapping(fields.get("resolution")).get("name"))
    # Old Jira without status categories: a resolution is what "done" leaves behind.
    closed = category == "done" if category else resolution is not None
    shown = f"{name}: {resolution}" if name and resolution and resolution != name else name
    project = text(mapping(fields.get("project")).get("key"))
    components = fields.get("components")
    names = [text(mapping(c).get("name")) for c in components or () if isinstance(c, Mapping)]
    targets = tuple(Target(n, shown or "Unknown") for n in (project, *names) if n)
    return ref.described(
        title=text(fields.get("summary")),
        status=shown,
        closed=closed,
        closed_since=parse_time(fields.get("resolutiondate")) if closed else None,
        targets=targets,
    )


def auth_headers(settings: JiraSettings) -> dict[str, str]:
    if settings.token is None:
        return {}
    secret = settings.token.get_secret_value()
    if settings.username:
        return {"Authorization": basic_auth(settings.username, secret)}
    return {"Authorization": f"Bearer {secret}"}


async def fetch(http: aiohttp.ClientSession, settings: JiraSettings, ref: Bug) -> Bug:
    if not _KEY.fullmatch(ref.id):
        raise NotFound(f"not a Jira issue key: {ref.id!r}")
    base = (settings.api_url or settings.url).rstrip("/")
    url = f"{base}/rest/api/2/issue/{ref.id}"
    try:
        issue = await get_json(http, url, headers=auth_headers(settings), params={"fields": FIELDS})
    except HttpError as exc:
        if exc.status == 404:
            raise NotFound(f"{ref.id}: no such issue, or not visible to this account") from None
        raise
    return parse_jira(ref, mapping(issue))


# --- writing: comments, their edits, new issues -------------------------------------------


def _base(settings: JiraSettings) -> str:
    return (settings.api_url or settings.url).rstrip("/")


def _comment_link(settings: JiraSettings, key: str, comment_id: str) -> str:
    return f"{settings.url.rstrip('/')}/browse/{key}?focusedCommentId={comment_id}"


async def comment(
    http: aiohttp.ClientSession, settings: JiraSettings, ref: Bug, text: str
) -> Posted:
    """``POST …/issue/<KEY>/comment``; the comment's id names it for an edit."""
    url = f"{_base(settings)}/rest/api/2/issue/{ref.id}/comment"
    answer = await send(http, "POST", url, headers=auth_headers(settings), body={"body": text})
    comment_id = text_of(mapping(answer.json()).get("id"))
    if comment_id is None:
        raise TrackerError(f"{ref.id}: the comment was taken without an id")
    return Posted(comment_id, _comment_link(settings, ref.id, comment_id))


async def edit_comment(
    http: aiohttp.ClientSession, settings: JiraSettings, ref: Bug, posted: str, text: str
) -> Posted:
    """``PUT …/issue/<KEY>/comment/<id>``."""
    if not posted.isdigit():
        raise NotFound(f"{ref.id}: {posted[:40]!r} is no comment id")
    url = f"{_base(settings)}/rest/api/2/issue/{ref.id}/comment/{posted}"
    await send(http, "PUT", url, headers=auth_headers(settings), body={"body": text})
    return Posted(posted, _comment_link(settings, ref.id, posted))


async def file_bug(http: aiohttp.ClientSession, settings: JiraSettings, bug: NewBug) -> Bug:
    """``POST …/issue`` in the project; Jira answers with the new key."""
    fields = {
        "project": {"key": bug.project},
        "summary": bug.title,
        "description": bug.description,
        "issuetype": {"name": bug.issue_type},
        "labels": list(bug.labels),
    }
    url = f"{_base(settings)}/rest/api/2/issue"
    answer = await send(http, "POST", url, headers=auth_headers(settings), body={"fields": fields})
    key = text_of(mapping(answer.json()).get("key"))
    if key is None or not _KEY.fullmatch(key):
        raise TrackerError("the new issue was taken without its key")
    return jira(key, browse=settings.url.rstrip("/") + "/browse/")


def text_of(value: object) -> str | None:
    """A string or a number as text (Jira sends ids as strings, some proxies as numbers)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text(value)
