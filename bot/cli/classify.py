"""``recheckbot classify EVENT.json``: what the bot would say about one Gerrit event."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.app import Common, UserError, command, run_async
from bot.cli.progress import spinner
from bot.config import Settings
from bot.events.model import FailedBuild
from bot.events.parse import Skip, parse_event
from bot.events.source import RawEvent
from bot.queries import Query, load_queries
from bot.queries.compiled import QuerySet
from bot.search import open_backend
from bot.search.lines import LogLine
from bot.watch.classify import (
    Classifier,
    JobVerdict,
    TestResults,
    Verdict,
    classify_when_ready,
)
from bot.watch.readiness import DEFAULT_TIMEOUT, ReadinessMonitor

log = logging.getLogger(__name__)

#: Accounts whose comments count as CI reports when no Gerrit server is configured.
DEFAULT_CI_ACCOUNTS = ("zuul", "jenkins")
#: Longest --wait (a day): any longer is no wait a person means.
MAX_WAIT = 86400.0


@command("classify", help="Classify the failed jobs of one Gerrit event (a stream-events line).")
def classify_command(
    event: Annotated[Path, typer.Argument(help="File with one event JSON object ('-': stdin).")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    wait: Annotated[
        float | None,
        typer.Option(
            "--wait",
            min=0,
            max=MAX_WAIT,
            help="Seconds to wait for the logs; 0 judges what is indexed now "
            "[default: until 20 min after the event].",
        ),
    ] = None,
    server: Annotated[
        str | None, typer.Option("--server", help="Name of the Gerrit server it came from.")
    ] = None,
    ci_account: Annotated[
        list[str] | None,
        typer.Option("--ci-account", help="CI account whose reports count (repeatable)."),
    ] = None,
    *,
    common: Common,
) -> None:
    settings = common.settings()
    name, accounts = ci_accounts_for(settings, server, ci_account)
    build = failed_build(read_event(event), name, accounts)
    queries = load_repo(settings.queries)
    with spinner(f"classifying {len(build.failed_jobs)} failed jobs"):
        verdict = run_async(_classify(settings, build, queries, wait))
    if as_json:
        print(json.dumps(verdict_json(verdict), indent=2))
    else:
        print("\n".join(format_verdict(verdict, QuerySet.of(queries))))


def read_event(path: Path) -> Mapping[str, Any]:
    """The one JSON object in ``path`` (a stream-events line, or pretty-printed)."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":
            raise UserError(f"{path}: holds more than one JSON value; give one event") from None
        raise UserError(f"{path}: not JSON: {exc.msg} (line {exc.lineno})") from None
    except RecursionError:
        raise UserError(f"{path}: JSON nested too deeply for an event") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: holds a JSON {type(data).__name__}, not one event object")
    return data


def ci_accounts_for(
    settings: Settings, server: str | None, given: Sequence[str] | None
) -> tuple[str, list[str]]:
    """The server name to file the event under and the CI accounts whose reports count."""
    servers = [s for s in settings.gerrit if server is None or s.name == server]
    name = server or (settings.gerrit[0].name if settings.gerrit else "gerrit")
    if given:
        return name, list(given)
    accounts = sorted({user for s in servers for user in s.ci_usernames})
    return name, accounts or list(DEFAULT_CI_ACCOUNTS)


def failed_build(data: Mapping[str, Any], server: str, accounts: Sequence[str]) -> FailedBuild:
    found = parse_event(RawEvent(server=server, data=data), ci_accounts=accounts)
    if isinstance(found, Skip):
        raise UserError(f"not a failed build: {found.reason}")
    return found


def load_repo(path: Path) -> list[Query]:
    if not path.is_dir():
        raise UserError(f"{path}: no such query directory (see --queries)")
    repo = load_queries(path)
    for problem in repo.problems:
        log.warning("query skipped: %s", problem)
    return list(repo.queries)


async def _classify(
    settings: Settings, build: FailedBuild, queries: list[Query], wait: float | None
) -> Verdict:
    backend = open_backend(settings.search)
    monitor = ReadinessMonitor(backend)
    try:
        if wait is None:
            deadline = monitor.deadline_for(build, DEFAULT_TIMEOUT)
        else:
            deadline = time.time() + wait
        classifier = Classifier(queries, tests=TestResults.of(settings.search))
        return await classify_when_ready(
            build, classifier, backend, monitor=monitor, deadline=deadline
        )
    finally:
        await monitor.close()
        await backend.close()


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    """The ``--json`` shape of DESIGN.md; ``bugs`` empty means unrecognized. ``evidence``: per
    matching query (suppressed ones too), the first lines it matched in the job."""
    build = verdict.build
    return {
        "change": build.change,
        "patchset": build.patchset,
        "project": build.project,
        "jobs": [
            {
                "name": job.job.name,
                "url": job.job.url,
                "voting": job.job.voting,
                "ready": job.ready,
                "bugs": list(job.bugs),
                "evidence": {qid: list(map(line_json, found)) for qid, found in job.lines.items()},
            }
            for job in verdict.jobs
        ],
    }


def line_json(line: LogLine) -> dict[str, Any]:
    """A matched log line: its text (cut, control characters dropped), file, URL and time."""
    return {"message": line.message, "file": line.file, "url": line.url, "logged": line.logged}


def format_verdict(verdict: Verdict, queries: QuerySet) -> list[str]:
    """A readable summary: the build, then one line per failed job."""
    build = verdict.build
    queue = f" ({build.queue} queue)" if build.queue else ""
    count = len(verdict.jobs)
    lines = [
        f"{build.project} change {build.change},{build.patchset}{queue}: "
        f"{count} failed job{'s' if count != 1 else ''}"
    ]
    for job in verdict.jobs:
        lines.append(f"  {_job_line(job, queries)}")
        lines += [f"    {_evidence_line(qid, found)}" for qid, found in job.lines.items() if found]
    if verdict.waited >= 0.5:
        lines.append(f"waited {verdict.waited:.0f} s for logs")
    return lines


def _job_line(job: JobVerdict, queries: QuerySet) -> str:
    name = job.job.name + ("" if job.job.voting else " (non-voting)")
    if job.status == "classified":
        said = ", ".join(_bug_text(bug, queries) for bug in job.bugs)
    elif job.status == "unrecognized":
        said = "unrecognized error"
    else:
        said = f"logs not ready (missing: {', '.join(job.missing)})"
    if job.suppressed:
        said += f" [also matched, not announced: {', '.join(job.suppressed)}]"
    return f"{name}: {said}"


def _evidence_line(query: str, lines: tuple[LogLine, ...]) -> str:
    """The first line ``query`` matched: ``1284371 matched in console.html: <text>``."""
    where = f" in {lines[0].file}" if lines[0].file else ""
    return f"{query} matched{where}: {lines[0].message}"


def _bug_text(bug: str, queries: QuerySet) -> str:
    query = queries.by_id.get(bug)
    return f"{bug} {query.bug.url}" if query else bug
