"""The classification request and its answer: pure.

One search has a ``filters`` bucket per failed job, the job's latest build inside it, and under
that a ``filters`` aggregation with one named filter per query: the server answers "which queries
hit which job" at once. A ``bucket_selector`` drops the queries that did not hit, so the response
stays small however many queries there are. The same response says whether each job's logs are
complete (the readiness sub-aggregations), so a verdict never needs a second trip.

Each query's bucket also holds a ``top_hits`` of the first lines the query hit in the job's build
(:data:`LINES_PER_QUERY`, only the fields a line is shown with): the *evidence* of the verdict
comes with it, and a query that did not hit costs nothing once pruned.

Where the search server has a test-result index (:mod:`bot.search.subunit`), the request spans
it too (``logstash-*,subunit-*``): a build's test results carry its fields, so they fall in the
same job and build buckets, and the ``t`` filters of queries with ``test_ids`` ask whether one
of those tests has ``test_status: fail`` in that build (ER's subunit2sql check). The queries'
own filters then look at log lines only (``logs``), as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.events.model import FailedBuild, Job
from bot.queries import Query
from bot.queries.compiled import QuerySet
from bot.search.base import Response
from bot.search.lines import LINE_FIELDS, read_hits
from bot.search.subunit import not_test_results
from bot.watch.readiness import job_buckets, jobs_body, parse_job_bucket, readiness_aggs
from bot.watch.verdict import JobVerdict, Verdict

#: Lines kept per failed job and matching query: the first ones it hit, oldest first.
LINES_PER_QUERY = 3


def lines_agg(size: int = LINES_PER_QUERY) -> dict[str, Any]:
    """The first ``size`` lines of a bucket, with only the fields a line is shown with."""
    order = [{"@timestamp": {"order": "asc"}}]
    return {"top_hits": {"size": size, "sort": order, "_source": list(LINE_FIELDS)}}


def query_aggs(queries: QuerySet, *, prune: bool, test_results: bool = False) -> dict[str, Any]:
    """The per-job sub-aggregations of the queries, each query's bucket with its lines
    (``test_results``: the request spans the test-result index too)."""
    aggs = queries.aggs(prune=prune, test_results=test_results)
    if "q" in aggs:
        hits = aggs["q"]
        aggs["q"] = {**hits, "aggs": {**hits.get("aggs", {}), "lines": lines_agg()}}
        if test_results:
            aggs["logs"] = {"filter": not_test_results(), "aggs": {"q": aggs.pop("q")}}
    return aggs


def classify_body(
    build: FailedBuild,
    queries: Sequence[Query] | QuerySet,
    *,
    prune: bool = True,
    test_results: bool = False,
) -> dict[str, Any]:
    """The one request that classifies every failed job of ``build``."""
    return classify_many_body([build], queries, prune=prune, test_results=test_results)


def classify_many_body(
    builds: Sequence[FailedBuild],
    queries: Sequence[Query] | QuerySet,
    *,
    prune: bool = True,
    test_results: bool = False,
) -> dict[str, Any]:
    """One request classifying every failed job of several builds (the query list sent once);
    ``test_results``: to be sent to the log and test-result indices together."""
    jobs = [job for build in builds for job in build.failed_jobs]
    asked = query_aggs(QuerySet.of(queries), prune=prune, test_results=test_results)
    return jobs_body(builds, {**readiness_aggs(jobs), **asked})


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
    hits = _hits((latest.get("logs") or latest).get("q"))
    tested = _hits(latest.get("t"))
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
        lines={q.id: read_hits(hits[q.id].get("lines")) for q in matched},
    )


def _hits(agg: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """The buckets of a ``filters`` answer whose filter hit, by name."""
    if not agg:
        return {}
    buckets: Mapping[str, Mapping[str, Any]] = agg["buckets"]
    return {name: bucket for name, bucket in buckets.items() if int(bucket["doc_count"]) > 0}
