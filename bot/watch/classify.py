"""Which known bugs failed a build: every failed job against every query, in one request.

ER ran one search per query per failed job (500 queries × 3 jobs = 1500 round trips). Here one
search carries every failed job of the build and every query, and its answer says which queries
hit which job, whether each job's logs were complete, and the lines each query matched (the
verdict's evidence): see :mod:`bot.watch.classify_request` for the request and its parsing, and
:mod:`bot.watch.verdict` for what comes out.

Semantics are ER's: a query matches a job when its ``query_string`` (default operator AND) hits
one of the job's documents, with ``voting:1`` implied unless ``allow-nonvoting``; queries with
``test_ids`` also need one of those tests to have failed in the job's build. ER asked
subunit2sql; here, where the search server has a test-result index (``search.subunit_index``,
as ci-log-processing writes it), a result with ``test_status: fail`` in that build, asked in
the same request (it spans both indices); where it has none, a line of the job naming one of
the tests next to a failure marker (the console log says the same). Whether the index exists
is asked once, before the first classification (and again hourly while it does not), never per
build. ``suppress-notification`` queries are evaluated but reported apart, never as the job's
bugs.

One query the server refuses would fail every request, since all go in each one: then the
culprit is found by bisecting the queries (a few more requests, only then), set apart with the
server's reason until it changes, and the build classified with the rest.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from bot.config import SearchSettings
from bot.events.model import FailedBuild
from bot.queries import Query
from bot.queries.compiled import FAILURE_MARKERS as FAILURE_MARKERS
from bot.queries.compiled import HITS_ONLY as HITS_ONLY
from bot.queries.compiled import QuerySet as QuerySet
from bot.queries.compiled import failed_tests_lucene as failed_tests_lucene
from bot.queries.store import QueryStore
from bot.search.base import Response, SearchBackend, SearchQueryError
from bot.search.subunit import index_present
from bot.watch.classify_request import LINES_PER_QUERY as LINES_PER_QUERY
from bot.watch.classify_request import classify_body as classify_body
from bot.watch.classify_request import classify_many_body as classify_many_body
from bot.watch.classify_request import job_verdict as job_verdict
from bot.watch.classify_request import parse_classification as parse_classification
from bot.watch.classify_request import parse_many as parse_many
from bot.watch.readiness import ReadinessMonitor, chunks, request_problem
from bot.watch.verdict import JobStatus as JobStatus
from bot.watch.verdict import JobVerdict as JobVerdict
from bot.watch.verdict import Verdict as Verdict

log = logging.getLogger(__name__)

#: Most failed jobs in one classification request when builds are asked for together.
BATCH_JOBS = 100
#: Seconds before asking again whether a test-result index exists, while it does not.
TESTS_RECHECK = 3600.0


class TestResults:
    """Where the test results are, and whether the server has any (asked once; again after
    ``recheck`` seconds while it has none, so an index created later is taken up)."""

    __test__ = False  # not a pytest class, whatever its name

    def __init__(
        self,
        logs: str = "logstash-*",
        tests: str = "subunit-*",
        *,
        recheck: float = TESTS_RECHECK,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logs, self.tests = logs, tests
        self.recheck = recheck
        self._clock = clock
        self._present: bool | None = None
        self._asked = 0.0
        self._lock = asyncio.Lock()

    @classmethod
    def of(cls, settings: SearchSettings) -> TestResults:
        return cls(settings.index, settings.subunit_index)

    @property
    def indices(self) -> str:
        """Both patterns, for a search that spans the logs and the test results."""
        return f"{self.logs},{self.tests}"

    async def present(self, backend: SearchBackend) -> bool:
        """Whether a test-result index exists (one small request when not known)."""
        async with self._lock:
            if self._present or (
                self._present is False and self._clock() - self._asked < self.recheck
            ):
                return self._present
            found = await index_present(backend, self.tests)
            if found != self._present:
                how = "a failed test result" if found else "a failed-test line in the console"
                log.info("test_ids of queries need %s (index %s)", how, self.tests)
            self._present, self._asked = found, self._clock()
            return found


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
        self,
        queries: QueryStore | Sequence[Query] = (),
        *,
        batch_jobs: int = BATCH_JOBS,
        tests: TestResults | None = None,
    ) -> None:
        self._store = queries if isinstance(queries, QueryStore) else QueryStore(queries)
        self._compiled = (-1, QuerySet())
        # Refused by the server: query id -> (its text then, the server's reason).
        self._quarantine: dict[str, tuple[str, str]] = {}
        self._usable: tuple[object, QuerySet] = ((), QuerySet())
        self._bisecting = asyncio.Lock()
        self.batch_jobs = batch_jobs
        # Some clusters forbid inline scripts; then drop the pruning (bigger responses, same
        # verdicts) for the rest of the process.
        self._prune = True
        self._asks: dict[int, tuple[SearchBackend, list[_Ask]]] = {}
        self._flushes: set[asyncio.Task[None]] = set()
        self.requests = 0  # classification round trips made, for metrics and tests
        # Where test_ids are checked in test results; None: always in the console log.
        self.tests = tests

    @property
    def queries(self) -> QuerySet:
        """The store's queries now, with their search filters built (once per version), less
        those the server refused (:attr:`quarantined`)."""
        version, compiled = self._compiled
        if version != self._store.version:
            compiled = QuerySet.of(self._store.queries)
            self._compiled = (self._store.version, compiled)
            self._release(compiled)
        key = (self._store.version, tuple(self._quarantine))
        if self._usable[0] != key:
            usable = [qid for qid in compiled.by_id if qid not in self._quarantine]
            self._usable = (key, compiled.only(usable) if self._quarantine else compiled)
        return self._usable[1]

    @property
    def quarantined(self) -> Mapping[str, str]:
        """Queries left out because the search server refused them: id -> the server's reason.
        A query is tried again once the repo changes it (or it is gone)."""
        self.queries  # noqa: B018  (releases the queries that changed)
        return {qid: reason for qid, (_, reason) in self._quarantine.items()}

    def _release(self, compiled: QuerySet) -> None:
        for qid, (text, _) in list(self._quarantine.items()):
            query = compiled.by_id.get(qid)
            if query is None or query.effective != text:
                del self._quarantine[qid]
                log.info("query %s changed; it is tried again", qid)

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

    async def _target(self, backend: SearchBackend) -> _Target:
        if self.tests is None or not await self.tests.present(backend):
            return _Target(backend, self._prune)
        return _Target(backend, self._prune, self.tests.indices)

    async def _answer(self, asks: list[_Ask], queries: QuerySet, backend: SearchBackend) -> None:
        try:
            target = await self._target(backend)
            verdicts = await self._request([ask.build for ask in asks], queries, target)
        except Exception as exc:
            for ask in asks:
                if not ask.future.done():
                    ask.future.set_exception(exc)
            return
        for ask, verdict in zip(asks, verdicts, strict=True):
            if not ask.future.done():
                ask.future.set_result(verdict)

    async def _request(
        self, builds: list[FailedBuild], queries: QuerySet, target: _Target
    ) -> list[Verdict]:
        self.requests += 1
        try:
            response = await self._search(builds, queries, target)
        except SearchQueryError as exc:
            queries = await self._set_apart(builds, queries, target, exc)
            response = await self._search(builds, queries, replace(target, prune=self._prune))
        return parse_many(builds, queries, response)

    async def _search(
        self, builds: list[FailedBuild], queries: QuerySet, target: _Target
    ) -> Response:
        try:
            return await target.search(builds, queries)
        except SearchQueryError as exc:
            if not target.prune or not _script_refused(exc):
                raise
            # Only once the request without the script is taken was it the script (a query
            # the server refuses may say "script" too: "javascript").
            response = await replace(target, prune=False).search(builds, queries)
            log.warning("search server refused bucket_selector (%s); classifying without it", exc)
            self._prune = False
            return response

    async def _set_apart(
        self,
        builds: list[FailedBuild],
        queries: QuerySet,
        target: _Target,
        refused: SearchQueryError,
    ) -> QuerySet:
        """The queries to classify with once those the server refuses are quarantined; raises
        ``refused`` when no query alone is to blame (the request itself, too many at once)."""
        async with self._bisecting:  # one search for culprits at a time; others reuse it
            if set(queries.by_id) - set(self.queries.by_id):
                return self.queries  # set apart while this request waited
            probe = _Probe(builds, queries, replace(target, prune=self._prune))
            if not await probe.accepted(()):
                raise refused  # refused even without queries: not a query's fault
            culprits = await probe.culprits(list(queries.by_id))
            if not culprits:
                raise refused
            for qid, reason in culprits.items():
                self._quarantine[qid] = (queries.by_id[qid].effective, reason)
                log.error(
                    "query %s left out until it changes: the search server refuses it: %s",
                    *(qid, reason),
                )
            return self.queries


@dataclass(frozen=True)
class _Target:
    """Where a classification request goes, and how it is built."""

    backend: SearchBackend
    prune: bool
    indices: str | None = None  # logs and test results together; None: the logs alone

    async def search(self, builds: list[FailedBuild], queries: QuerySet) -> Response:
        tested = self.indices is not None
        body = classify_many_body(builds, queries, prune=self.prune, test_results=tested)
        return await self.backend.search(body, index=self.indices)


@dataclass
class _Probe:
    """Asks the server about subsets of the queries, to find those it refuses on their own."""

    builds: list[FailedBuild]
    queries: QuerySet
    target: _Target
    reasons: dict[str, str] = field(default_factory=dict)
    requests: int = 0

    async def accepted(self, ids: Sequence[str]) -> bool:
        self.requests += 1
        try:
            await self.target.search(self.builds, self.queries.only(ids))
        except SearchQueryError as exc:
            if len(ids) == 1:
                self.reasons[ids[0]] = _reason(exc)
            return False
        return True

    async def culprits(self, ids: list[str]) -> dict[str, str]:
        """Bisect ``ids`` (refused together): the ones refused alone, with the reasons. Halves
        that are both accepted mean no one query is to blame: nothing is returned for them."""
        if len(ids) == 1:
            if ids[0] not in self.reasons:
                await self.accepted(ids)
            return dict(self.reasons)
        half = len(ids) // 2
        for part in (ids[:half], ids[half:]):
            if not await self.accepted(part):
                await self.culprits(part)
        return dict(self.reasons)


def _reason(exc: SearchQueryError) -> str:
    return _REFUSED.sub("", str(exc), count=1)


_REFUSED = re.compile(r"^search server rejected the request \(\d+\): ")


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
