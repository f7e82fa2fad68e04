"""``recheckbot graph``: ER's graph JSON (elastic-recheck-graph), from one aggregation request.

With trackers on (``trackers.enabled``, the default) each bug's title and status come from its
tracker, as on the served dashboard (``bug_data.name``; ER's "Unable to get bug data" when the
tracker does not answer); lookups are cached for the run only.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from bot.bugs import Bug
from bot.cli.app import Common, UserError, command, run_async
from bot.cli.progress import spinner
from bot.config import Settings
from bot.dashboard.build import write_files
from bot.dashboard.graph import BugLookUp, GraphData, graph, graph_json, query_bug
from bot.impact_store import ImpactJournal
from bot.intel.impact import gather_impact
from bot.queries import Query, load_queries
from bot.search import open_backend
from bot.trackers.client import TrackerClient


@command("graph", help="Write the graph JSON of the known bugs (ER's dashboard format).")
def graph_command(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="JSON file [default: stdout].")
    ] = None,
    days: Annotated[int, typer.Option("--days", "-d", min=1, max=60)] = 10,
    queue: Annotated[
        str | None, typer.Option("--queue", "-q", help="Only this build queue (e.g. gate).")
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state",
            help="The bot's state file: adds each bug's impact (failed builds, rechecks, CI "
            "time, gate failures) from its journal.",
        ),
    ] = None,
    *,
    common: Common,
) -> None:
    settings = common.settings()
    queries = repo_queries(settings)
    if state is not None and not state.is_file():
        raise UserError(f"{state}: no such state file (see --state)")
    with spinner(f"graphing {len(queries)} queries over {days} days"):
        data = run_async(_graph(settings, queries, days, queue, state))
    document = graph_json(data, kibana=settings.search.kibana_url)
    emit(document, output)


def repo_queries(settings: Settings) -> list[Query]:
    """The query repo's valid queries; its problems are warned about, not fatal (as in ER)."""
    if not settings.queries.is_dir():
        raise UserError(f"{settings.queries}: no such query directory (see --queries)")
    repo = load_queries(settings.queries)
    for problem in repo.problems:
        print(f"recheckbot: warning: {problem}", file=sys.stderr)
    return list(repo.queries)


async def _graph(
    settings: Settings, queries: list[Query], days: int, queue: str | None, state: Path | None
) -> GraphData:
    backend = open_backend(settings.search)
    trackers = TrackerClient(settings.trackers)  # no state file: a cache for this run
    look_up = tracker_look_up(trackers) if settings.trackers.enabled else query_bug
    try:
        data = await graph(backend, queries, days=days, queue=queue, look_up=look_up)
    finally:
        await backend.close()
        await trackers.close()
    if state is None:  # no journal at hand: ER's fields only
        return data
    journal = await ImpactJournal.open(state)
    try:
        return replace(data, impact=await gather_impact(journal, queue=queue))
    finally:
        await journal.close()


def tracker_look_up(trackers: TrackerClient) -> BugLookUp:
    """The served dashboard's lookup: the query's bug as its tracker describes it."""

    async def look_up(query: Query) -> Bug | None:
        return await trackers.describe(replace(query.bug, title=query.title))

    return look_up


def emit(document: object, output: Path | None) -> None:
    """ER's output: indented JSON to a file (written atomically), compact JSON to stdout."""
    if output is None:
        print(json.dumps(document, separators=(",", ":")))
        return
    write_files(output.parent, {output.name: json.dumps(document, indent=4).encode()})
