"""The demo's test results: what ci-log-processing would have indexed of its builds' tempest
runs (:func:`bot.search.subunit_demo.demo_results`), and the runs developers' rechecks started.

Each job that runs tempest (:func:`bot.demo.choices.runs_tempest`) has a run of the usual tests
and of those the queries' ``test_ids`` name. They pass, but where a known bug with ``test_ids``
failed the job, one of its tests fails (the one the console names: ``DemoJob.failed_tests``),
and in any failed job the flaky tests fail now and then. A passing job's tests all pass, as a
green build's do; some tests are always skipped, one is an expected failure.

The older failures the journaled history says a developer rechecked
(:func:`bot.demo.history.history`) ran again a little later, and passed: a flaky test that had
failed then went green on the same change, patchset and job, which is what makes it flaky. The
re-runs are builds like the others (clean logs, test results); pure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.demo.choices import runs_tempest
from bot.demo.data import DemoBuildset, DemoData, DemoJob, job_documents
from bot.demo.history import history
from bot.queries import Query
from bot.search.subunit import strip_attributes
from bot.search.subunit_demo import TEMPEST_TESTS, demo_results

#: What the results are seeded with (with each build's uuid).
SEED = "demo"
#: How often a flaky test fails in a failed job.
FLAKY_RATE = 0.15
#: From a buildset's start to its tempest run's.
TESTS_AFTER = timedelta(minutes=2)
#: From a recheck to the re-run, and how long before now a re-run must have started (its tests
#: all done: a tempest run of the demo takes well under an hour).
RERUN_AFTER = timedelta(minutes=10)
RERUN_DONE = timedelta(hours=1)


def demo_tests(queries: Sequence[Query]) -> tuple[str, ...]:
    """The tests of a demo tempest run: the usual ones, then those the queries name."""
    named = (strip_attributes(test) for query in queries for test in query.test_ids)
    return tuple(dict.fromkeys([*TEMPEST_TESTS, *named]))


def job_results(buildset: DemoBuildset, job: DemoJob, tests: Sequence[str]) -> list[dict[str, Any]]:
    """The test results of one job (none when it runs no tempest)."""
    if not runs_tempest(job.name):
        return []
    # Test results are in logsender's layout, whatever the logs' (:mod:`bot.search.subunit`).
    console = next(job_documents(replace(buildset, schema="logsender"), job))
    return demo_results(
        console,
        buildset.started + TESTS_AFTER,
        failed=job.failed_tests,
        seed=SEED,
        flaky_rate=FLAKY_RATE if job.status == "FAILURE" else 0.0,
        tests=tests,
    )


def tempest_results(data: DemoData, queries: Sequence[Query]) -> Iterator[dict[str, Any]]:
    """The test results of every job of ``data`` that runs tempest."""
    tests = demo_tests(queries)
    for buildset in data.buildsets:
        for job in buildset.jobs:
            yield from job_results(buildset, job, tests)


def rerun(buildset: DemoBuildset, started: datetime) -> DemoBuildset:
    """The buildset run again from ``started`` after a recheck: every job, and all pass."""
    return replace(
        buildset,
        started=started,
        jobs=tuple(
            replace(
                job,
                uuid=hashlib.sha1(f"{job.uuid}/recheck".encode()).hexdigest()[:32],
                status="SUCCESS",
                bug=None,
                extra={},
                failed_tests=(),
            )
            for job in buildset.jobs
        ),
    )


def with_reruns(
    data: DemoData, replayed: Sequence[DemoBuildset], queries: Sequence[Query], now: datetime
) -> DemoData:
    """``data`` and the re-runs of the failures the history rechecked (those done by ``now``)."""
    _, rechecks = history(data, replayed, queries, now)
    failed = {(b.change, b.patchset): b for b in data.failed()}
    reruns = []
    for recheck in rechecks:
        started = datetime.fromtimestamp(recheck.created, UTC) + RERUN_AFTER
        original = failed.get((recheck.change, recheck.patchset))
        if original is not None and started + RERUN_DONE < now:
            reruns.append(rerun(original, started))
    buildsets = sorted([*data.buildsets, *reruns], key=lambda b: b.started)
    return DemoData(tuple(buildsets))
