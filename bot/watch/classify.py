"""Which known bugs failed a build: every failed job against every query, in one request.

ER ran one search per query per failed job (500 queries × 3 jobs = 1500 round trips). Here one
search carries a ``filters`` bucket per failed job, the job's latest build inside it, and under
that a ``filters`` aggregation with one named filter per query: the server answers "which
queries hit which job" at once. A ``bucket_selector`` drops the queries that did not hit, so
the response stays small however many queries there are. The same response says whether each
job's logs are complete (the readiness sub-aggregations), so a verdict never needs a second trip.

Semantics are ER's: a query matches a job when its ``query_string`` (default operator AND) hits
one of the job's documents, with ``voting:1`` implied unless ``allow-nonvoting``; queries with
``test_ids`` also need a line of the job naming one of those tests next to a failure marker
(ER asked subunit2sql; the console log says the same). ``suppress-notification`` queries are
evaluated but reported apart, never as the job's bugs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from bot.events.model import FailedBuild, Job
from bot.queries import Query
from bot.queries.store import QueryStore
from bot.search.base import Response, SearchBackend, SearchQueryError
from bot.search.stats import query_string
from bot.watch.readiness import (
    ReadinessMonitor,
    chunks,
    job_buckets,
    jobs_body,
    parse_job_bucket,
    readiness_aggs,
    request_problem,
)

log = logging.getLogger(__name__)

JobStatus = Literal["classified", "unrecognized", "not-ready"]

#: Keeps only the filters that hit: "params.n > 0" is valid Painless and osmem's dialect.
HITS_ONLY = {
    "hit": {"bucket_selector": {"buckets_path": {"n": "_count"}, "script": "params.n > 0"}}
}
#: Most failed jobs in one classification request when builds are asked for together.
BATCH_JOBS = 100
#: How a test runner marks a failed test on its line (stestr/subunit-trace: ``... FAILED``,
#: testr/unittest: ``FAIL: <id>``).
FAILURE_MARKERS = "(message:FAILED OR message:FAIL)"


def failed_tests_lucene(test_ids: Sequence[str]) -> str:
    """A line that names one of ``test_ids`` and says it failed."""
    named = " OR ".join(f'message:"{_escape_phrase(test_id)}"' for test_id in test_ids)
    return f"({named}) AND {FAILURE_MARKERS}"


def _escape_phrase(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


@dataclass(frozen=True)
class QuerySet:
    """Queries ready to classify with: the per-query filters are built once per load."""

    queries: tuple[Query, ...] = ()
    by_id: Mapping[str, Query] = field(default_factory=dict, repr=False)
    query_filters: Mapping[str, Any] = field(default_factory=dict, repr=False)
    test_filters: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, queries: Sequence[Query] | QuerySet) -> QuerySet:
        if isinstance(queries, QuerySet):
            return queries
        by_id: dict[str, Query] = {}
        for query in queries:
            if query.id in by_id:
                log.warning("query %s is defined twice; using the last one", query.id)
            by_id[query.id] = query
        return cls(
            queries=tuple(by_id.values()),
            by_id=by_id,
            query_filters={q.id: query_string(q.effective) for q in by_id.values()},
            test_filters={
                q.id: query_string(failed_tests_lucene(q.test_ids))
                for q in by_id.values()
                if q.test_ids
            },
        )

    def __len__(self) -> int:
        return len(self.queries)

    def aggs(self, *, prune: bool) -> dict[str, Any]:
        """The per-job sub-aggregations: ``q`` (queries that hit), ``t`` (named tests failed)."""
        found: dict[str, Any] = {}
        for name, filters in (("q", self.query_filters), ("t", self.test_filters)):
            if filters:
                found[name] = {
                    "filters": {"filters": filters},
                    **({"aggs": HITS_ONLY} if prune else {}),
                }
        return found


@dataclass(frozen=True)
class JobVerdict:
    """What one failed job's logs say."""

    job: Job
    bugs: tuple[str, ...] = ()  # ids of the matching queries to announce, sorted
    suppressed: tuple[str, ...] = ()  # matching suppress-notification queries: never announced
    ready: bool = False  # the job's logs were complete when classified
    build_uuid: str | None = None  # the build whose logs were read
    missing: tuple[str, ...] = ()  # what readiness still lacked ("console end marker", files)

    @property
    def status(self) -> JobStatus:
        """``classified`` when a bug matched (even on partial logs: a hit is a hit);
        otherwise ``unrecognized`` if the logs were complete, else ``not-ready``."""
        if self.bugs:
            return "classified"
        return "unrecognized" if self.ready else "not-ready"


@dataclass(frozen=True)
class Verdict:
    """The classification of every failed job of one build."""

    build: FailedBuild
    jobs: tuple[JobVerdict, ...]
    waited: float = 0.0  # seconds spent waiting for logs before classifying

    @property
    def bugs(self) -> tuple[str, ...]:
        """Every announced bug of the build, sorted."""
        return tuple(sorted({bug for job in self.jobs for bug in job.bugs}))

    @property
    def ready(self) -> bool:
        return all(job.ready for job in self.jobs)

    @property
    def not_ready(self) -> tuple[JobVerdict, ...]:
        return tuple(job for job in self.jobs if job.status == "not-ready")


def classify_body(
    build: FailedBuild, queries: Sequence[Query] | QuerySet, *, prune: bool = True
) -> dict[str, Any]:
    """The one request that classifies every failed job of ``build``."""
    return classify_many_body([build], queries, prune=prune)


def classify_many_body(
    builds: Sequence[FailedBuild], queries: Sequence[Query] | QuerySet, *, prune: bool = True
) -> dict[str, Any]:
    """One request classifying every failed job of several builds (the query list sent once)."""
    jobs = [job for build in builds for job in build.failed_jobs]
    return jobs_body(builds, {**readiness_aggs(jobs), **QuerySet.of(queries).aggs(prune=prune)})


def parse_classification(
    build: FailedBuild, queries: Sequence[Query] | QuerySet, response: Response
) -> Verdict:
    """Read :func:`classify_body`'s response into a verdict."""
    return parse_many([build], queries, response)[0]


def parse_many(
    builds: Sequence[FailedBuild], queries: Sequence[Query] | QuerySet, response: Response
) -> list[Verdict]:
    """Read :func:`classify_many_body`'s response: one verdict per build, in order."""
    query_set = QuerySet.of(queries)
    return [
        Verdict(build, tuple(job_verdict(job, query_set, bucket) for job, bucket in jobs))
        for build, jobs in zip(builds, job_buckets(builds, response), strict=True)
    ]


def job_verdict(job: Job, queries: QuerySet, bucket: Mapping[str, Any]) -> JobVerdict:
    """One job's verdict from its bucket (readiness and query hits of its latest build)."""
    readiness = parse_job_bucket(job, bucket)
    builds = bucket.get("build", {}).get("buckets", [])
    latest = builds[0] if builds else {}
    hits = _hit_names(latest.get("q"))
    tested = _hit_names(latest.get("t"))
    matched = [
        query
        for name in hits
        if (query := queries.by_id.get(name)) is not None
        and (not query.test_ids or name in tested)
        # The job's own report is the authority on voting: a query without allow-nonvoting
        # never matches a non-voting job, even if its documents claim voting:1.
        and (job.voting or query.allow_nonvoting)
    ]
    return JobVerdict(
        job=job,
        bugs=tuple(sorted(q.id for q in matched if not q.suppress_notification)),
        suppressed=tuple(sorted(q.id for q in matched if q.suppress_notification)),
        ready=readiness.ready,
        build_uuid=readiness.build_uuid,
        missing=readiness.missing,
    )


def _hit_names(agg: Mapping[str, Any] | None) -> set[str]:
    if not agg:
        return set()
    return {name for name, bucket in agg["buckets"].items() if int(bucket["doc_count"]) > 0}


@dataclass(eq=False)
class _Ask:
    build: FailedBuild
    future: asyncio.Future[Verdict]


class Classifier:
    """Classifies builds against the store's current queries (compiled once per version).

    Builds asked for in the same event-loop turn share one request (up to ``batch_jobs`` failed
    jobs per request, several requests sent at once): a gate reset fails many changes together,
    the readiness monitor releases them together, and the query list then travels, and is
    parsed by the server, once instead of once per build. A lone build is one request as ever.
    """

    def __init__(
        self, queries: QueryStore | Sequence[Query] = (), *, batch_jobs: int = BATCH_JOBS
    ) -> None:
        self._store = queries if isinstance(queries, QueryStore) else QueryStore(queries)
        self._compiled = (-1, QuerySet())
        self.batch_jobs = batch_jobs
        # Some clusters forbid inline scripts; then drop the pruning (bigger responses, same
        # verdicts) for the rest of the process.
        self._prune = True
        self._asks: dict[int, tuple[SearchBackend, list[_Ask]]] = {}
        self._flushes: set[asyncio.Task[None]] = set()
        self.requests = 0  # classification round trips made, for metrics and tests

    @property
    def queries(self) -> QuerySet:
        """The store's queries now, with their search filters built (once per version)."""
        version, compiled = self._compiled
        if version != self._store.version:
            compiled = QuerySet.of(self._store.queries)
            self._compiled = (self._store.version, compiled)
        return compiled

    async def classify(self, build: FailedBuild, backend: SearchBackend) -> Verdict:
        """Every failed job of ``build`` against every query, in one search round trip
        (shared with the other builds asked for at the same moment)."""
        if not build.failed_jobs:
            return Verdict(build, ())
        ask = _Ask(build, asyncio.get_running_loop().create_future())
        pending = self._asks.setdefault(id(backend), (backend, []))[1]
        pending.append(ask)
        if len(pending) == 1:
            flush = asyncio.create_task(self._flush(id(backend)), name="classify-batch")
            self._flushes.add(flush)
            flush.add_done_callback(self._flushes.discard)
        return await ask.future

    async def _flush(self, key: int) -> None:
        await asyncio.sleep(0)  # let the builds released in this same turn join
        backend, asks = self._asks.pop(key)
        live = [ask for ask in asks if not ask.future.done()]  # callers cancelled meanwhile
        live = [ask for ask in live if not _unsearchable(ask)]
        queries = self.queries
        by_build = {id(ask.build): ask for ask in live}
        parts = chunks([ask.build for ask in live], self.batch_jobs)
        await asyncio.gather(
            *(self._answer([by_build[id(b)] for b in part], queries, backend) for part in parts)
        )

    async def _answer(self, asks: list[_Ask], queries: QuerySet, backend: SearchBackend) -> None:
        try:
            verdicts = await self._request([ask.build for ask in asks], queries, backend)
        except Exception as exc:
            for ask in asks:
                if not ask.future.done():
                    ask.future.set_exception(exc)
            return
        for ask, verdict in zip(asks, verdicts, strict=True):
            if not ask.future.done():
                ask.future.set_result(verdict)

    async def _request(
        self, builds: list[FailedBuild], queries: QuerySet, backend: SearchBackend
    ) -> list[Verdict]:
        self.requests += 1
        try:
            response = await backend.search(classify_many_body(builds, queries, prune=self._prune))
        except SearchQueryError as exc:
            if not self._prune or not _script_refused(exc):
                raise
            log.warning("search server refused bucket_selector (%s); classifying without it", exc)
            self._prune = False
            response = await backend.search(classify_many_body(builds, queries, prune=False))
        return parse_many(builds, queries, response)


def _unsearchable(ask: _Ask) -> bool:
    """Answer a build no request can be built for on its own: every job "not ready", with why
    (it must not fail the request of the builds asked for with it)."""
    problem = request_problem(ask.build)
    if problem is None:
        return False
    log.warning("%s: cannot search for its logs (%s); judged not ready", ask.build.key, problem)
    why = (f"a search request ({problem})",)
    jobs = tuple(JobVerdict(job, missing=why) for job in ask.build.failed_jobs)
    ask.future.set_result(Verdict(ask.build, jobs))
    return True


def _script_refused(exc: SearchQueryError) -> bool:
    text = str(exc).lower()
    return "script" in text or "bucket_selector" in text or "painless" in text


async def classify_when_ready(
    build: FailedBuild,
    classifier: Classifier,
    backend: SearchBackend,
    *,
    monitor: ReadinessMonitor | None = None,
    deadline: float | None = None,
) -> Verdict:
    """Wait (with ``monitor``, until ``deadline``) for the build's logs, then classify once.

    Without a monitor or deadline it judges what is indexed now. Jobs whose logs were still
    incomplete come back ``ready=False``, from the classification response itself.
    """
    waited = 0.0
    if monitor is not None and deadline is not None:
        waited = (await monitor.wait(build, deadline=deadline)).waited
    verdict = await classifier.classify(build, backend)
    return replace(verdict, waited=waited)
