"""``!test <name or substring>``: how often a test failed lately, where, whether it is flaky,
and which known bugs name it (their ``test_ids``).

Bounded like ``!query``: the text is a plain substring of a test id (no wildcards, no spaces,
:data:`MIN_CHARS` characters at least: a short one scans every test name), ``--days`` is capped,
the server searches at most ``chat.search_timeout`` seconds and the command waits a little
longer for its partial answer. One request on the test-result index.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence

from bot.chat.command import CommandError, Context, Rejected, command
from bot.chat.options import days_option, split_options
from bot.chat.reply import Part, bold, link, quoted, rich
from bot.intel.tests import TestFilter, TestsReport, TestStats
from bot.queries import Query
from bot.search.subunit import strip_attributes
from bot.transports.base import Text

MIN_CHARS = 6
MAX_CHARS = 200
#: Tests fetched when the text matches several: the best one is shown, the others counted.
CANDIDATES = 5
JOBS_SHOWN = 3
_PLAIN = re.compile(r"[\w.\-\[\],:()]+")


@command(
    "test",
    usage="<test name or part of it> [--days N]",
    help="failure rate, runs, jobs and last failure of a tempest test, whether it is flaky, "
    "and the known bugs that name it",
    rate=2,
)
async def test(ctx: Context) -> Text:
    text, options = split_options(ctx.args, ("days",))
    days = days_option(ctx, options.get("days"))
    name = check_name(ctx, text)
    selected = TestFilter(days, name=name)
    report = await bounded(
        ctx,
        lambda seconds: ctx.services.tests(
            selected, limit=CANDIDATES, failing_only=False, search_timeout=seconds
        ),
    )
    return format_test(name, report, list(ctx.services.queries()))


def check_name(ctx: Context, text: str) -> str:
    """``text`` as a test-name substring fit to search for; :class:`Rejected` says why not."""
    if not text:
        raise Rejected(ctx.usage())
    if not _PLAIN.fullmatch(text):
        allowed = "letters, digits and . _ - [ ] , : ( )"
        raise Rejected(f"a test name or a part of it ({allowed}), not {quoted(text, 40)}")
    if not MIN_CHARS <= len(text) <= MAX_CHARS:
        raise Rejected(f"give {MIN_CHARS} to {MAX_CHARS} characters of the test's name")
    return text


async def bounded(ctx: Context, ask: Callable[[float], Awaitable[TestsReport]]) -> TestsReport:
    """``ask(server_seconds)`` with the chat's search timeout on the server, and a little more
    here for its partial answer (as ``!query`` does)."""
    seconds = ctx.settings.search_timeout
    grace = seconds + max(1.0, seconds / 2)
    try:
        async with asyncio.timeout(grace):
            return await ask(seconds)
    except TimeoutError:
        raise CommandError(f"the search server did not answer within {grace:g} s") from None


def chosen(name: str, tests: Sequence[TestStats]) -> TestStats | None:
    """The test the user meant: the one named exactly, else the one that failed most."""
    exact = [t for t in tests if name in (t.name, strip_attributes(t.name))]
    return next(iter(exact or tests), None)


def naming(test: TestStats, queries: Sequence[Query]) -> list[Query]:
    """The known queries whose ``test_ids`` name ``test``."""
    wanted = strip_attributes(test.name)
    return [q for q in queries if any(strip_attributes(t) == wanted for t in q.test_ids)]


def format_test(name: str, report: TestsReport, queries: Sequence[Query]) -> Text:
    """Two lines: the figures, then the last failure and the known bugs (pure)."""
    test = chosen(name, report.tests)
    partial = " — partial: the search timed out" if report.partial else ""
    if test is None:
        none = f"no test matching {quoted(name, 60)} ran in the last {report.days} d"
        return rich([none + partial])
    head: list[Part] = [bold(test.name), f" over {report.days} d: "]
    if test.failures:
        head += [bold(f"{test.failures} failed"), f" of {test.runs} runs ({test.failure_rate:.0%})"]
        jobs = ", ".join(f"{job} ({n})" for job, n in test.jobs[:JOBS_SHOWN])
        head.append(f" in {jobs}")
        head.append(" — flaky: it failed and then passed on a recheck" if test.flaky else "")
    else:
        head.append(f"never failed in {test.runs} runs")
    others = len(report.tests) - 1
    if others:
        head.append(f" ({others} more tests match)")
    head.append(partial)
    return rich(head, _tail(test, naming(test, queries)))


def _tail(test: TestStats, known: Sequence[Query]) -> list[Part]:
    tail: list[Part] = []
    if test.last_failure is not None:
        tail += ["last failure: ", link("logs", test.last_failure.log_url), " · "]
    if not known:
        return [*tail, "no known bug names it"]
    tail.append("known bugs: ")
    for n, query in enumerate(known):
        tail += [", " if n else "", bold(query.bug.id)]
        if query.bug.url:
            tail += [" ", link("bug", query.bug.url)]
    return tail
