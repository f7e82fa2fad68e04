"""Bugzilla: ``GET <base>/rest/bug/<id>?include_fields=…`` (the Bugzilla 5 REST API).

A bug is closed when Bugzilla says it is not open (``is_open``; without it: it has a resolution,
Bugzilla's own invariant). Red Hat's instance records ``cf_last_closed``; elsewhere the last
change of a closed bug stands in for its closing date. A bug the reader may not see is error 102
(HTTP 401): shown as ER showed private Launchpad bugs. The API key goes in a header, never in the
URL, so it cannot end up in a log line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp

from bot.bugs import Bug, Target
from bot.config.trackers import BugzillaSettings
from bot.trackers import (
    HttpError,
    NotFound,
    TrackerError,
    get_json,
    mapping,
    parse_time,
    text,
)
from bot.trackers.writing import Posted, send

FIELDS = "id,summary,status,resolution,product,component,is_open,last_change_time,cf_last_closed"
NOT_AUTHORIZED = 102
NO_SUCH_BUG = 101


def parse_bugzilla(ref: Bug, body: Mapping[str, Any]) -> Bug:
    """A ``/rest/bug/<id>`` response → ``ref`` as Bugzilla describes it (pure); :class:`NotFound`
    when it holds no bug."""
    bugs = body.get("bugs")
    if not isinstance(bugs, list) or not bugs:
        raise NotFound("no bug in the response")
    bug = mapping(bugs[0])
    status, resolution = text(bug.get("status")), text(bug.get("resolution"))
    is_open = bug.get("is_open")
    closed = not is_open if isinstance(is_open, bool) else resolution is not None
    # Bugzilla's own phrasing: "CLOSED ERRATA".
    shown = f"{status} {resolution}" if status and resolution else status
    since = parse_time(bug.get("cf_last_closed")) or parse_time(bug.get("last_change_time"))
    components = bug.get("component")
    names = components if isinstance(components, list) else [components]
    targets = tuple(
        Target(name, shown or "Unknown")
        for name in (bug.get("product"), *names)
        if isinstance(name, str) and name
    )
    return ref.described(
        title=text(bug.get("summary")),
        status=shown,
        closed=closed,
        closed_since=since if closed else None,
        targets=targets,
    )


def error_code(body: str) -> int | None:
    """Bugzilla's numeric error code from an error response (``{"error": true, "code": 102}``)."""
    try:
        code = json.loads(body).get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, int) else None


async def fetch(http: aiohttp.ClientSession, settings: BugzillaSettings, ref: Bug) -> Bug:
    if not ref.id.isdigit():
        raise NotFound(f"not a Bugzilla bug number: {ref.id!r}")
    base = (settings.api_url or settings.url).rstrip("/")
    key = settings.api_key
    headers = {"X-BUGZILLA-API-KEY": key.get_secret_value()} if key else {}
    try:
        body = await get_json(
            http, f"{base}/rest/bug/{ref.id}", headers=headers, params={"include_fields": FIELDS}
        )
    except HttpError as exc:
        code = error_code(exc.body)
        if code == NOT_AUTHORIZED or (code is None and exc.status in (401, 403)):
            return ref.hidden()
        if code == NO_SUCH_BUG or exc.status == 404:
            raise NotFound(f"bug {ref.id} does not exist") from None
        raise
    return parse_bugzilla(ref, mapping(body))


async def comment(
    http: aiohttp.ClientSession, settings: BugzillaSettings, ref: Bug, text: str
) -> Posted:
    """``POST /rest/bug/<id>/comment`` (Bugzilla 5 cannot edit a comment afterwards)."""
    if not ref.id.isdigit():
        raise NotFound(f"not a Bugzilla bug number: {ref.id!r}")
    base = (settings.api_url or settings.url).rstrip("/")
    key = settings.api_key
    headers = {"X-BUGZILLA-API-KEY": key.get_secret_value()} if key else {}
    try:
        answer = await send(
            http,
            "POST",
            f"{base}/rest/bug/{ref.id}/comment",
            headers=headers,
            body={"comment": text},
        )
    except HttpError as exc:
        if error_code(exc.body) == NO_SUCH_BUG:
            raise NotFound(f"bug {ref.id} does not exist") from None
        raise
    comment_id = mapping(answer.json()).get("id")
    if not isinstance(comment_id, int):
        raise TrackerError(f"bug {ref.id}: the comment was taken without an id")
    return Posted(str(comment_id), ref.url or None)
