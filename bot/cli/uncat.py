"""``recheckbot uncat``: the uncategorized failures page (elastic-recheck-uncategorized)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.app import Common, command, run_async
from bot.cli.graph import repo_queries
from bot.cli.intel import cluster_report, clusters_json, format_clusters
from bot.cli.progress import spinner
from bot.config import Settings
from bot.dashboard.build import write_files
from bot.dashboard.render import render_uncategorized
from bot.intel.uncategorized import UncatReport, uncat_json, uncategorized
from bot.queries import Query
from bot.search import open_backend


@command("uncat", help="Write the page of failed gate jobs that no known bug explains.")
def uncat_command(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Output file [default: stdout].")
    ] = None,
    days: Annotated[int, typer.Option("--days", "-d", min=1, max=60)] = 10,
    queue: Annotated[
        str, typer.Option("--queue", "-q", help="Build queue; '' for all queues.")
    ] = "gate",
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of HTML.")] = False,
    clusters: Annotated[
        bool,
        typer.Option("--clusters", help="Group the failures by their errors; suggest queries."),
    ] = False,
    *,
    common: Common,
) -> None:
    settings = common.settings()
    if clusters:
        with spinner(f"clustering the uncategorized failures of {days} days"):
            found = run_async(cluster_report(settings, days=days, queue=queue or None))
        text = json.dumps(clusters_json(found), indent=2) if as_json else format_clusters(found)
        _write(output, text)
        return
    queries = repo_queries(settings)
    with spinner(f"classifying the failed builds of {days} days"):
        report = run_async(_report(settings, queries, days, queue or None))
    text = json.dumps(uncat_json(report), indent=2) if as_json else render_uncategorized(report)
    _write(output, text)


def _write(output: Path | None, text: str) -> None:
    if output is None:
        print(text)
    else:
        write_files(output.parent, {output.name: text.encode()})


async def _report(
    settings: Settings, queries: list[Query], days: int, queue: str | None
) -> UncatReport:
    backend = open_backend(settings.search)
    try:
        return await uncategorized(backend, queries, days, queue)
    finally:
        await backend.close()
