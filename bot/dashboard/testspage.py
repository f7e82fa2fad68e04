"""The Tests page (``tests.html``) and the tests a bug's ``test_ids`` name, for its page.

The page lists the tests that failed most in the window (voting jobs), each with its figures
(:class:`bot.intel.tests.TestStats`), the known bugs whose ``test_ids`` name it, and a dated
chart of the builds it failed in per UTC day, every chart on one scale (a test runs in tens of
builds a day and fails in a few: its passes would flatten its failures). Flaky tests (failed
and passed on one change, patchset and job) are marked. The browser filters the rows by job,
project or flakiness (``static/tests.js``); without scripts every row shows.

A refresh asks three small questions, one request each: is there a test-result index at all
(without one the page says so, and nothing more is asked), which tests failed most, and their
days. Everything else is pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from markupsafe import Markup, escape

from bot.dashboard.links import bug_page_href
from bot.dashboard.render import PAGES, environment, utc_text
from bot.dashboard.svg import DAY_MS, Chart, Column, day_ticks, nice_ticks, swatch, time_chart
from bot.intel.test_history import TestDay, daily_series
from bot.intel.tests import TestFilter, TestsReport, TestStats, failing_tests, report_json
from bot.queries import Query
from bot.search.base import SearchBackend
from bot.search.subunit import index_present, strip_attributes

PAGE = "tests.html"
DATA_FILE = "data/tests.json"
#: Tests listed (the most failing ones).
TESTS_SHOWN = 50
#: Pixels of the plot of a test's chart.
CHART_HEIGHT = 56
#: The series of a test's chart (its colour is ``bot.dashboard.svg``'s).
FAILED = "failed"


@dataclass(frozen=True)
class TestsView:
    """What the page is made of: the index asked, and what it answered."""

    __test__ = False  # not a pytest class, whatever its name

    index: str
    days: int
    generated_at: datetime
    present: bool = True  # False: no index of that pattern, nothing else was asked
    report: TestsReport | None = None
    series: Mapping[str, tuple[TestDay, ...]] = field(default_factory=dict)


async def gather_tests(
    backend: SearchBackend, index: str, *, days: int, limit: int = TESTS_SHOWN
) -> TestsView:
    """Ask the search server what the page shows: one request when there is no test-result
    index, three when there is (two when no test failed)."""
    now = datetime.now(UTC)
    if not await index_present(backend, index):
        return TestsView(index, days, now, present=False)
    report = await failing_tests(backend, index, TestFilter(days), limit=limit)
    names = [test.name for test in report.tests]
    series = await daily_series(backend, index, names, days=days, today=now.date())
    return TestsView(index, days, now, report=report, series=series)


# --- what a test looks like on a page: pure -------------------------------------------------


def split_name(name: str) -> tuple[str, str]:
    """``(module, class.method)`` of a test id (its ``[attributes]`` stay with the method), so
    that the part people recognise comes first; ``("", name)`` when it has no such parts."""
    plain = strip_attributes(name)
    parts = plain.rsplit(".", 2)
    if len(parts) < 3 or not all(parts):
        return "", name
    return parts[0], name[len(parts[0]) + 1 :]


def breakable(text: str) -> Markup:
    """``text`` escaped, with a line break allowed after each ``.`` and ``_``: a test id wraps
    between its words on a phone rather than anywhere."""
    return Markup(str(escape(text)).replace(".", ".<wbr>").replace("_", "_<wbr>"))


def rate_text(failures: int, runs: int) -> str:
    """``60%``; ``<1%`` rather than a 0 that hides a failure; ``-`` without a run."""
    if not runs:
        return "-"
    percent = round(100 * failures / runs)
    return "<1%" if failures and percent == 0 else f"{percent}%"


def duration_text(seconds: float | None) -> str:
    """``2.5 s``, ``1 min 05 s``; "" when unknown."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def flaky_title(runs: int) -> str:
    times = "once" if runs == 1 else f"{runs} times"
    return (
        f"failed and passed on the same change, patchset and job ({times} in the window): "
        "a recheck went green"
    )


def figures_of(test: TestStats) -> dict[str, Any]:
    """A test's figures as both pages show them."""
    module, short = split_name(test.name)
    last = test.last_failure
    return {
        "name": test.name,
        "module": breakable(module),
        "short": breakable(short),
        "runs": test.runs,
        "failures": test.failures,
        "rate": rate_text(test.failures, test.runs),
        "flaky": test.flaky,
        "flaky_runs": test.flaky_runs,
        "flaky_title": flaky_title(test.flaky_runs),
        "median": duration_text(test.median_duration),
        "last_url": last.log_url if last else "",
        "last_when": utc_text(last.timestamp) if last else "",
    }


# --- the chart ---------------------------------------------------------------------------------


def _midnight_ms(day: date) -> int:
    return int(datetime.combine(day, time(), UTC).timestamp() * 1000)


def chart_ticks(series: Iterable[Sequence[TestDay]]) -> tuple[int, ...]:
    """The y scale every chart of a page shares: up to the busiest day of any test on it."""
    return nice_ticks(max((day.failures for days in series for day in days), default=0), most=2)


def daily_chart(
    days: Sequence[TestDay], y_ticks: tuple[int, ...], *, height: int = CHART_HEIGHT
) -> Markup:
    """The builds the test failed in per day, on a dated axis and the page's scale."""
    if not days:
        return Markup("")
    columns = tuple(
        Column(_midnight_ms(day.day), _midnight_ms(day.day) + DAY_MS, {FAILED: day.failures})
        for day in days
    )
    start, end = columns[0].start_ms, columns[-1].end_ms
    chart = Chart(
        columns=columns,
        series=(FAILED,),
        y_ticks=y_ticks,
        height=height,
        x_ticks=day_ticks(start, end, most=4),
        label=f"builds the test failed in, per day, {len(days)} days",
        empty=f"0 {FAILED}",
    )
    return time_chart(chart, y_axis_width=32)


def chart_legend() -> Markup:
    """The series' key, once for the page."""
    return Markup(f"{swatch(FAILED, 0)} builds it failed in")


# --- the Tests page ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NamingBug:
    """A known bug whose ``test_ids`` name a test."""

    id: str
    page: str  # href, "" for none
    title: str


def naming_bugs(queries: Iterable[Query], root: str = "") -> dict[str, list[NamingBug]]:
    """The known bugs naming each test (by its id without attributes)."""
    found: dict[str, list[NamingBug]] = {}
    for query in queries:
        for test_id in dict.fromkeys(strip_attributes(t) for t in query.test_ids):
            bug = NamingBug(query.id, bug_page_href(query.id, root), query.title or "")
            found.setdefault(test_id, []).append(bug)
    return found


def page_row(
    test: TestStats, days: Sequence[TestDay], bugs: Sequence[NamingBug], y_ticks: tuple[int, ...]
) -> dict[str, Any]:
    """One test on the Tests page (``y_ticks``: the page's scale)."""
    return {
        **figures_of(test),
        "jobs": test.jobs,
        "projects": test.projects,
        "bugs": bugs,
        "chart": daily_chart(days, y_ticks),
    }


def _choices(rows: Sequence[dict[str, Any]], key: str) -> list[str]:
    return sorted({name for row in rows for name, _ in row[key]})


def render_tests_page(view: TestsView, queries: Sequence[Query] = ()) -> str:
    """``tests.html``: the failing tests with a chart each, or why there are none."""
    tests = view.report.tests if view.report else ()
    named = naming_bugs(queries)
    y_ticks = chart_ticks(view.series.get(t.name, ()) for t in tests)
    rows = [
        page_row(t, view.series.get(t.name, ()), named.get(strip_attributes(t.name), []), y_ticks)
        for t in tests
    ]
    return (
        environment()
        .get_template("tests.html")
        .render(
            pages=PAGES,
            page=PAGE,
            root="",
            title=PAGES[PAGE],
            view=view,
            partial=bool(view.report and view.report.partial),
            generated_at=utc_text(view.generated_at),
            tests=rows,
            jobs=_choices(rows, "jobs"),
            projects=_choices(rows, "projects"),
            legend=chart_legend(),
            data_file=DATA_FILE,
        )
    )


def tests_json(view: TestsView) -> dict[str, Any]:
    """``data/tests.json``: ``recheckbot tests --json``'s list, each test with its projects,
    flaky groups and days (``[day, runs, failures]``), and the index asked."""
    found: dict[str, Any] = {"days": view.days, "tests": []}
    if view.report is not None:
        found = report_json(view.report)
        for shown, test in zip(found["tests"], view.report.tests, strict=True):
            shown["projects"] = dict(test.projects)
            shown["flaky_runs"] = test.flaky_runs
            days = view.series.get(test.name, ())
            shown["series"] = [[d.day.isoformat(), d.runs, d.failures] for d in days]
    partial = bool(view.report and view.report.partial)
    return {**found, "index": view.index, "present": view.present, "partial": partial}


def tests_counts(view: TestsView) -> dict[str, int]:
    """What a refresh of the page counted (``!status``, ``/metrics``)."""
    tests = view.report.tests if view.report else ()
    return {
        "index": int(view.present),
        "tests": len(tests),
        "flaky": sum(1 for test in tests if test.flaky),
    }


# --- a bug's page ------------------------------------------------------------------------------


def bug_test_rows(
    test_ids: Sequence[str], found: Sequence[TestStats] | None
) -> list[dict[str, Any]]:
    """The tests a query's ``test_ids`` name, in the file's order, with their figures: ``ran``
    is False for a test that did not run in the window, None when the figures are unknown
    (``found`` None: they could not be asked)."""
    by_name = {strip_attributes(test.name): test for test in found or ()}
    rows = []
    for test_id in dict.fromkeys(test_ids):
        test = by_name.get(strip_attributes(test_id))
        module, short = split_name(test_id)
        ran = None if found is None else test is not None
        named = {
            "name": test_id,
            "module": breakable(module),
            "short": breakable(short),
            "ran": ran,
        }
        rows.append(figures_of(test) | {"ran": True} if test else named)
    return rows
