"""Raw events from every source, converted to failed builds, into the pipeline.

One :meth:`Intake.pump` per source; each counts what it received, so ``!status`` and
``/metrics`` can tell a quiet Gerrit from a stuck connection.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection

from bot.events.model import FailedBuild
from bot.events.parse import Skip
from bot.events.source import EventSource, RawEvent
from bot.watch.pipeline import Pipeline

log = logging.getLogger(__name__)

#: A raw event of any kind → the failed build it reports, or why it is skipped.
Convert = Callable[[RawEvent, Collection[str]], FailedBuild | Skip]


class Intake:
    """Feeds ``pipeline`` from event sources through ``convert``."""

    def __init__(self, pipeline: Pipeline, convert: Convert) -> None:
        self._pipeline = pipeline
        self._convert = convert
        self.received = 0  # events from all sources
        self.last_event: dict[str, float] = {}  # source name → wall time of its last event

    async def pump(self, source: EventSource, ci_accounts: Collection[str]) -> None:
        """Take ``source``'s events until it ends (or the task is cancelled)."""
        async for raw in source.events():
            self.received += 1
            self.last_event[source.name] = time.time()
            result = self._convert(raw, ci_accounts)
            if isinstance(result, Skip):
                log.debug("%s: skipped event: %s", source.name, result.reason)
                continue
            log.info("%s: failed build %s", source.name, result.key)
            await self._pipeline.submit(result)
