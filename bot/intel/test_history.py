"""What the dashboard shows of the tests: a dated series per test, and the tests each known
bug's ``test_ids`` name. One request each, on the test-result index; pure but for the two
coroutines at the end.

The series counts whole calendar days (UTC), today included, like the bug graphs
(:func:`bot.search.stats.since_midnight`): per day, the distinct builds that ran the test
(passed or failed) and those where it failed. Days without a run are there, with zeros.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.intel.tests import (
    TestFilter,
    TestStats,
    failing_tests,
    result_filters,
)
from bot.queries import Query
from bot.search.base import Response, SearchBackend
from bot.search.stats import since_midnight
from bot.search.subunit import strip_attributes

_DISTINCT = {"cardinality": {"field": "build_uuid", "precision_threshold": 40000}}


@dataclass(frozen=True)
class TestDay:
    """One day of a test's series."""

    __test__ = False

    day: date
    runs: int
    failures: int


def history_body(names: Sequence[str], selected: TestFilter) -> dict[str, Any]:
    """Per test of ``names`` and per day of the window: its runs and failures."""
    picked = replace(selected, names=tuple(names))
    clauses = result_filters(picked, window=since_midnight(selected.days))
    per_day = {
        "runs": _DISTINCT,
        "failed": {"filter": {"term": {"test_status": "fail"}}, "aggs": {"builds": _DISTINCT}},
    }
    histogram = {"field": "@timestamp", "calendar_interval": "1d", "min_doc_count": 1}
    return {
        "size": 0,
        "track_total_hits": False,
        "query": {"bool": {"filter": clauses}},
        "aggs": {
            "tests": {
                "terms": {"field": "test_name", "size": max(2 * len(names), 1)},
                "aggs": {"days": {"date_histogram": histogram, "aggs": per_day}},
            }
        },
    }


def window_days(days: int, today: date) -> list[date]:
    """The calendar days of the window, oldest first, ``today`` last."""
    return [today - timedelta(days=n) for n in range(days - 1, -1, -1)]


def parse_history(
    response: Response, names: Sequence[str], days: int, today: date
) -> dict[str, tuple[TestDay, ...]]:
    """Each of ``names`` (as asked, attributes or not) with a :class:`TestDay` per day."""
    wanted = {strip_attributes(name): name for name in names}
    counts: dict[str, dict[date, tuple[int, int]]] = {name: {} for name in names}
    for bucket in response.get("aggregations", {}).get("tests", {}).get("buckets", []):
        name = wanted.get(strip_attributes(str(bucket["key"])))
        if name is None:
            continue
        for day in bucket["days"]["buckets"]:
            when = datetime.fromtimestamp(int(day["key"]) / 1000, UTC).date()
            runs, failures = counts[name].get(when, (0, 0))
            found = (int(day["runs"]["value"]), int(day["failed"]["builds"]["value"]))
            counts[name][when] = (runs + found[0], failures + found[1])
    return {
        name: tuple(TestDay(d, *counts[name].get(d, (0, 0))) for d in window_days(days, today))
        for name in names
    }


def tests_of_bugs(
    queries: Sequence[Query], tests: Sequence[TestStats]
) -> dict[str, tuple[TestStats, ...]]:
    """Per query with ``test_ids``: the figures of the tests it names (those that ran)."""
    by_name = {strip_attributes(test.name): test for test in tests}
    found: dict[str, tuple[TestStats, ...]] = {}
    for query in queries:
        named = [by_name.get(strip_attributes(test_id)) for test_id in query.test_ids]
        if query.test_ids:
            found[query.id] = tuple(test for test in named if test is not None)
    return found


async def daily_series(
    backend: SearchBackend,
    index: str,
    names: Sequence[str],
    *,
    days: int,
    selected: TestFilter | None = None,
    today: date | None = None,
) -> dict[str, tuple[TestDay, ...]]:
    """A dated series per test of ``names`` (every day of the window, oldest first), for the
    charts of the Tests page; ``selected`` narrows the builds (job, project, queue)."""
    if not names:
        return {}
    chosen = replace(selected or TestFilter(), days=days)
    response = await backend.search(history_body(names, chosen), index=index)
    return parse_history(response, names, days, today or datetime.now(UTC).date())


async def bug_tests(
    backend: SearchBackend, index: str, queries: Sequence[Query], *, days: int
) -> Mapping[str, tuple[TestStats, ...]]:
    """For each query with ``test_ids`` (by id): the tests it names, with their failure rate
    and the rest (:class:`TestStats`), for the bug pages. One request for all of them."""
    ids = sorted({test_id for query in queries for test_id in query.test_ids})
    if not ids:
        return {}
    selected = TestFilter(days, names=tuple(ids))
    report = await failing_tests(backend, index, selected, limit=2 * len(ids), failing_only=False)
    return tests_of_bugs(queries, report.tests)
