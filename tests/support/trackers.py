"""Local stand-ins for the bug trackers' REST APIs: Launchpad, Jira, Bugzilla and GitHub.

The real services cannot be reached from here (no network), and none of them can be installed, so
tests talk to this instead: a real HTTP server on 127.0.0.1 (aiohttp), so the client under test
runs exactly as in production (TCP, headers, statuses, timeouts). The documents it serves are
written from each API's documented response shapes, field for field where the client reads them,
with a realistic rest around them:

* Launchpad (``/launchpad/devel/``): ``bugs/<id>`` (a bug entry) and ``bugs/<id>/bug_tasks`` (a
  collection: ``total_size``, ``start``, ``entries`` of bug tasks). Private and missing bugs
  answer 404 with Launchpad's plain-text body, as they do for anonymous readers.
* Jira (``/jira/rest/api/2/issue/<KEY>``): an issue with ``fields`` (summary, status with its
  statusCategory, project, resolution, resolutiondate, components); 404 with ``errorMessages``.
* Bugzilla (``/bugzilla/rest/bug/<id>``): ``{"bugs": [...], "faults": []}``; errors are
  ``{"error": true, "code": 101|102, ...}`` with HTTP 404 / 401.
* GitHub (``/github/repos/<org>/<repo>/issues/<n>``): an issue with ``state``, ``state_reason``,
  ``closed_at``; 404 ``{"message": "Not Found"}``.

Writes (comments, their edits, new bugs) are :mod:`tests.support.tracker_writes`, reached as
:attr:`TrackerStandIn.writes`; they always require the tracker's credentials.

Controls: :meth:`fail` (answer every request of a tracker with a status), :meth:`slow` (delay),
:attr:`requests` (what was asked, with the Authorization-like headers seen). Tokens, when set,
are required. Use ``async with TrackerStandIn() as trackers`` in async tests, or
``with TrackerStandIn().running_in_thread() as trackers`` around synchronous CLI runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from bot.config.trackers import TrackerSettings
from tests.support.tracker_writes import WriteApis

HOST = "127.0.0.1"
TRACKERS = ("launchpad", "jira", "bugzilla", "github")


@dataclass(frozen=True)
class Request:
    tracker: str
    path: str
    query: str
    auth: str | None  # Authorization or X-BUGZILLA-API-KEY, as received
    method: str = "GET"


class TrackerStandIn:
    """All four trackers on one loopback port, each under its own path prefix."""

    def __init__(
        self,
        *,
        jira_token: str | None = None,
        github_token: str | None = None,
        bugzilla_key: str | None = None,
        launchpad_token: str | None = None,
        launchpad_secret: str | None = None,
    ) -> None:
        self.jira_token = jira_token
        self.launchpad_token = launchpad_token
        self.launchpad_secret = launchpad_secret
        self.github_token = github_token
        self.bugzilla_key = bugzilla_key
        self.launchpad: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
        self.launchpad_private: set[str] = set()
        self.jira: dict[str, dict[str, Any]] = {}
        self.bugzilla: dict[str, dict[str, Any]] = {}
        self.bugzilla_private: set[str] = set()
        self.github: dict[str, dict[str, Any]] = {}
        self.requests: list[Request] = []
        self.failures: dict[str, int] = {}
        self.delays: dict[str, float] = {}
        self.writes = WriteApis(self)
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> TrackerStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        self._closing = asyncio.Event()
        app = web.Application()
        app.router.add_get("/launchpad/devel/bugs/{id}", self._lp_bug)
        app.router.add_get("/launchpad/devel/bugs/{id}/bug_tasks", self._lp_tasks)
        app.router.add_get("/jira/rest/api/2/issue/{key}", self._jira_issue)
        app.router.add_get("/bugzilla/rest/bug/{id}", self._bz_bug)
        app.router.add_get("/github/repos/{org}/{repo}/issues/{number}", self._gh_issue)
        self.writes.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, HOST, 0).start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._closing is not None:
            self._closing.set()  # slow answers end now, not after their delay
        if self._runner is not None:
            await self._runner.cleanup()

    @contextlib.contextmanager
    def running_in_thread(self) -> Iterator[TrackerStandIn]:
        """Serve from a thread of its own, for code that runs its own event loop (the CLI)."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(self.start(), loop).result(10)
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.close(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()

    def url(self, tracker: str) -> str:
        return f"http://{HOST}:{self.port}/{tracker}"

    def settings(self, **overrides: Any) -> TrackerSettings:
        """Settings whose API URLs point here; the web URLs stay the public ones (bug links)."""
        values: dict[str, Any] = {
            "timeout": 2.0,
            "launchpad": {
                "api_url": self.url("launchpad") + "/devel/",
                "oauth_token": _secret(self.launchpad_token),
                "oauth_token_secret": _secret(self.launchpad_secret),
            },
            "jira": {"api_url": self.url("jira"), "token": _secret(self.jira_token)},
            "bugzilla": {"api_url": self.url("bugzilla"), "api_key": _secret(self.bugzilla_key)},
            "github": {"api_url": self.url("github"), "token": _secret(self.github_token)},
        }
        values.update(overrides)
        return TrackerSettings.model_validate(values)

    # -- test controls -----------------------------------------------------------------------

    def fail(self, tracker: str, status: int = 500) -> None:
        self.failures[tracker] = status

    def slow(self, tracker: str, seconds: float) -> None:
        self.delays[tracker] = seconds

    def heal(self) -> None:
        self.failures.clear()
        self.delays.clear()

    def asked(self, tracker: str | None = None) -> list[Request]:
        return [r for r in self.requests if tracker in (None, r.tracker)]

    # -- data, in the trackers' shapes -------------------------------------------------------

    def add_launchpad(
        self, number: str, title: str, tasks: list[tuple[str, str, str | None]]
    ) -> None:
        """A public bug with tasks ``(target, status, date_closed or None)``."""
        base = self.url("launchpad") + "/devel"
        bug = launchpad_bug(base, number, title)
        entries = [launchpad_task(base, number, *task) for task in tasks]
        self.launchpad[number] = (bug, entries)

    def add_jira(self, key: str, title: str, status: str, category: str, **fields: Any) -> None:
        self.jira[key] = jira_issue(self.url("jira"), key, title, status, category, **fields)

    def add_bugzilla(
        self, number: str, title: str, status: str, resolution: str = "", **f: Any
    ) -> None:
        self.bugzilla[number] = bugzilla_bug(number, title, status, resolution, **f)

    def add_github(self, project: str, number: str, title: str, **fields: Any) -> None:
        self.github[f"{project}#{number}"] = github_issue(project, number, title, **fields)

    # -- handlers ----------------------------------------------------------------------------

    async def _enter(self, tracker: str, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization") or request.headers.get("X-BUGZILLA-API-KEY")
        self.requests.append(
            Request(tracker, request.path, request.query_string, auth, request.method)
        )
        if (delay := self.delays.get(tracker)) and self._closing is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), delay)
        if status := self.failures.get(tracker):
            return web.Response(status=status, text="<html><body>Service Unavailable</body></html>")
        return None

    async def _lp_bug(self, request: web.Request) -> web.Response:
        if early := await self._enter("launchpad", request):
            return early
        number = request.match_info["id"]
        if number in self.launchpad_private or number not in self.launchpad:
            return _launchpad_not_found(number)
        return web.json_response(self.launchpad[number][0])

    async def _lp_tasks(self, request: web.Request) -> web.Response:
        if early := await self._enter("launchpad", request):
            return early
        number = request.match_info["id"]
        if number in self.launchpad_private or number not in self.launchpad:
            return _launchpad_not_found(number)
        entries = self.launchpad[number][1]
        base = self.url("launchpad") + "/devel"
        return web.json_response(
            {
                "total_size": len(entries),
                "start": 0,
                "entries": entries,
                "resource_type_link": f"{base}/#bug_task-page-resource",
            }
        )

    async def _jira_issue(self, request: web.Request) -> web.Response:
        if early := await self._enter("jira", request):
            return early
        if self.jira_token and request.headers.get("Authorization") != f"Bearer {self.jira_token}":
            return web.Response(status=401, text="Unauthorized")
        issue = self.jira.get(request.match_info["key"])
        if issue is None:
            missing = ["Issue Does Not Exist"]
            return web.json_response({"errorMessages": missing, "errors": {}}, status=404)
        return web.json_response(issue)

    async def _bz_bug(self, request: web.Request) -> web.Response:
        if early := await self._enter("bugzilla", request):
            return early
        number = request.match_info["id"]
        if self.bugzilla_key and request.headers.get("X-BUGZILLA-API-KEY") != self.bugzilla_key:
            return _bugzilla_error(401, 306, "The API key you specified is invalid.")
        if number in self.bugzilla_private:
            text = f"You are not authorized to access bug #{number}."
            return _bugzilla_error(401, 102, text)
        if number not in self.bugzilla:
            return _bugzilla_error(404, 101, f"Bug #{number} does not exist.")
        return web.json_response({"bugs": [self.bugzilla[number]], "faults": []})

    async def _gh_issue(self, request: web.Request) -> web.Response:
        if early := await self._enter("github", request):
            return early
        wanted = f"Bearer {self.github_token}"
        if self.github_token and request.headers.get("Authorization") != wanted:
            return web.json_response({"message": "Bad credentials"}, status=401)
        m = request.match_info
        issue = self.github.get(f"{m['org']}/{m['repo']}#{m['number']}")
        if issue is None:
            docs = "https://docs.github.com/rest/issues/issues#get-an-issue"
            return web.json_response(
                {"message": "Not Found", "documentation_url": docs}, status=404
            )
        return web.json_response(issue)


def _secret(value: str | None) -> SecretStr | None:
    return SecretStr(value) if value else None


def _launchpad_not_found(number: str) -> web.Response:
    # What Launchpad says to an anonymous reader, for a missing bug and a private one alike.
    return web.Response(
        status=404, text=f"Object: <lp.bugs.model.bug.BugSet object>, name: '{number}'"
    )


def _bugzilla_error(status: int, code: int, message: str) -> web.Response:
    body = {
        "error": True,
        "code": code,
        "message": message,
        "documentation": "https://bugzilla.readthedocs.io/en/5.0/api/",
    }
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def launchpad_bug(base: str, number: str, title: str) -> dict[str, Any]:
    link = f"{base}/bugs/{number}"
    return {
        "self_link": link,
        "web_link": f"https://bugs.launchpad.net/bugs/{number}",
        "resource_type_link": f"{base}/#bug",
        "id": int(number),
        "title": title,
        "description": f"{title}\n\nSeen in the gate.",
        "private": False,
        "information_type": "Public",
        "security_related": False,
        "tags": ["gate-failure"],
        "heat": 6,
        "date_created": "2014-02-24T19:39:10.612473+00:00",
        "date_last_updated": "2024-03-01T08:00:00.000000+00:00",
        "duplicate_of_link": None,
        "owner_link": f"{base}/~someone",
        "bug_tasks_collection_link": f"{link}/bug_tasks",
        "messages_collection_link": f"{link}/messages",
        "http_etag": '"abc-def"',
    }


def launchpad_task(
    base: str, number: str, target: str, status: str, date_closed: str | None
) -> dict[str, Any]:
    complete = status in {"Fix Released", "Invalid", "Won't Fix", "Opinion", "Expired"}
    return {
        "self_link": f"{base}/{target}/+bug/{number}",
        "web_link": f"https://bugs.launchpad.net/{target}/+bug/{number}",
        "resource_type_link": f"{base}/#bug_task",
        "bug_link": f"{base}/bugs/{number}",
        "target_link": f"{base}/{target}",
        "bug_target_name": target,
        "bug_target_display_name": target.capitalize(),
        "title": f'Bug #{number} in {target.capitalize()}: "..."',
        "status": status,
        "importance": "High",
        "is_complete": complete,
        "assignee_link": None,
        "milestone_link": None,
        "date_created": "2014-02-24T19:39:10.612473+00:00",
        "date_closed": date_closed,
        "date_fix_released": date_closed if status == "Fix Released" else None,
        "date_fix_committed": None,
    }


def jira_issue(
    base: str, key: str, title: str, status: str, category: str, **extra: Any
) -> dict[str, Any]:
    project = key.rsplit("-", 1)[0]
    names = {"new": "To Do", "indeterminate": "In Progress", "done": "Done"}
    fields: dict[str, Any] = {
        "summary": title,
        "status": {
            "self": f"{base}/rest/api/2/status/6",
            "name": status,
            "id": "6",
            "statusCategory": {"id": 3, "key": category, "name": names[category]},
        },
        "project": {"self": f"{base}/rest/api/2/project/1", "id": "1", "key": project},
        "resolution": None,
        "resolutiondate": None,
        "components": [],
    }
    fields.update(extra)
    return {"expand": "renderedFields,names,schema", "id": "10001", "key": key, "fields": fields}


def bugzilla_bug(
    number: str, title: str, status: str, resolution: str, **extra: Any
) -> dict[str, Any]:
    bug: dict[str, Any] = {
        "id": int(number),
        "summary": title,
        "status": status,
        "resolution": resolution,
        "product": "Red Hat OpenStack",
        "component": ["openstack-nova"],
        "is_open": not resolution,
        "last_change_time": "2024-02-01T12:00:00Z",
    }
    bug.update(extra)
    return bug


def github_issue(project: str, number: str, title: str, **extra: Any) -> dict[str, Any]:
    api = f"https://api.github.com/repos/{project}"
    issue: dict[str, Any] = {
        "url": f"{api}/issues/{number}",
        "repository_url": api,
        "html_url": f"https://github.com/{project}/issues/{number}",
        "id": 1000 + int(number),
        "node_id": "I_kwDOAbCdEf",
        "number": int(number),
        "title": title,
        "user": {"login": "someone", "id": 1, "type": "User"},
        "labels": [{"name": "ci-failure"}],
        "state": "open",
        "locked": False,
        "comments": 2,
        "created_at": "2024-01-02T03:04:05Z",
        "updated_at": "2024-02-03T04:05:06Z",
        "closed_at": None,
        "author_association": "MEMBER",
        "state_reason": None,
        "body": "Seen in CI.",
    }
    issue.update(extra)
    return issue
