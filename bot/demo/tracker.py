"""The demo's bug tracker: a local Launchpad API stand-in, so the demo shows titles and statuses
and still never reaches the internet.

It answers ``GET <base>/launchpad/bugs/<id>`` (a bug: its title) and ``…/bug_tasks`` (its one
task: a project and a status) for the bugs of the demo's queries, in the shape of Launchpad's
API (what :mod:`bot.trackers.launchpad` reads), on 127.0.0.1. A bug's title is its query's
``title`` or, the example queries having none, the line its query looks for (what the bug is
about, in the log's own words: no made-up text); its status is one of the open ones, except the
bug of the query that stopped hitting (:data:`bot.demo.data.DEMO_STOPPED_DAYS`), which is fixed.
Jira, Bugzilla and GitHub lookups are pointed here too and find nothing: a query of those
trackers keeps what its file says.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from bot.config.trackers import TrackerSettings
from bot.queries import Query
from bot.search.synth import matching_fields

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
#: Statuses of the demo's open bugs (Launchpad's words), one per bug by its number.
OPEN = ("Confirmed", "Triaged", "In Progress", "New")
FIXED = "Fix Released"
#: The Launchpad project of every demo bug: no example channel routes it, so the tracker's
#: projects leave the demo's routing as docs/routing.md says.
PROJECT = "openstack-gate"
TITLE_CHARS = 80


@dataclass(frozen=True)
class DemoBug:
    id: str
    title: str
    status: str
    closed: datetime | None = None


def demo_bugs(
    queries: Sequence[Query], fixed: str | None = None, now: datetime | None = None
) -> dict[str, DemoBug]:
    """Launchpad bug number → what the stand-in says of it (pure); ``fixed``: the query id whose
    bug was fixed a week ago."""
    now = now or datetime.now(UTC)
    bugs = {}
    for query in queries:
        if query.bug.kind != "launchpad" or not query.bug.tracked:
            continue
        title = query.title or _title(query)
        if query.id == fixed:
            bugs[query.bug.id] = DemoBug(query.bug.id, title, FIXED, now - timedelta(days=7))
        else:
            bugs[query.bug.id] = DemoBug(query.bug.id, title, _open_status(query.bug.id))
    return bugs


def _title(query: Query) -> str:
    said = " ".join(str(matching_fields(query.lucene).get("message", query.id)).split())
    return said if len(said) <= TITLE_CHARS else said[: TITLE_CHARS - 1] + "…"


def _open_status(bug_id: str) -> str:
    return OPEN[int(hashlib.sha1(bug_id.encode()).hexdigest()[:4], 16) % len(OPEN)]


class DemoTracker:
    """The stand-in, running: ``await DemoTracker.start(bugs)``, then :meth:`settings`."""

    def __init__(self, runner: web.AppRunner, base: str) -> None:
        self._runner = runner
        self.base = base

    @classmethod
    async def start(cls, bugs: dict[str, DemoBug]) -> DemoTracker:
        app = web.Application()
        answers = _Launchpad(bugs)
        app.router.add_get("/launchpad/bugs/{id}", answers.bug)
        app.router.add_get("/launchpad/bugs/{id}/bug_tasks", answers.tasks)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, HOST, 0)
        await site.start()
        port = runner.addresses[0][1]
        tracker = cls(runner, f"http://{HOST}:{port}")
        log.info("demo tracker at %s (%d bugs)", tracker.base, len(bugs))
        return tracker

    def settings(self, given: TrackerSettings) -> TrackerSettings:
        """``given`` with every tracker's API here, lookups on: nothing leaves this machine."""
        return given.model_copy(
            update={
                "enabled": True,
                "launchpad": given.launchpad.model_copy(
                    update={"api_url": f"{self.base}/launchpad/"}
                ),
                "jira": given.jira.model_copy(update={"api_url": f"{self.base}/jira"}),
                "bugzilla": given.bugzilla.model_copy(update={"api_url": f"{self.base}/bugzilla"}),
                "github": given.github.model_copy(update={"api_url": f"{self.base}/github"}),
            }
        )

    async def close(self) -> None:
        await self._runner.cleanup()


class _Launchpad:
    """The two Launchpad resources the bot reads, for the demo's bugs."""

    def __init__(self, bugs: dict[str, DemoBug]) -> None:
        self._bugs = bugs

    def _known(self, request: web.Request) -> DemoBug:
        bug = self._bugs.get(request.match_info["id"])
        if bug is None:
            # Launchpad's answer to an anonymous reader for a bug it will not show.
            raise web.HTTPNotFound(text="Object: <lp.bugs.model.bug.Bug>, name: 'x'")
        return bug

    async def bug(self, request: web.Request) -> web.Response:
        bug = self._known(request)
        here = f"{request.scheme}://{request.host}/launchpad/bugs/{bug.id}"
        return web.json_response(
            {
                "id": int(bug.id),
                "title": bug.title,
                "private": False,
                "web_link": f"https://bugs.launchpad.net/bugs/{bug.id}",
                "self_link": here,
                "bug_tasks_collection_link": f"{here}/bug_tasks",
            }
        )

    async def tasks(self, request: web.Request) -> web.Response:
        bug = self._known(request)
        task: dict[str, Any] = {
            "bug_target_name": PROJECT,
            "status": bug.status,
            "is_complete": bug.closed is not None,
            "date_closed": bug.closed.isoformat() if bug.closed else None,
        }
        return web.json_response({"total_size": 1, "start": 0, "entries": [task]})
