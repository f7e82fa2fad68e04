"""``recheckbot tests``: the tests that failed most lately, how often, where, and which are flaky.

One aggregation request on the test-result index (:mod:`bot.intel.tests`); ``--suggest`` adds
one msearch on the logs to verify a query with ``test_ids`` for each test that fails often and
that no known query names (:mod:`bot.intel.test_suggest`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated

import typer

from bot.cli.app import Common, command, run_async
from bot.cli.graph import repo_queries
from bot.cli.progress import spinner
from bot.config import Settings
from bot.intel.test_suggest import SAMPLE_BUILDS, TestSuggestion, suggest_tests
from bot.intel.tests import TestFilter, TestsReport, TestStats, failing_tests, report_json
from bot.search import open_backend


@command("tests", help="The tests that failed most in the window, and which of them are flaky.")
def failing_tests_command(
    days: Annotated[int, typer.Option("--days", "-d", min=1, max=365)] = 7,
    job: Annotated[str | None, typer.Option("--job", help="Only jobs this glob names.")] = None,
    project: Annotated[
        str | None, typer.Option("--project", help="Only this project (glob, or short name).")
    ] = None,
    queue: Annotated[str | None, typer.Option("--queue", help="Only this pipeline.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="Tests listed.")] = 20,
    non_voting: Annotated[
        bool, typer.Option("--non-voting", help="Count non-voting jobs too.")
    ] = False,
    subunit_index: Annotated[
        str | None,
        typer.Option("--subunit-index", help="Test-result index pattern [default: subunit-*]."),
    ] = None,
    suggest: Annotated[
        bool, typer.Option("--suggest", help="Propose a verified query for unexplained tests.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    *,
    common: Common,
) -> None:
    settings = common.settings()
    index = subunit_index or settings.search.subunit_index
    selected = TestFilter(days, job, project, queue, non_voting=non_voting)
    with spinner(f"counting test results of the last {days} days"):
        report, suggestions = run_async(_run(settings, index, selected, limit, suggest))
    if as_json:
        shown = report_json(report)
        if suggest:
            shown["suggestions"] = [suggestion_json(s) for s in suggestions]
        print(json.dumps(shown, indent=2))
        return
    print("\n".join(format_tests(report, selected)))
    if suggest:
        print("\n".join(format_suggestions(suggestions)))


async def _run(
    settings: Settings, index: str, selected: TestFilter, limit: int, suggest: bool
) -> tuple[TestsReport, list[TestSuggestion]]:
    queries = repo_queries(settings) if suggest else []
    backend = open_backend(settings.search)
    try:
        uuids = SAMPLE_BUILDS if suggest else 0
        report = await failing_tests(backend, index, selected, limit=limit, uuids=uuids)
        if not suggest:
            return report, []
        found = await suggest_tests(
            backend, report.tests, queries, days=selected.days, queue=selected.queue
        )
        return report, found
    finally:
        await backend.close()


def format_tests(report: TestsReport, selected: TestFilter) -> list[str]:
    """The list as text: a line per test, then its jobs and last failure."""
    which = "all jobs" if selected.non_voting else "voting jobs"
    if not report.tests:
        return [f"No test failed in the last {report.days} days ({which})."]
    lines = [
        f"Tests that failed most in the last {report.days} days ({which}):",
        f"{'failures':>8} {'runs':>6} {'rate':>5} {'median':>8}  test",
    ]
    for test in report.tests:
        lines += _test_lines(test)
    return lines


def _test_lines(test: TestStats) -> list[str]:
    median = "-" if test.median_duration is None else f"{test.median_duration:.1f}s"
    flaky = "  (flaky)" if test.flaky else ""
    jobs = ", ".join(f"{name} ({n})" for name, n in test.jobs)
    lines = [
        f"{test.failures:>8} {test.runs:>6} {test.failure_rate:>5.0%} {median:>8}  "
        f"{test.name}{flaky}",
        f"{'':>32}jobs: {jobs}",
    ]
    if test.last_failure:
        lines.append(f"{'':>32}last: {test.last_failure.log_url}")
    return lines


def suggestion_json(suggestion: TestSuggestion) -> dict[str, object]:
    measured = suggestion.measured
    return {
        "test": suggestion.test.name,
        "verified": suggestion.verified,
        "query": suggestion.query.lucene if suggestion.query else None,
        "yaml": suggestion.yaml or None,
        "reason": suggestion.reason or None,
        "recall": round(measured.recall, 4) if measured else None,
        "success_share": round(measured.success_share, 4) if measured else None,
    }


def format_suggestions(suggestions: Sequence[TestSuggestion]) -> list[str]:
    if not suggestions:
        return ["", "No test fails often without a known query naming it."]
    lines = [""]
    for suggestion in suggestions:
        if suggestion.query is None:
            lines.append(f"{suggestion.test.name}: no query suggested ({suggestion.reason})")
            continue
        lines += [
            f"{suggestion.test.name}: suggested queries/{suggestion.query.id}.yaml",
            *("    " + line for line in suggestion.yaml.splitlines()),
        ]
    return lines
