"""Returned bugs: a query whose bug is closed yet still hits failed builds.

Once a day the bot measures every query over the last day (one msearch per ten queries, see
:mod:`bot.intel.quality`), asks the trackers which bugs are closed, and tells the channels that
route each returned bug, once per bug per day (journaled like any delivery).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from bot.intel.quality import BugClosed, check_quality
from bot.queries import Query
from bot.search.base import SearchBackend, SearchError
from bot.transports.base import Room, Text
from bot.watch.messages import format_returned
from bot.watch.routing import Routing, Subject

log = logging.getLogger(__name__)

#: Queue a message for a room under a journal key; says "sent", "already" or "given-up".
Deliver = Callable[[str, Room, Text], Awaitable[tuple[str, str | None]]]

#: Seconds between looks for returned bugs.
INTERVAL = 86400.0


def returned_subject(query: Query) -> Subject:
    """Routing for a bug rather than a change: its team and tracker project, any queue."""
    return Subject(
        server="",
        project=query.bug.project or "",
        queue=None,
        kind="positive",
        teams=(query.owner,) if query.owner else (),
        bug_projects=(query.bug.project,) if query.bug.project else (),
        any_queue=True,
    )


async def announce_returned(
    backend: SearchBackend,
    queries: Sequence[Query],
    bug_closed: BugClosed,
    routing: Routing,
    deliver: Deliver,
    *,
    today: str | None = None,
) -> int:
    """Look once; announce each returned bug to its rooms unless done today. Returns how many.

    The journal key names the bug and the day, so the delivery journal says each room once.
    """
    report = await check_quality(backend, queries, days=1, bug_closed=bug_closed)
    day = today or f"{datetime.now(UTC):%Y-%m-%d}"
    said = 0
    for quality in report.queries:
        if "fixed-but-hitting" not in quality.flags:
            continue
        key = f"returned/{quality.query.id}/{day}"
        for room in routing.rooms_for(returned_subject(quality.query)):
            result, _ = await deliver(
                key,
                room,
                format_returned(
                    quality.query.bug.described(title=quality.query.title), quality.failure
                ),
            )
            said += result == "sent"
    return said


async def watch_returned(
    backend: SearchBackend,
    queries: Callable[[], Sequence[Query]],
    bug_closed: BugClosed,
    routing: Routing,
    deliver: Deliver,
    *,
    interval: float = INTERVAL,
) -> None:
    """Look for returned bugs every ``interval`` seconds until cancelled; failures are logged."""
    while True:
        started = time.monotonic()
        try:
            said = await announce_returned(backend, queries(), bug_closed, routing, deliver)
            if said:
                log.info("announced %d returned bug(s)", said)
        except (SearchError, TimeoutError) as exc:
            log.warning("looking for returned bugs failed: %s", exc)
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
