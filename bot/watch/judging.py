"""How the pipeline judges one build: (fetch its logs,) wait for them, classify, describe bugs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.config.ingest import IngestSettings
from bot.events.model import FailedBuild
from bot.ingest import IngestError, ingest_build
from bot.search.base import DocumentWriter, SearchBackend, SearchError
from bot.watch.classify import Classifier, classify_when_ready
from bot.watch.outcome import LookUp, Outcome, describe_bugs, outcome_of
from bot.watch.readiness import ReadinessMonitor

log = logging.getLogger(__name__)

#: Fetches and indexes a build's logs before it is judged (``watch.ingest``).
Ingest = Callable[[FailedBuild], Awaitable[None]]


@dataclass(frozen=True)
class Judge:
    """The pipeline's judge: ``await judge(build)`` → what to announce about ``build``."""

    classifier: Classifier
    search: SearchBackend
    monitor: ReadinessMonitor
    look_up: LookUp  # a bug's tracker, for titles and the projects that route it
    wait: float  # seconds after the event to wait for logs (ER: 20 min)
    ingest: Ingest | None = None

    async def __call__(self, build: FailedBuild) -> Outcome:
        if self.ingest is not None:
            await self.ingest(build)
        deadline = self.monitor.deadline_for(build, self.wait)
        verdict = await classify_when_ready(
            build, self.classifier, self.search, monitor=self.monitor, deadline=deadline
        )
        # Tracker titles and projects (for team routing) join the verdict before it is saved.
        outcome = outcome_of(verdict, self.classifier.queries.by_id)
        return await describe_bugs(outcome, self.look_up)


def log_ingest(writer: DocumentWriter, settings: IngestSettings) -> Ingest:
    """Fetch and index each failed job's logs through ``writer`` (sites without a log pipeline)."""

    async def ingest(build: FailedBuild) -> None:
        jobs = [job for job in build.failed_jobs if job.url]
        results = await asyncio.gather(
            *(ingest_build(writer, build, job, settings) for job in jobs),
            return_exceptions=True,
        )
        for job, result in zip(jobs, results, strict=True):
            # A job whose logs cannot be fetched is judged on what is indexed: "not ready".
            if isinstance(result, (IngestError, SearchError, OSError)):
                log.warning("%s: logs of %s not ingested: %s", build.key, job.name, result)
            elif isinstance(result, BaseException):
                raise result

    return ingest
