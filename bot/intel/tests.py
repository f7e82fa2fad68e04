"""Which tests fail, how often, and which are flaky: one aggregation over the test results.

The test-result index (:mod:`bot.search.subunit`) has one document per test and build. One
request (:func:`failing_body`) answers for the tests that failed most in the window, each with:

- ``runs``: distinct builds that ran it and it passed or failed (skips, xfails and unexpected
  successes are no runs); ``failures``: distinct builds where it failed; ``failure_rate``;
- the jobs and the projects it failed in (failures per job, per project), its last failure (the
  build's log URL, uuid and the test's start) and its median duration over those runs (the
  server's 50th percentile: OpenSearch estimates it with a t-digest, exact for a few values;
  between the two middle ones of an even count OpenSearch interpolates where osmem takes the
  upper one);
- ``flaky``: it both failed and passed on the same change, patchset and job in the window — a
  recheck that went green. The server groups each test's results by change, patchset and job
  (the groups with the most failures first: :data:`FLAKY_CHANGES` changes,
  :data:`FLAKY_PATCHSETS` patchsets each, :data:`FLAKY_JOBS` jobs each) and keeps only the
  groups with both outcomes, so the answer stays small.

Only voting jobs count unless told otherwise (ER's ``voting:1``); ``voting`` is the integer
logsender writes. Distinct builds are ``cardinality`` counts, exact up to
:data:`PRECISION` builds per test. Pure but for :func:`failing_tests` and :func:`flaky_report`.

Each daily index ranks its tests (most failures first) and hands the first
:data:`SHARD_TESTS` (or ten times the limit) to the merge: the list is exact while an index
holds no more tests than that. Beyond, a listed test that did not fail in one day's index may
miss that day's runs (its failures, jobs and last failure stay exact): ``--job`` narrows the
tests to those of the jobs that matter (a tempest job runs ~1,500; unit-test jobs many more).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.search.base import Response, SearchBackend
from bot.search.schema import doc_text, log_dir
from bot.search.stats import since
from bot.search.subunit import RAN, test_named

#: Builds counted exactly per test and window (``cardinality``'s precision threshold).
PRECISION = 40000
#: Jobs listed per test (those it failed in most).
JOBS = 50
#: Projects listed per test (those it failed in most).
PROJECTS = 20
#: How far the flaky check looks, per test: changes, patchsets per change, jobs per patchset.
FLAKY_CHANGES = 20
FLAKY_PATCHSETS = 5
FLAKY_JOBS = 10
#: Tests !flaky ranks (the most failing ones; a flaky test has failed at least once).
FLAKY_POOL = 50
#: Tests each index (shard) ranks before the best are merged: see the module's note.
SHARD_TESTS = 1000
_BOTH = "params.failed > 0 && params.passed > 0"
_ANY = "params.n > 0"


@dataclass(frozen=True)
class TestFilter:
    """Which results count: the window and, optionally, the jobs, projects, queue, tests."""

    __test__ = False  # not a pytest class, whatever its name

    days: int = 7
    job: str | None = None  # glob on the job name
    project: str | None = None  # glob on the full name ("openstack/*"), or a short name ("nova")
    queue: str | None = None
    name: str | None = None  # a substring of the test id
    names: tuple[str, ...] = ()  # these tests only (ids, with or without their attributes)
    non_voting: bool = False  # count non-voting jobs too


@dataclass(frozen=True)
class LastFailure:
    """The latest build the test failed in."""

    log_url: str  # the build's log directory
    build_uuid: str
    timestamp: str  # the test's start, as indexed


@dataclass(frozen=True)
class TestStats:
    """One test's figures over the window."""

    __test__ = False

    name: str
    runs: int
    failures: int
    jobs: tuple[tuple[str, int], ...] = ()  # (job, failures), most first
    projects: tuple[tuple[str, int], ...] = ()  # (project, failures), most first
    last_failure: LastFailure | None = None
    median_duration: float | None = None  # seconds
    flaky_runs: int = 0  # (change, patchset, job) groups where it both failed and passed
    failed_builds: tuple[str, ...] = ()  # uuids, newest first, when asked for

    @property
    def failure_rate(self) -> float:
        return self.failures / self.runs if self.runs else 0.0

    @property
    def flaky(self) -> bool:
        return self.flaky_runs > 0


@dataclass(frozen=True)
class TestsReport:
    """The tests of one request, most failures first, then by name."""

    __test__ = False

    days: int
    tests: tuple[TestStats, ...]
    partial: bool = False  # the server stopped at its timeout: counts may be low


# --- the request: pure ------------------------------------------------------------------------


def wildcard_text(text: str) -> str:
    """``text`` with the wildcard query's special characters escaped (matched literally)."""
    return "".join("\\" + c if c in "*?\\" else c for c in text)


def project_clause(project: str) -> dict[str, Any]:
    """Results of projects ``project`` names: a glob on the full name, or the short name."""
    short = {"wildcard": {"project": {"value": "*/" + wildcard_text(project)}}}
    whole = {"wildcard": {"project": {"value": project}}}
    return {"bool": {"should": [whole, short], "minimum_should_match": 1}}


def result_filters(
    selected: TestFilter, *, window: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The clauses every counted result matches: a run in the window (``window``: another
    time filter than the last ``days`` days), of the chosen builds."""
    clauses: list[dict[str, Any]] = [
        window or since(selected.days),
        {"terms": {"test_status": list(RAN)}},
    ]
    if not selected.non_voting:
        clauses.append({"term": {"voting": 1}})
    if selected.job:
        clauses.append({"wildcard": {"build_name": {"value": selected.job}}})
    if selected.project:
        clauses.append(project_clause(selected.project))
    if selected.queue:
        clauses.append({"term": {"build_queue": selected.queue}})
    if selected.name:
        clauses.append({"wildcard": {"test_name": {"value": f"*{wildcard_text(selected.name)}*"}}})
    if selected.names:
        clauses.append(test_named(selected.names))
    return clauses


def _builds() -> dict[str, Any]:
    return {"cardinality": {"field": "build_uuid", "precision_threshold": PRECISION}}


def _failed() -> dict[str, Any]:
    return {"filter": {"term": {"test_status": "fail"}}}


def _most_failed(field: str, size: int, aggs: Mapping[str, Any]) -> dict[str, Any]:
    """A ``terms`` level whose buckets with the most failures come first."""
    order = [{"failed": "desc"}, {"_key": "asc"}]
    terms = {"field": field, "size": size, "order": order}
    return {"terms": terms, "aggs": {"failed": _failed(), **aggs}}


def _keep_nonempty(child: str) -> dict[str, Any]:
    script = {"buckets_path": {"n": f"{child}._bucket_count"}, "script": _ANY}
    return {"any": {"bucket_selector": script}}


def flaky_agg() -> dict[str, Any]:
    """Per test: its (change, patchset, job) groups with both a failure and a pass."""
    both = {"buckets_path": {"failed": "failed>_count", "passed": "passed>_count"}, "script": _BOTH}
    jobs = _most_failed(
        "build_name",
        FLAKY_JOBS,
        {
            "passed": {"filter": {"term": {"test_status": "success"}}},
            "both": {"bucket_selector": both},
        },
    )
    patchsets = _most_failed(
        "build_patchset", FLAKY_PATCHSETS, {"jobs": jobs, **_keep_nonempty("jobs")}
    )
    return _most_failed("build_change", FLAKY_CHANGES, {"ps": patchsets, **_keep_nonempty("ps")})


def per_test_aggs(uuids: int = 0) -> dict[str, Any]:
    """What is computed for each test bucket (``uuids``: also that many uuids of the builds
    it failed in, newest first, for suggestions)."""
    last = {
        "size": 1,
        "sort": [{"@timestamp": {"order": "desc"}}],
        "_source": ["log_url", "filename", "build_uuid", "@timestamp"],
    }
    job_builds = {"builds": _builds()}
    failed = {
        **_failed(),
        "aggs": {
            "builds": _builds(),
            "jobs": {
                "terms": {"field": "build_name", "size": JOBS, "order": [{"builds": "desc"}]},
                "aggs": job_builds,
            },
            "projects": {
                "terms": {"field": "project", "size": PROJECTS, "order": [{"builds": "desc"}]},
                "aggs": job_builds,
            },
            "last": {"top_hits": last},
        },
    }
    if uuids:
        newest = {"field": "build_uuid", "size": uuids, "order": {"newest": "desc"}}
        newest_aggs = {"newest": {"max": {"field": "@timestamp"}}}
        failed["aggs"]["uuids"] = {"terms": newest, "aggs": newest_aggs}
    return {
        "runs": _builds(),
        "failed": failed,
        "duration": {"percentiles": {"field": "test_duration", "percents": [50]}},
        "flaky": flaky_agg(),
    }


def failing_body(selected: TestFilter, limit: int, *, uuids: int = 0) -> dict[str, Any]:
    """The one request: the ``limit`` tests with the most failures, and their figures."""
    order = [{"failed>builds": "desc"}, {"_key": "asc"}]
    # More candidates per shard than asked for: the order is by a sub-aggregation.
    shard = max(limit * 10, SHARD_TESTS)
    terms = {"field": "test_name", "size": limit, "shard_size": shard, "order": order}
    return {
        "size": 0,
        "track_total_hits": False,
        "query": {"bool": {"filter": result_filters(selected)}},
        "aggs": {"tests": {"terms": terms, "aggs": per_test_aggs(uuids)}},
    }


# --- the answer: pure -------------------------------------------------------------------------


def parse_tests(response: Response, days: int, *, failing_only: bool = True) -> TestsReport:
    """The figures of :func:`failing_body`'s answer (``failing_only``: tests that failed)."""
    buckets = response.get("aggregations", {}).get("tests", {}).get("buckets", [])
    found = [parse_test(bucket) for bucket in buckets]
    if failing_only:
        found = [test for test in found if test.failures]
    found.sort(key=lambda test: (-test.failures, test.name))
    return TestsReport(days, tuple(found), partial=bool(response.get("timed_out")))


def parse_test(bucket: Mapping[str, Any]) -> TestStats:
    """One test bucket of the answer."""
    failed = bucket["failed"]
    return TestStats(
        name=str(bucket["key"]),
        runs=int(bucket["runs"]["value"]),
        failures=int(failed["builds"]["value"]),
        jobs=_failures_by(failed["jobs"]),
        projects=_failures_by(failed.get("projects", {})),
        last_failure=_last_failure(failed["last"]),
        median_duration=_median(bucket["duration"]),
        flaky_runs=_flaky_runs(bucket["flaky"]),
        failed_builds=tuple(str(b["key"]) for b in failed.get("uuids", {}).get("buckets", [])),
    )


def _failures_by(terms: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    """``(key, failed builds)`` of a ``terms`` answer, most first, then by name."""
    found = [(str(b["key"]), int(b["builds"]["value"])) for b in terms.get("buckets", [])]
    return tuple(sorted(found, key=lambda item: (-item[1], item[0])))


def _last_failure(top: Mapping[str, Any]) -> LastFailure | None:
    hits = top.get("hits", {}).get("hits", [])
    if not hits:
        return None
    source = hits[0].get("_source", {})
    url = log_dir(doc_text(source, "log_url"), doc_text(source, "filename"))
    return LastFailure(url, doc_text(source, "build_uuid"), doc_text(source, "@timestamp"))


def _median(agg: Mapping[str, Any]) -> float | None:
    values = agg.get("values", {})
    if isinstance(values, list):  # keyed: false
        values = {str(item["key"]): item["value"] for item in values}
    value = next(iter(values.values()), None) if values else None
    return None if value is None else round(float(value), 3)


def _flaky_runs(agg: Mapping[str, Any]) -> int:
    return sum(
        len(patchset["jobs"]["buckets"])
        for change in agg.get("buckets", [])
        for patchset in change["ps"]["buckets"]
    )


def stats_json(test: TestStats) -> dict[str, Any]:
    """One test as ``recheckbot tests --json`` prints it."""
    last = test.last_failure
    return {
        "name": test.name,
        "runs": test.runs,
        "failures": test.failures,
        "failure_rate": round(test.failure_rate, 4),
        "flaky": test.flaky,
        "jobs": dict(test.jobs),
        "last_failure": None
        if last is None
        else {"log_url": last.log_url, "build_uuid": last.build_uuid, "@timestamp": last.timestamp},
        "median_duration": test.median_duration,
    }


def report_json(report: TestsReport) -> dict[str, Any]:
    """``{"days": N, "tests": [...]}``."""
    return {"days": report.days, "tests": [stats_json(test) for test in report.tests]}


def flakiest(report: TestsReport, limit: int) -> TestsReport:
    """The flaky tests of ``report``, most recheck-then-green groups first, then failures."""
    flaky = sorted(
        (test for test in report.tests if test.flaky),
        key=lambda test: (-test.flaky_runs, -test.failures, test.name),
    )
    return replace(report, tests=tuple(flaky[:limit]))


# --- the round trips --------------------------------------------------------------------------


async def failing_tests(
    backend: SearchBackend,
    index: str,
    selected: TestFilter,
    *,
    limit: int = 20,
    failing_only: bool = True,
    search_timeout: float | None = None,
    uuids: int = 0,
) -> TestsReport:
    """The ``limit`` tests with the most failures in ``index`` (a test-result pattern), in
    one request; ``search_timeout``: seconds the server may search before answering with what it
    has (the report is then ``partial``); ``uuids``: failed builds kept per test."""
    body = failing_body(selected, limit, uuids=uuids)
    if search_timeout is not None:
        body["timeout"] = f"{round(search_timeout * 1000)}ms"
    response = await backend.search(body, index=index)
    return parse_tests(response, selected.days, failing_only=failing_only)


async def flaky_report(
    backend: SearchBackend,
    index: str,
    selected: TestFilter,
    *,
    limit: int = 5,
    search_timeout: float | None = None,
) -> TestsReport:
    """The flakiest tests: of the :data:`FLAKY_POOL` most failing, those that failed and
    passed on one change, patchset and job, most such groups first. One request."""
    report = await failing_tests(
        backend, index, selected, limit=FLAKY_POOL, search_timeout=search_timeout
    )
    return flakiest(report, limit)
