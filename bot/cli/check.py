"""``recheckbot check``: validate a query repo, optionally flag queries that no longer hit.

``--trackers`` also asks the bug trackers and flags queries whose bug closed more than
``--closed-days`` days ago: candidates for removal. One line per problem on stdout
(``path: problem``), a summary on stderr; exit 1 when any.

Without a directory, when the settings list ``query_sources``, every source is checked as the
bot reads them (a git source: its commit in use), and each query that a source listed earlier
shadows is named too (a note, not a problem: the exit status does not count it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from bot.bugs import Bug
from bot.cli.app import Common, UserError, command, run_async
from bot.cli.intel import quality_problems, quality_report
from bot.cli.progress import progress_bar, spinner
from bot.config import Settings
from bot.config.trackers import TrackerSettings
from bot.queries import Problem, Query, QueryRepo, load_queries
from bot.queries.sources import check_problems
from bot.search import open_backend
from bot.search.stats import query_hit_counts
from bot.trackers.client import TrackerClient

#: Exit status when the check found problems (errors exit 2, see bot.cli.app).
EXIT_PROBLEMS = 1


@command("check", help="Validate a query repo; exit 1 and list problems if any.")
def check_command(
    queries_dir: Annotated[
        Path | None,
        typer.Argument(help="Query directory or TripleO file [default: --queries / settings]."),
    ] = None,
    hits: Annotated[
        bool, typer.Option("--hits", help="Also flag queries with no hits in --days days.")
    ] = False,
    days: Annotated[int, typer.Option("--days", "-d", min=1, max=365)] = 14,
    trackers: Annotated[
        bool,
        typer.Option(
            "--trackers", help="Also flag queries whose bug closed more than --closed-days ago."
        ),
    ] = False,
    closed_days: Annotated[int, typer.Option("--closed-days", min=0, max=3650)] = 30,
    quality: Annotated[
        bool,
        typer.Option(
            "--quality",
            help="Also flag queries too broad (hitting successful builds), dead or slow over "
            "--days days, and (with --trackers) whose fixed bug still hits.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list of problems.")] = False,
    *,
    common: Common,
) -> None:
    given = queries_dir or common.queries
    if given is None and common.settings().query_sources:
        if quality:
            raise UserError("--quality checks one query directory: give QUERIES_DIR")
        path, repo, problems, shadowed = _sources(common.settings())
    else:
        path = given or common.settings().queries
        if not path.exists():
            raise UserError(f"{path}: no such query directory (give QUERIES_DIR or --queries)")
        repo = load_queries(path)
        problems, shadowed = check_problems(path, repo), []
    if hits and repo.queries:
        counts = run_async(_hit_counts(common.settings(), repo, days))
        problems += dead_queries(repo.queries, counts, days)
    found: dict[Bug, Bug | None] = {}
    if trackers and repo.queries:
        found, unknown = run_async(_bug_details(common.settings().trackers, repo))
        problems += closed_bugs(repo.queries, found, closed_days, datetime.now(UTC))
        if unknown:
            typer.echo(
                f"{unknown} bug(s) not looked up: tracker unreachable or no such bug", err=True
            )
    if quality and repo.queries:
        closed = {ref: details.closed for ref, details in found.items() if details}
        bug_closed = (lambda q: closed.get(q.bug)) if trackers else None
        report = run_async(
            quality_report(common.settings(), path, days=days, bug_closed=bug_closed)
        )
        problems += quality_problems(report)
    if as_json:
        notes = [{"path": str(p.path), "message": p.message, "kind": "shadowed"} for p in shadowed]
        listed = [{"path": str(p.path), "message": p.message} for p in problems]
        print(json.dumps(listed + notes, indent=2))
    else:
        for problem in [*problems, *shadowed]:
            print(problem)
    typer.echo(summary(repo, problems, len(shadowed)), err=True)
    if problems:
        raise typer.Exit(EXIT_PROBLEMS)


async def _hit_counts(settings: Settings, repo: QueryRepo, days: int) -> dict[str, int]:
    backend = open_backend(settings.search)
    try:
        with progress_bar(len(repo), f"hits in {days} days") as advance:
            lucene_by_id = {q.id: q.effective for q in repo}
            return await query_hit_counts(backend, lucene_by_id, days=days, progress=advance)
    finally:
        await backend.close()


async def _bug_details(
    settings: TrackerSettings, repo: QueryRepo
) -> tuple[dict[Bug, Bug | None], int]:
    """Each bug's details (looked up once however many queries share it), and how many failed."""
    async with TrackerClient(settings) as client:
        refs = [q.bug for q in repo if client.wants(q.bug)]
        with spinner(f"looking up {len(set(refs))} bugs"):
            found = await client.lookup_all(refs)
    return found, sum(details is None for details in found.values())


def closed_bugs(
    queries: tuple[Query, ...],
    details: Mapping[Bug, Bug | None],
    days: int,
    now: datetime,
) -> list[Problem]:
    """A problem per query whose bug closed more than ``days`` ago (or at an unknown date)."""
    cutoff = now - timedelta(days=days)
    problems = []
    for q in queries:
        info = details.get(q.bug)
        if info is None or not info.closed or (info.closed_since or cutoff) > cutoff:
            continue
        status = f" ({info.status})" if info.status else ""
        when = f"since {info.closed_since:%Y-%m-%d}" if info.closed_since else "(date unknown)"
        message = f"{_which(q)}bug {q.bug.id} closed{status} {when} — candidate for removal"
        problems.append(Problem(q.source or Path(q.id), message))
    return problems


def dead_queries(queries: tuple[Query, ...], counts: dict[str, int], days: int) -> list[Problem]:
    """A problem per query with no hits (queries the server did not answer are not judged)."""
    return [
        Problem(q.source or Path(q.id), f"{_which(q)}no hits in the last {days} days")
        for q in queries
        if counts.get(q.id) == 0
    ]


def _which(query: Query) -> str:
    # A file holding many queries (TripleO) needs the entry named; one-query files do not.
    return f"{query.location} ({query.id}): " if query.location else ""


def _sources(settings: Settings) -> tuple[Path, QueryRepo, list[Problem], list[Problem]]:
    """Every configured source as the bot merges them (git ones: the commit in use), their
    problems, and the queries a source listed earlier shadows (not problems: notes)."""
    from bot.queries.sources import configured, load_sources, locate, source_problems

    merged = load_sources(locate(configured(settings), settings.query_cache))
    shadowed = [s.problem() for s in merged.shadowed]
    return settings.query_cache, merged.repo, source_problems(merged), shadowed


def summary(repo: QueryRepo, problems: list[Problem], shadowed: int = 0) -> str:
    hidden = f"; {shadowed} shadowed by an earlier source" if shadowed else ""
    if not problems:
        return f"{len(repo)} queries OK{hidden}"
    files = len({p.path for p in problems})
    return f"{len(problems)} problem(s) in {files} file(s); {len(repo)} queries loaded{hidden}"
