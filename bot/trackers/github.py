"""GitHub issues (and pull requests, which the issues API serves too).

``GET <api>/repos/<org>/<repo>/issues/<n>``: ``state`` open/closed, ``state_reason``
(completed, not_planned, …), ``closed_at``. Anonymous reads are rate limited to 60 an hour, so a
token is worth configuring; 403 and 429 are the rate limit speaking and pause all lookups.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import aiohttp

from bot.bugs import Bug, Target
from bot.config.trackers import GithubSettings
from bot.trackers import HttpError, NotFound, get_json, parse_time, text

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
