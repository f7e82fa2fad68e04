"""``recheckbot clusters`` and ``recheckbot quality``: the first pass over failures, and a check
of the queries we have.

The commands are thin: :func:`cluster_report` and :func:`quality_report` open the backend, load
the query repo and call :mod:`bot.intel`; ``uncat --clusters`` and ``check --quality`` can call
the same functions and print with the same formatters.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.app import Common, UserError, command, run_async
from bot.cli.graph import repo_queries
from bot.cli.progress import spinner
from bot.config import Settings
from bot.intel import REPORT_TIMEOUT, ClusterReport, clusters_json, find_clusters, format_clusters
from bot.intel.quality import (
    SLOW_MS,
    BugClosed,
    QualityReport,
    check_quality,
    format_quality,
    quality_json,
    quality_problems,
)
from bot.queries import load_queries
from bot.search import open_backend

__all__ = [
    "cluster_report",
    "clusters_json",
    "format_clusters",
    "format_quality",
    "quality_json",
    "quality_problems",
    "quality_report",
]

#: Exit status when ``quality`` flagged queries (as ``check`` does for problems).
EXIT_FLAGGED = 1


async def cluster_report(
    settings: Settings,
    *,
    days: int = 10,
    queue: str | None = "gate",
    min_size: int = 2,
) -> ClusterReport:
    """The clusters of the uncategorized failures, with verified suggestions."""
    queries = repo_queries(settings)
    backend = open_backend(settings.search)
    try:
        async with asyncio.timeout(REPORT_TIMEOUT):
            return await find_clusters(backend, queries, days=days, queue=queue, min_size=min_size)
    except TimeoutError:
        raise UserError(f"the cluster report took more than {REPORT_TIMEOUT:.0f} s") from None
    finally:
        await backend.close()


async def quality_report(
    settings: Settings,
    queries_dir: Path | None = None,
    *,
    days: int = 14,
    slow_ms: int = SLOW_MS,
    bug_closed: BugClosed | None = None,
) -> QualityReport:
    """Every query of the repo measured and judged (see :mod:`bot.intel.quality`)."""
    path = queries_dir or settings.queries
    if not path.exists():
        raise UserError(f"{path}: no such query directory (give QUERIES_DIR or --queries)")
    repo = load_queries(path)
    backend = open_backend(settings.search)
    try:
        async with asyncio.timeout(REPORT_TIMEOUT):
            return await check_quality(
                backend, repo.queries, days=days, slow_ms=slow_ms, bug_closed=bug_closed
            )
    except TimeoutError:
        raise UserError(f"the quality check took more than {REPORT_TIMEOUT:.0f} s") from None
    finally:
        await backend.close()


@command("clusters", help="Group uncategorized failures by their errors; suggest verified queries.")
def clusters_command(
    days: Annotated[int, typer.Option("--days", "-d", min=1, max=60)] = 10,
    queue: Annotated[
        str, typer.Option("--queue", "-q", help="Build queue; '' for all queues.")
    ] = "gate",
    min_size: Annotated[
        int, typer.Option("--min-size", min=1, help="Fewest builds that make a cluster.")
    ] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list of clusters.")] = False,
    *,
    common: Common,
) -> None:
    settings = common.settings()
    with spinner(f"clustering the uncategorized failures of {days} days"):
        report = run_async(
            cluster_report(settings, days=days, queue=queue or None, min_size=min_size)
        )
    print(json.dumps(clusters_json(report), indent=2) if as_json else format_clusters(report))


@command("quality", help="Flag queries that are too broad, dead, slow, or whose bug is closed.")
def quality_command(
    queries_dir: Annotated[
        Path | None,
        typer.Argument(help="Query directory or TripleO file [default: --queries / settings]."),
    ] = None,
    days: Annotated[int, typer.Option("--days", "-d", min=1, max=365)] = 14,
    slow_ms: Annotated[
        int, typer.Option("--slow-ms", min=1, help="Server time that makes a query slow.")
    ] = SLOW_MS,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list of queries.")] = False,
    *,
    common: Common,
) -> None:
    settings = common.settings()
    with spinner(f"measuring the queries over {days} days"):
        report = run_async(
            quality_report(settings, queries_dir or common.queries, days=days, slow_ms=slow_ms)
        )
    print(json.dumps(quality_json(report), indent=2) if as_json else format_quality(report))
    if report.flagged:
        raise typer.Exit(EXIT_FLAGGED)
