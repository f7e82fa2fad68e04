"""The write half of the tracker stand-ins (:mod:`tests.support.trackers`): comments, their
edits and new bugs, as each API documents them.

* Launchpad: ``POST bugs/<id>`` with ``ws.op=newMessage`` (201, ``Location`` of the message,
  ``bugs/<id>/comments/<n>``), ``POST bugs/<id>/comments/<n>`` with ``ws.op=editContent`` (200),
  ``POST bugs`` with ``ws.op=createBug`` (201, ``Location`` of the bug). OAuth 1.0 PLAINTEXT
  (``oauth_token``, ``oauth_signature="&<secret>"``) is required: 401 "Unknown access token".
* Jira: ``POST issue/<KEY>/comment`` (201, the comment), ``PUT issue/<KEY>/comment/<id>``
  (200), ``POST issue`` (201, ``id``/``key``/``self``; 400 with ``errors`` without a summary).
  The bearer token is required: 401 with ``errorMessages``.
* GitHub: ``POST repos/<o>/<r>/issues/<n>/comments`` (201), ``PATCH
  repos/<o>/<r>/issues/comments/<id>`` (200), ``POST repos/<o>/<r>/issues`` (201, 422 without a
  title). The token is required: 401 "Requires authentication" / "Bad credentials".
* Bugzilla: ``POST rest/bug/<id>/comment`` (201, ``{"id": n}``); the API key is required.

:meth:`WriteApis.rate_limit` answers a tracker's next writes as its rate limit does: GitHub 403
with ``X-RateLimit-Remaining: 0`` and ``X-RateLimit-Reset``, Jira 429 with ``Retry-After``,
Launchpad and Bugzilla 429 with ``Retry-After``.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aiohttp import web

if TYPE_CHECKING:
    from tests.support.trackers import TrackerStandIn

_OAUTH = re.compile(r'(\w+)="([^"]*)"')


@dataclass
class Comment:
    """A comment as the stand-in keeps it: its id, text now, and every earlier text."""

    id: str
    body: str
    earlier: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Filed:
    tracker: str
    key: str  # the bug key as bot.bugs writes it: launchpad:2000001, jira:OSPRH-1001, ...
    project: str
    title: str
    description: str
    labels: tuple[str, ...]


class WriteApis:
    """The write routes of a :class:`~tests.support.trackers.TrackerStandIn`."""

    def __init__(self, standin: TrackerStandIn) -> None:
        self.standin = standin
        self.comments: dict[str, list[Comment]] = {}  # bug key -> comments, oldest first
        self.filed: list[Filed] = []
        self.limited: dict[str, float] = {}  # tracker -> seconds it asks to wait
        self._ids = itertools.count(5001)
        self._numbers = itertools.count(2000001)

    def routes(self, app: web.Application) -> None:
        add = app.router.add_route
        add("POST", "/launchpad/devel/bugs", self._lp_create)
        add("POST", "/launchpad/devel/bugs/{id}", self._lp_message)
        add("POST", "/launchpad/devel/bugs/{id}/comments/{n}", self._lp_edit)
        add("POST", "/jira/rest/api/2/issue", self._jira_create)
        add("POST", "/jira/rest/api/2/issue/{key}/comment", self._jira_comment)
        add("PUT", "/jira/rest/api/2/issue/{key}/comment/{id}", self._jira_edit)
        add("POST", "/github/repos/{org}/{repo}/issues", self._gh_create)
        add("POST", "/github/repos/{org}/{repo}/issues/{number}/comments", self._gh_comment)
        add("PATCH", "/github/repos/{org}/{repo}/issues/comments/{id}", self._gh_edit)
        add("POST", "/bugzilla/rest/bug/{id}/comment", self._bz_comment)

    # -- test controls -----------------------------------------------------------------------

    def rate_limit(self, tracker: str, retry_after: float = 60.0) -> None:
        self.limited[tracker] = retry_after

    def texts(self, bug_key: str) -> list[str]:
        """The current text of each comment on the bug."""
        return [c.body for c in self.comments.get(bug_key, [])]

    def writes(self, tracker: str | None = None) -> list[Any]:
        """The write requests that reached the stand-in (any answer)."""
        return [r for r in self.standin.asked(tracker) if r.method != "GET"]

    # -- the shared gate: recorded, failed, rate limited, authenticated ----------------------

    async def _gate(self, tracker: str, request: web.Request) -> web.Response | None:
        if early := await self.standin._enter(tracker, request):
            return early
        if (wait := self.limited.get(tracker)) is not None:
            return _rate_limited(tracker, wait)
        return None if self._authorized(tracker, request) else _unauthorized(tracker)

    def _authorized(self, tracker: str, request: web.Request) -> bool:
        s = self.standin
        header = request.headers.get("Authorization", "")
        if tracker == "launchpad":
            fields = dict(_OAUTH.findall(header))
            return bool(s.launchpad_token) and (
                unquote(fields.get("oauth_token", "")) == s.launchpad_token
                and unquote(fields.get("oauth_signature", "")) == f"&{s.launchpad_secret}"
            )
        if tracker == "bugzilla":
            return bool(s.bugzilla_key) and (
                request.headers.get("X-BUGZILLA-API-KEY") == s.bugzilla_key
            )
        token = s.jira_token if tracker == "jira" else s.github_token
        return bool(token) and header == f"Bearer {token}"

    def _add(self, bug_key: str, body: str) -> Comment:
        comment = Comment(str(next(self._ids)), body)
        self.comments.setdefault(bug_key, []).append(comment)
        return comment

    def _find(self, bug_key: str, comment_id: str) -> Comment | None:
        return next((c for c in self.comments.get(bug_key, []) if c.id == comment_id), None)

    # -- Launchpad ---------------------------------------------------------------------------

    async def _lp_message(self, request: web.Request) -> web.Response:
        if early := await self._gate("launchpad", request):
            return early
        form = await request.post()
        number = request.match_info["id"]
        if form.get("ws.op") != "newMessage" or not form.get("content"):
            return web.Response(status=400, text="No such operation, or no content.")
        if number not in self.standin.launchpad:
            return web.Response(status=404, text=f"Object: <BugSet>, name: '{number}'")
        self._add(f"launchpad:{number}", str(form["content"]))
        # Message 0 is the bug's description: the first comment is message 1.
        index = len(self.comments[f"launchpad:{number}"])
        location = f"{self.standin.url('launchpad')}/devel/bugs/{number}/comments/{index}"
        return web.Response(status=201, headers={"Location": location})

    async def _lp_edit(self, request: web.Request) -> web.Response:
        if early := await self._gate("launchpad", request):
            return early
        form = await request.post()
        number, index = request.match_info["id"], request.match_info["n"]
        comments = self.comments.get(f"launchpad:{number}", [])
        if form.get("ws.op") != "editContent" or not form.get("new_content"):
            return web.Response(status=400, text="No such operation, or no new_content.")
        if not index.isdigit() or not 1 <= int(index) <= len(comments):
            return web.Response(status=404, text=f"Object: <Bug {number}>, name: '{index}'")
        comment = comments[int(index) - 1]
        comment.earlier.append(comment.body)
        comment.body = str(form["new_content"])
        return web.json_response(None)

    async def _lp_create(self, request: web.Request) -> web.Response:
        if early := await self._gate("launchpad", request):
            return early
        form = await request.post()
        base = f"{self.standin.url('launchpad')}/devel/"
        target = str(form.get("target", ""))
        if form.get("ws.op") != "createBug" or not target.startswith(base):
            return web.Response(status=400, text="target: not a project of this site.")
        if not form.get("title") or not form.get("description"):
            return web.Response(status=400, text="title: Required input is missing.")
        project = target.removeprefix(base)
        number = str(next(self._numbers))
        tags = tuple(json.loads(str(form.get("tags", "[]"))))
        self.standin.add_launchpad(number, str(form["title"]), [(project, "New", None)])
        self.filed.append(
            Filed(
                "launchpad",
                f"launchpad:{number}",
                project,
                str(form["title"]),
                str(form["description"]),
                tags,
            )
        )
        return web.Response(status=201, headers={"Location": f"{base}bugs/{number}"})

    # -- Jira ----------------------------------------------------------------------------------

    async def _jira_comment(self, request: web.Request) -> web.Response:
        if early := await self._gate("jira", request):
            return early
        key = request.match_info["key"]
        body = (await request.json()).get("body")
        if key not in self.standin.jira:
            return _jira_error(404, ["Issue Does Not Exist"])
        if not body:
            return _jira_error(400, [], {"comment": "Comment body can not be empty!"})
        comment = self._add(f"jira:{key}", body)
        return web.json_response(self._jira_comment_json(key, comment), status=201)

    async def _jira_edit(self, request: web.Request) -> web.Response:
        if early := await self._gate("jira", request):
            return early
        key, comment_id = request.match_info["key"], request.match_info["id"]
        comment = self._find(f"jira:{key}", comment_id)
        if comment is None:
            return _jira_error(404, [f"Can not find a comment for the id: {comment_id}."])
        comment.earlier.append(comment.body)
        comment.body = (await request.json()).get("body", "")
        return web.json_response(self._jira_comment_json(key, comment))

    def _jira_comment_json(self, key: str, comment: Comment) -> dict[str, Any]:
        base = self.standin.url("jira")
        return {
            "self": f"{base}/rest/api/2/issue/{key}/comment/{comment.id}",
            "id": comment.id,
            "author": {"name": "recheckbot", "displayName": "recheckbot"},
            "body": comment.body,
            "created": "2026-01-05T10:00:00.000+0000",
            "updated": "2026-01-05T10:00:00.000+0000",
        }

    async def _jira_create(self, request: web.Request) -> web.Response:
        if early := await self._gate("jira", request):
            return early
        fields = (await request.json()).get("fields", {})
        if not fields.get("summary"):
            return _jira_error(400, [], {"summary": "You must specify a summary of the issue."})
        project = fields.get("project", {}).get("key", "")
        key = f"{project}-{next(self._numbers) - 2000000 + 1000}"
        self.standin.add_jira(key, fields["summary"], "New", "new")
        labels = tuple(fields.get("labels", ()))
        self.filed.append(
            Filed("jira", f"jira:{key}", project, fields["summary"], fields["description"], labels)
        )
        base = self.standin.url("jira")
        return web.json_response(
            {"id": "10100", "key": key, "self": f"{base}/rest/api/2/issue/10100"}, status=201
        )

    # -- GitHub --------------------------------------------------------------------------------

    async def _gh_comment(self, request: web.Request) -> web.Response:
        if early := await self._gate("github", request):
            return early
        m = request.match_info
        project = f"{m['org']}/{m['repo']}"
        if f"{project}#{m['number']}" not in self.standin.github:
            return _github_error(404, "Not Found")
        body = (await request.json()).get("body")
        if not body:
            return _github_error(422, "Validation Failed")
        comment = self._add(f"github:{project}#{m['number']}", body)
        return web.json_response(_github_comment(project, m["number"], comment), status=201)

    async def _gh_edit(self, request: web.Request) -> web.Response:
        if early := await self._gate("github", request):
            return early
        m = request.match_info
        project = f"{m['org']}/{m['repo']}"
        for key, comments in self.comments.items():
            for comment in comments:
                if key.startswith(f"github:{project}#") and comment.id == m["id"]:
                    comment.earlier.append(comment.body)
                    comment.body = (await request.json()).get("body", "")
                    number = key.rpartition("#")[2]
                    return web.json_response(_github_comment(project, number, comment))
        return _github_error(404, "Not Found")

    async def _gh_create(self, request: web.Request) -> web.Response:
        if early := await self._gate("github", request):
            return early
        m = request.match_info
        project = f"{m['org']}/{m['repo']}"
        issue = await request.json()
        if not issue.get("title"):
            return _github_error(422, "Validation Failed")
        number = str(next(self._numbers) - 2000000 + 40)
        self.standin.add_github(project, number, issue["title"], body=issue.get("body"))
        labels = tuple(issue.get("labels", ()))
        self.filed.append(
            Filed(
                "github",
                f"github:{project}#{number}",
                project,
                issue["title"],
                issue.get("body", ""),
                labels,
            )
        )
        return web.json_response(self.standin.github[f"{project}#{number}"], status=201)

    # -- Bugzilla ------------------------------------------------------------------------------

    async def _bz_comment(self, request: web.Request) -> web.Response:
        if early := await self._gate("bugzilla", request):
            return early
        number = request.match_info["id"]
        if number not in self.standin.bugzilla:
            return _bugzilla_error(404, 101, f"Bug #{number} does not exist.")
        comment = self._add(f"bugzilla:{number}", (await request.json()).get("comment", ""))
        return web.json_response({"id": int(comment.id)}, status=201)


def _github_comment(project: str, number: str, comment: Comment) -> dict[str, Any]:
    api = f"https://api.github.com/repos/{project}"
    return {
        "id": int(comment.id),
        "node_id": "IC_kwDOAbCdEf",
        "url": f"{api}/issues/comments/{comment.id}",
        "html_url": f"https://github.com/{project}/issues/{number}#issuecomment-{comment.id}",
        "issue_url": f"{api}/issues/{number}",
        "body": comment.body,
        "user": {"login": "recheckbot", "id": 2, "type": "Bot"},
        "created_at": "2026-01-05T10:00:00Z",
        "updated_at": "2026-01-05T10:00:00Z",
        "author_association": "NONE",
    }


def _jira_error(
    status: int, messages: list[str], errors: dict[str, str] | None = None
) -> web.Response:
    return web.json_response({"errorMessages": messages, "errors": errors or {}}, status=status)


def _github_error(status: int, message: str) -> web.Response:
    docs = "https://docs.github.com/rest/issues"
    return web.json_response({"message": message, "documentation_url": docs}, status=status)


def _bugzilla_error(status: int, code: int, message: str) -> web.Response:
    body = {"error": True, "code": code, "message": message}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def _unauthorized(tracker: str) -> web.Response:
    if tracker == "launchpad":
        return web.Response(status=401, text="Unknown access token (the token you sent).")
    if tracker == "jira":
        text = "You are not authenticated. Authentication required to perform this operation."
        return _jira_error(401, [text])
    if tracker == "github":
        return _github_error(401, "Bad credentials")
    return _bugzilla_error(401, 306, "The API key you specified is invalid.")


def _rate_limited(tracker: str, wait: float) -> web.Response:
    if tracker == "github":
        reset = str(int(time.time() + wait))
        headers = {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset,
        }
        body = {
            "message": "API rate limit exceeded for user ID 2.",
            "documentation_url": "https://docs.github.com/rest/rate-limit",
        }
        return web.json_response(body, status=403, headers=headers)
    headers = {"Retry-After": str(int(wait))}
    if tracker == "jira":
        body = {"errorMessages": ["Rate limit exceeded."], "errors": {}}
        return web.json_response(body, status=429, headers=headers)
    return web.Response(status=429, text="Too Many Requests", headers=headers)
