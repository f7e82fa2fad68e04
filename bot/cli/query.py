"""``recheckbot query``: what one query hits (ER's elastic-recheck-query, with aggregations)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.app import Common, UserError, command, run_async
from bot.cli.progress import spinner
from bot.config import Settings
from bot.queries import QueryError, load_queries, load_query_file
from bot.queries.lucene import lucene_problems
from bot.search import open_backend
from bot.search.stats import QueryReport, format_breakdown, query_report


@command("query", help="Run one query (bug id, query file or --lucene) and show what it hits.")
def query_command(
    target: Annotated[str | None, typer.Argument(help="Bug id or query YAML file.")] = None,
    lucene: Annotated[str | None, typer.Option("--lucene", help="A Lucene query.")] = None,
    days: Annotated[int, typer.Option("--days", "-d", min=1, max=365)] = 10,
    top: Annotated[int, typer.Option("--quantity", "-q", min=1, max=50)] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    *,
    common: Common,
) -> None:
    settings = common.settings()
    text = resolve_lucene(target, lucene, settings)
    problems = lucene_problems(text)
    if problems:
        raise UserError(f"invalid query: {problems[0]}")
    with spinner(f"searching the last {days} days"):
        report = run_async(_report(settings, text, days, top))
    if as_json:
        print(json.dumps({"query": text, "days": days, **_report_dict(report)}, indent=2))
    else:
        print("\n".join(format_report(text, days, report)))


def resolve_lucene(target: str | None, lucene: str | None, settings: Settings) -> str:
    """The query text to run: ``--lucene``, a query file, or a bug id from the repo."""
    if lucene is not None:
        if target:
            raise UserError("give a bug id / file or --lucene, not both")
        return lucene
    if not target:
        raise UserError("give a bug id, a query file or --lucene 'QUERY'")
    path = Path(target)
    try:
        if path.suffix in (".yaml", ".yml") and path.is_file():
            return load_query_file(path).lucene
    except QueryError as exc:
        raise UserError(str(exc)) from None
    if not settings.queries.is_dir():
        raise UserError(f"{settings.queries}: no such query directory (see --queries)")
    found = load_queries(settings.queries).get(target)
    if found is None:
        raise UserError(f"no query for bug {target} in {settings.queries}")
    return found.lucene


async def _report(settings: Settings, text: str, days: int, top: int) -> QueryReport:
    backend = open_backend(settings.search)
    try:
        return await query_report(backend, text, days=days, top=top)
    finally:
        await backend.close()


def format_report(text: str, days: int, report: QueryReport) -> list[str]:
    """The human-readable report: totals, per-day counts, then the top values per field."""
    lines = [
        f"query: {text}",
        f"total hits: {report.hits} in the last {days} days",
        f"builds: {report.builds}, failed: {report.failed_builds}"
        f" ({report.failure_rate:.0%} of the matched builds failed)",
        "per day (hits, failed builds):",
    ]
    lines += [f"  {day}  {hits:6d}  {failed:4d}" for day, hits, failed in report.per_day]
    for name, rows in report.breakdown.items():
        if rows:
            lines += [name, *format_breakdown(rows, report.hits)]
    return lines


def _report_dict(report: QueryReport) -> dict[str, object]:
    data = asdict(report)
    data["failure_rate"] = round(report.failure_rate, 4)
    data["per_day"] = [
        {"day": day, "hits": hits, "failed_builds": failed} for day, hits, failed in report.per_day
    ]
    data["breakdown"] = {
        name: [{"value": value, "hits": hits} for value, hits in rows]
        for name, rows in report.breakdown.items()
    }
    return data
