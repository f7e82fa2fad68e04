"""Raw events from every source, converted to failed builds, into the pipeline.

One :meth:`Intake.pump` per source; each counts what it received, so ``!status`` and
``/metrics`` can tell a quiet Gerrit from a stuck connection. :func:`keep_positions` saves where
each source was in the journal, so that after a restart it catches up from there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence

from bot.events.model import FailedBuild
from bot.events.parse import Skip
from bot.events.source import EventSource, RawEvent
from bot.state import StateStore
from bot.watch.pipeline import Pipeline

log = logging.getLogger(__name__)

#: Seconds between saves of the sources' positions. A crash loses at most this much of the
#: position, and the catch-up re-reads an overlap anyway (journaled builds are not repeated).
POSITION_INTERVAL = 5.0

#: A raw event of any kind → the failed build it reports, or why it is skipped.
Convert = Callable[[RawEvent, Collection[str]], FailedBuild | Skip]
#: Sees every event with what it was converted to (the impact journal's rechecks and reports).
Observe = Callable[[RawEvent, FailedBuild | Skip, Collection[str]], Awaitable[None]]


class Intake:
    """Feeds ``pipeline`` from event sources through ``convert``."""

    def __init__(
        self, pipeline: Pipeline, convert: Convert, observe: Observe | None = None
    ) -> None:
        self._pipeline = pipeline
        self._convert = convert
        self._observe = observe
        self.received = 0  # events from all sources
        self.last_event: dict[str, float] = {}  # source name → wall time of its last event

    async def pump(self, source: EventSource, ci_accounts: Collection[str]) -> None:
        """Take ``source``'s events until it ends (or the task is cancelled)."""
        async for raw in source.events():
            self.received += 1
            self.last_event[source.name] = time.time()
            result = self._convert(raw, ci_accounts)
            if self._observe is not None:
                await self._observe(raw, result, ci_accounts)
            if isinstance(result, Skip):
                log.debug("%s: skipped event: %s", source.name, result.reason)
                continue
            log.info("%s: failed build %s", source.name, result.key)
            await self._pipeline.submit(result)


async def keep_positions(
    sources: Sequence[EventSource], state: StateStore, *, interval: float = POSITION_INTERVAL
) -> None:
    """Save every source's position every ``interval`` seconds, until cancelled."""
    saved: dict[str, float] = {}
    while True:
        await asyncio.sleep(interval)
        try:
            await save_positions(sources, state, saved)
        except Exception as exc:  # the disk: the next round tries again
            log.warning("saving the sources' positions failed: %s", exc)


async def save_positions(
    sources: Sequence[EventSource], state: StateStore, saved: dict[str, float] | None = None
) -> None:
    """Journal each source's newest ``eventCreatedOn`` that moved since ``saved`` (updated)."""
    saved = {} if saved is None else saved
    moved = {
        source.name: created
        for source in sources
        if (created := source.status.last_created) is not None and created != saved.get(source.name)
    }
    if moved:
        await state.save_positions(moved)
        saved.update(moved)
