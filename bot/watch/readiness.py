"""Are a failed build's logs searchable yet? One request answers for every job of many builds.

A job is *ready* when its console log's end marker and the files its kind of job must have are
indexed (ER's rule, INVENTORY §6.2). The request has one ``filters`` bucket per job (the job's
own build, found by whatever the schema indexes: see :func:`bot.search.builds.job_filter`), and
under it a ``filter`` on the end marker and a ``terms`` on the filenames readiness cares about.

:class:`ReadinessMonitor` is the waiting part: each build awaits its own future with its own
deadline, while one loop polls for *all* waiting builds in one round trip per tick. ER polled
each job every 40 s with two searches and the whole bot waited; here 100 waiting builds cost one
request every couple of seconds, and no build waits for another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.core.errors import describe
from bot.events.model import FailedBuild, Job
from bot.search.base import Response, SearchBackend, SearchError, SearchQueryError
from bot.search.builds import CONSOLE_END, build_filter, job_filter, reported, required_files
from bot.search.stats import query_string

log = logging.getLogger(__name__)

#: How long after the report ER waited for logs before saying "not ready" (20 min).
DEFAULT_TIMEOUT = 1200.0
#: Most jobs put in one readiness request body; more go into further bodies of one msearch.
BATCH_JOBS = 100
#: How far in the future an event's time may be (clock skew) before the wait counts from now.
MAX_SKEW = 3600.0

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def readiness_aggs(jobs: Sequence[Job]) -> dict[str, Any]:
    """Sub-aggregations of one build of a job: its end marker and the files readiness needs."""
    wanted = {"job-output.txt", "console.html"}
    for job in jobs:
        wanted |= required_files(job.name)
    names = sorted(wanted)
    return {
        "end": {"filter": query_string(CONSOLE_END)},
        "files": {"terms": {"field": "filename", "include": names, "size": len(names)}},
    }


def job_key(build_index: int, job_index: int) -> str:
    """Bucket name of a job: builds and jobs by position, short and always a safe JSON key."""
    return f"{build_index}.{job_index}"


def jobs_body(builds: Sequence[FailedBuild], per_build: Mapping[str, Any]) -> dict[str, Any]:
    """A request with a bucket per failed job of ``builds`` (named by :func:`job_key`), the
    job's latest build inside it, and ``per_build`` sub-aggregations evaluated in that build."""
    jobs = {
        job_key(b, j): job_filter(build, job)
        for b, build in enumerate(builds)
        for j, job in enumerate(build.failed_jobs)
    }
    return {
        "size": 0,
        "query": {"bool": {"filter": [_any_of([build_filter(b) for b in builds])]}},
        "aggs": {
            "jobs": {"filters": {"filters": jobs}, "aggs": {"build": reported(builds, per_build)}}
        },
    }


def readiness_body(builds: Sequence[FailedBuild]) -> dict[str, Any]:
    """One request that tells, for every failed job of ``builds``, what of its logs is indexed."""
    return jobs_body(builds, readiness_aggs([j for b in builds for j in b.failed_jobs]))


def request_problem(build: FailedBuild) -> str | None:
    """Why ``build``'s part of a request cannot be built (a time no date can hold...), or None.

    A build that cannot be asked about is judged on its own; it must never fail the request
    that asks about the others.
    """
    try:
        build_filter(build)
        for job in build.failed_jobs:
            job_filter(build, job)
    except Exception as exc:  # whatever the filters trip on, it is this build's alone
        return describe(exc)
    return None


def _any_of(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    if len(clauses) == 1:
        return clauses[0]
    return {"bool": {"should": clauses, "minimum_should_match": 1}}


def job_buckets(
    builds: Sequence[FailedBuild], response: Response
) -> list[list[tuple[Job, Mapping[str, Any]]]]:
    """Per build (in order), each failed job with its bucket of a :func:`jobs_body` response."""
    buckets = response["aggregations"]["jobs"]["buckets"]
    return [
        [(job, buckets.get(job_key(b, j), {})) for j, job in enumerate(build.failed_jobs)]
        for b, build in enumerate(builds)
    ]


def chunks(builds: Sequence[FailedBuild], max_jobs: int) -> list[list[FailedBuild]]:
    """``builds`` in order, cut so no chunk has more than ``max_jobs`` failed jobs (unless one
    build alone has more)."""
    found: list[list[FailedBuild]] = [[]]
    jobs = 0
    for build in builds:
        size = len(build.failed_jobs)
        if found[-1] and jobs + size > max_jobs:
            found.append([])
            jobs = 0
        found[-1].append(build)
        jobs += size
    return found


@dataclass(frozen=True)
class JobReadiness:
    """What of one job's logs is indexed."""

    job: Job
    build_uuid: str | None = None  # the build whose logs were found (latest, for name-only jobs)
    ended: bool = False  # the console log's end marker is indexed
    files: frozenset[str] = frozenset()  # of the console and required files, those indexed

    @property
    def missing(self) -> tuple[str, ...]:
        """What readiness still waits for: ``console end marker`` and/or file names."""
        end = () if self.ended else ("console end marker",)
        return end + tuple(sorted(required_files(self.job.name) - self.files))

    @property
    def ready(self) -> bool:
        return not self.missing


def parse_job_bucket(job: Job, bucket: Mapping[str, Any]) -> JobReadiness:
    """Read one job's bucket (the ``build`` terms level under it) of a readiness response."""
    builds = bucket.get("build", {}).get("buckets", [])
    if not builds:
        return JobReadiness(job)
    latest = builds[0]
    return JobReadiness(
        job=job,
        build_uuid=str(latest["key"]),
        ended=int(latest["end"]["doc_count"]) > 0,
        files=frozenset(str(b["key"]) for b in latest["files"]["buckets"] if b["doc_count"]),
    )


def parse_readiness(
    builds: Sequence[FailedBuild], response: Response
) -> list[tuple[JobReadiness, ...]]:
    """Per build (in order), the readiness of each of its failed jobs."""
    return [
        tuple(parse_job_bucket(job, bucket) for job, bucket in jobs)
        for jobs in job_buckets(builds, response)
    ]


async def check_readiness(
    backend: SearchBackend, builds: Sequence[FailedBuild]
) -> list[tuple[JobReadiness, ...]]:
    """Readiness of every failed job of ``builds``, in one round trip (msearch beyond a batch).

    A build no request can be built for (:func:`request_problem`) is left out of it: its jobs
    come back as nothing found.
    """
    searchable = [build for build in builds if request_problem(build) is None]
    found = dict(zip(map(id, searchable), await _check(backend, searchable), strict=True))
    return [
        found.get(id(build), tuple(JobReadiness(job) for job in build.failed_jobs))
        for build in builds
    ]


async def _check(
    backend: SearchBackend, builds: Sequence[FailedBuild]
) -> list[tuple[JobReadiness, ...]]:
    if not builds:
        return []
    parts = chunks(builds, BATCH_JOBS)
    if len(parts) == 1:
        return parse_readiness(builds, await backend.search(readiness_body(builds)))
    responses = await backend.msearch([readiness_body(part) for part in parts])
    found: list[tuple[JobReadiness, ...]] = []
    for part, response in zip(parts, responses, strict=True):
        if "error" in response:
            raise SearchQueryError(f"readiness search failed: {response['error']}")
        found += parse_readiness(part, response)
    return found


@dataclass(frozen=True)
class WaitResult:
    """How waiting for one build's logs ended."""

    ready: bool  # every failed job was ready at the last check
    waited: float  # seconds from the start of the wait to its end
    checks: int  # readiness checks that included this build
    jobs: tuple[JobReadiness, ...] = ()  # as last seen; empty if never checked

    @property
    def not_ready(self) -> tuple[Job, ...]:
        return tuple(j.job for j in self.jobs if not j.ready)


@dataclass(eq=False)
class _Waiter:
    build: FailedBuild
    deadline: float
    started: float
    future: asyncio.Future[WaitResult]
    checks: int = 0
    last: tuple[JobReadiness, ...] = field(default=())


class ReadinessMonitor:
    """Waits for builds' logs; one poll loop checks every waiting build in one round trip.

    ``await monitor.wait(build, deadline=...)`` returns when all of the build's failed jobs are
    ready or the deadline (``clock()`` time) has passed, whichever comes first. The loop starts
    when a build waits and stops when none does; ``close()`` cancels it and releases waiters.
    It polls every ``interval`` seconds: one request covers all waiting builds, so polling does
    not get dearer as builds pile up and needs no per-build backoff (which would only add
    latency). Search errors back the loop off exponentially, up to ``max_interval``.
    """

    def __init__(
        self,
        backend: SearchBackend,
        *,
        interval: float = 2.0,
        max_interval: float = 30.0,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._backend = backend
        self.interval = interval
        self.max_interval = max_interval
        self._clock = clock
        self._sleep = sleep
        self._waiters: list[_Waiter] = []
        self._task: asyncio.Task[None] | None = None
        self.polls = 0  # round trips made, for metrics and tests

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def deadline_for(self, build: FailedBuild, timeout: float) -> float:
        """``timeout`` seconds after the event was created (ER: 20 min), else after now.

        An event time in the future (beyond clock skew) counts from now: the wait must end.
        """
        now = self._clock()
        created = build.created
        if not (math.isfinite(created) and 0 < created <= now + MAX_SKEW):
            created = now
        return created + timeout

    async def wait(self, build: FailedBuild, *, deadline: float) -> WaitResult:
        """Wait until every failed job of ``build`` is ready, or until ``deadline``.

        A deadline that is no time, or a build no request can be built for, ends the wait at
        once, not ready: it would otherwise wait forever, or fail every poll of the others.
        """
        now = self._clock()
        if deadline <= now or not build.failed_jobs:
            return WaitResult(ready=not build.failed_jobs, waited=0.0, checks=0)
        problem = "no deadline" if not math.isfinite(deadline) else request_problem(build)
        if problem is not None:
            log.warning("%s: cannot wait for its logs (%s); judged as it is", build.key, problem)
            return WaitResult(ready=False, waited=0.0, checks=0)
        future: asyncio.Future[WaitResult] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(build, deadline, now, future)
        self._waiters.append(waiter)
        self._ensure_running()
        try:
            return await future
        finally:
            # A cancelled caller stops being polled for.
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="readiness-monitor")

    async def close(self) -> None:
        """Stop polling; builds still waiting get their last known state."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for waiter in list(self._waiters):
            self._finish(waiter, ready=False)

    async def _run(self) -> None:
        delay = self.interval
        while self._waiters:
            self._expire()
            if not self._waiters:
                break
            try:
                await self._poll()
            except SearchError as exc:
                delay = min(max(delay, self.interval) * 2, self.max_interval)
                log.warning("readiness check failed, next in %.0f s: %s", delay, exc)
            except Exception:  # a bug here must not strand every waiting build
                delay = self.max_interval
                log.exception("readiness check crashed, next in %.0f s", delay)
            else:
                delay = self.interval
            if self._waiters:
                await self._sleep(self._until_next(delay))

    def _until_next(self, delay: float) -> float:
        # Wake for the nearest deadline too, so a timed-out build is told promptly.
        nearest = min(w.deadline for w in self._waiters) - self._clock()
        return max(0.0, min(delay, nearest))

    def _expire(self) -> None:
        now = self._clock()
        for waiter in [w for w in self._waiters if w.deadline <= now]:
            self._finish(waiter, ready=False)

    async def _poll(self) -> None:
        waiters = list(self._waiters)
        found = await check_readiness(self._backend, [w.build for w in waiters])
        self.polls += 1
        for waiter, jobs in zip(waiters, found, strict=True):
            waiter.checks += 1
            waiter.last = jobs
            if all(job.ready for job in jobs):
                self._finish(waiter, ready=True)

    def _finish(self, waiter: _Waiter, *, ready: bool) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)
        if not waiter.future.done():
            waited = self._clock() - waiter.started
            result = WaitResult(ready, max(0.0, waited), waiter.checks, waiter.last)
            waiter.future.set_result(result)
