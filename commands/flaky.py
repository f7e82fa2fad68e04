"""``!flaky [project]``: the flakiest tests this week — those that failed and then passed on a
recheck of the same change, patchset and job, most such rechecks first.

Bounded like ``!query`` (a capped ``--days``, the server's timeout, a plain project name); one
request on the test-result index.
"""

from __future__ import annotations

import re

from bot.chat.command import Context, Rejected, command
from bot.chat.options import days_option, split_options
from bot.chat.reply import Part, bold, link, quoted, rich
from bot.intel.tests import TestFilter, TestsReport, TestStats
from bot.transports.base import Text
from commands.test import bounded

SHOWN = 5
PROJECT_CHARS = 100
_PROJECT = re.compile(r"[\w.\-/]+")


@command(
    "flaky",
    usage="[project] [--days N]",
    help="the flakiest tests this week: failed, then passed on a recheck of the same change",
    rate=2,
)
async def flaky(ctx: Context) -> Text:
    text, options = split_options(ctx.args, ("days",))
    days = days_option(ctx, options.get("days"))
    if text and (not _PROJECT.fullmatch(text) or len(text) > PROJECT_CHARS):
        raise Rejected(f"one project name (nova, openstack/nova), not {quoted(text, 30)}")
    selected = TestFilter(days, project=text or None)
    report = await bounded(
        ctx,
        lambda seconds: ctx.services.flaky(selected, limit=SHOWN, search_timeout=seconds),
    )
    return format_flaky(report, text or None)


def short_name(test: str) -> str:
    """A test's class and method: what people say (``ServersTestJSON.test_create_server``)."""
    return ".".join(test.split("[", 1)[0].rsplit(".", 2)[-2:])


def format_flaky(report: TestsReport, project: str | None) -> Text:
    """A head line, then one line per test, flakiest first (pure)."""
    where = f" in {project}" if project else ""
    partial = " — partial: the search timed out" if report.partial else ""
    if not report.tests:
        return rich([f"no flaky test in the last {report.days} d{where}{partial}"])
    lines: list[list[Part]] = [[bold(f"flakiest tests over {report.days} d{where}"), partial]]
    for n, test in enumerate(report.tests, start=1):
        lines.append([f"{n}. ", bold(short_name(test.name)), ": ", *_figures(test)])
    return rich(*lines)


def _figures(test: TestStats) -> list[Part]:
    rechecks = "recheck" if test.flaky_runs == 1 else "rechecks"
    parts: list[Part] = [
        f"went green on {test.flaky_runs} {rechecks}, failed {test.failures} of {test.runs} "
        f"runs ({test.failure_rate:.0%})"
    ]
    if test.last_failure is not None:
        parts += [" · last failure: ", link("logs", test.last_failure.log_url)]
    return parts
