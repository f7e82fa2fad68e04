"""GitHub issues (and pull requests, which the issues API serves too).

``GET <api>/repos/<org>/<repo>/issues/<n>``: ``state`` open/closed, ``state_reason``
(completed, not_planned, …), ``closed_at``. Anonymous reads are rate limited to 60 an hour, so a
token is worth configuring; 403 and 429 are the rate limit speaking and pause all lookups.
Writes (a comment, its edit, a new issue) need the token; a 403 or 429 that names the rate limit
(``X-RateLimit-Remaining: 0``, ``Retry-After``, "rate limit" in the message) is the rate limit,
any other 403 a token that may not write there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import aiohttp

from bot.bugs import GITHUB_ISSUE, Bug, Target, github
from bot.config.trackers import GithubSettings
from bot.trackers import HttpError, NotFound, TrackerError, get_json, mapping, parse_time, text
from bot.trackers.writing import NewBug, Posted, send

_ID = re.compile(r"([\w.-]+)/([\w.-]+)#(\d+)")
API_VERSION = "2022-11-28"


def parse_github(ref: Bug, project: str, issue: Mapping[str, Any]) -> Bug:
    """An issue resource → ``ref`` as the tracker describes it (pure)."""
    state = text(issue.get("state"))
    reason = text(issue.get("state_reason"))
    closed = state == "closed"
    shown = f"{state}: {reason}" if closed and reason else state
    return ref.described(
        title=text(issue.get("title")),
        status=shown,
        closed=closed,
        closed_since=parse_time(issue.get("closed_at")) if closed else None,
        targets=(Target(project, shown or "unknown"),),
    )


def request_headers(settings: GithubSettings) -> dict[str, str]:
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
    if settings.token is not None:
        headers["Authorization"] = f"Bearer {settings.token.get_secret_value()}"
    return headers


async def fetch(http: aiohttp.ClientSession, settings: GithubSettings, ref: Bug) -> Bug:
    found = _ID.fullmatch(ref.id)
    if not found:
        raise NotFound(f"not a GitHub issue: {ref.id!r}")
    org, repo, number = found.groups()
    url = f"{settings.api_url.rstrip('/')}/repos/{org}/{repo}/issues/{number}"
    try:
        issue = await get_json(http, url, headers=request_headers(settings))
    except HttpError as exc:
        if exc.status in (404, 410):
            raise NotFound(f"{ref.id}: no such issue, or a private repository") from None
        if exc.status == 403:
            exc.down = True  # the rate limit, almost always: ask again later, not per issue
        raise
    if not isinstance(issue, Mapping):
        raise NotFound(f"{ref.id}: not an issue")
    return parse_github(ref, f"{org}/{repo}", issue)


# --- writing: comments, their edits, new issues -------------------------------------------


def _repo(ref: Bug) -> tuple[str, str]:
    found = _ID.fullmatch(ref.id)
    if not found:
        raise NotFound(f"not a GitHub issue: {ref.id!r}")
    return f"{found[1]}/{found[2]}", found[3]


def _api(settings: GithubSettings) -> str:
    return settings.api_url.rstrip("/")


async def comment(
    http: aiohttp.ClientSession, settings: GithubSettings, ref: Bug, text: str
) -> Posted:
    """``POST /repos/<org>/<repo>/issues/<n>/comments``."""
    project, number = _repo(ref)
    url = f"{_api(settings)}/repos/{project}/issues/{number}/comments"
    answer = await send(http, "POST", url, headers=request_headers(settings), body={"body": text})
    return _posted(ref, mapping(answer.json()))


async def edit_comment(
    http: aiohttp.ClientSession, settings: GithubSettings, ref: Bug, posted: str, text: str
) -> Posted:
    """``PATCH /repos/<org>/<repo>/issues/comments/<id>``."""
    project, _ = _repo(ref)
    if not posted.isdigit():
        raise NotFound(f"{ref.id}: {posted[:40]!r} is no comment id")
    url = f"{_api(settings)}/repos/{project}/issues/comments/{posted}"
    answer = await send(http, "PATCH", url, headers=request_headers(settings), body={"body": text})
    return _posted(ref, mapping(answer.json()))


def _posted(ref: Bug, body: Mapping[str, Any]) -> Posted:
    comment_id = body.get("id")
    if not isinstance(comment_id, int):
        raise TrackerError(f"{ref.id}: the comment was taken without an id")
    return Posted(str(comment_id), text(body.get("html_url")))


async def file_bug(http: aiohttp.ClientSession, settings: GithubSettings, bug: NewBug) -> Bug:
    """``POST /repos/<org>/<repo>/issues``; the new issue's number and page in the answer."""
    url = f"{_api(settings)}/repos/{bug.project}/issues"
    issue = {"title": bug.title, "body": bug.description, "labels": list(bug.labels)}
    answer = await send(http, "POST", url, headers=request_headers(settings), body=issue)
    body = mapping(answer.json())
    number = body.get("number")
    if not isinstance(number, int):
        raise TrackerError("the new issue was taken without its number")
    page = text(body.get("html_url"))
    default = page == GITHUB_ISSUE.format(project=bug.project, number=number)
    return github(bug.project, str(number), None if default else page)
