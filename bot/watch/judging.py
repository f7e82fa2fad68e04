"""How the app judges one build: (ingest its logs,) wait for them, classify, look bugs up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.config import Settings
from bot.events.model import FailedBuild
from bot.ingest import IngestError, ingest_build
from bot.search.base import SearchBackend, SearchError
from bot.search.breaker import GuardedBackend
from bot.search.opensearch import OpenSearchBackend
from bot.trackers.client import TrackerClient
from bot.watch.classify import Classifier, classify_when_ready
from bot.watch.outcome import Outcome, describe_bugs, outcome_of
from bot.watch.pipeline import Judge
from bot.watch.readiness import ReadinessMonitor

log = logging.getLogger(__name__)

Ingest = Callable[[FailedBuild], Awaitable[None]]


def make_judge(
    settings: Settings,
    classifier: Classifier,
    backend: SearchBackend,
    monitor: ReadinessMonitor,
    trackers: TrackerClient,
) -> Judge:
    """The pipeline's judge for these clients."""
    ingest = make_ingest(settings, backend) if settings.watch.ingest else None

    async def judge(build: FailedBuild) -> Outcome:
        if ingest is not None:
            await ingest(build)
        deadline = monitor.deadline_for(build, settings.watch.wait)
        verdict = await classify_when_ready(
            build, classifier, backend, monitor=monitor, deadline=deadline
        )
        # Tracker titles and projects (for team routing) join the verdict before it is saved.
        return await describe_bugs(outcome_of(verdict, classifier.queries.by_id), trackers.info)

    return judge


def make_ingest(settings: Settings, backend: SearchBackend) -> Ingest | None:
    """Fetch and index each failed job's logs (``watch.ingest``), on an OpenSearch server."""
    inner = backend.inner if isinstance(backend, GuardedBackend) else backend
    if not isinstance(inner, OpenSearchBackend):
        log.warning("watch.ingest needs the opensearch backend (writes go through its client)")
        return None
    client = inner.client

    async def ingest(build: FailedBuild) -> None:
        jobs = [job for job in build.failed_jobs if job.url]
        results = await asyncio.gather(
            *(ingest_build(client, build, job, settings.ingest) for job in jobs),
            return_exceptions=True,
        )
        for job, result in zip(jobs, results, strict=True):
            # A job whose logs cannot be fetched is judged on what is indexed: "not ready".
            if isinstance(result, (IngestError, SearchError, OSError)):
                log.warning("%s: logs of %s not ingested: %s", build.key, job.name, result)
            elif isinstance(result, BaseException):
                raise result

    return ingest
