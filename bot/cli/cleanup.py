"""``recheckbot cleanup``: the queries that can go (bug closed and no hit in ``--days``, or
never a hit), and with ``--propose`` a change that removes their files (``propose:``
settings). Without it nothing is written: the list, and the commands ``--propose`` would run.

What the command needs is imported inside it: ``recheckbot --help`` stays quick.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.app import Common, UserError, command, run_async

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.lifecycle.cleanup import CleanupReport
    from bot.queries import QueryRepo


@command(
    "cleanup",
    help="List queries whose bug is closed and that stopped hitting, or that never hit; "
    "--propose removes them.",
)
def cleanup_command(
    queries_dir: Annotated[
        Path | None,
        typer.Argument(help="Query directory [default: --queries / settings]."),
    ] = None,
    days: Annotated[
        int, typer.Option("--days", "-d", min=1, max=3650, help="Days without a hit.")
    ] = 30,
    propose: Annotated[
        bool, typer.Option("--propose", help="Push a change removing them (default: a dry run).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The outcome as JSON.")] = False,
    *,
    common: Common,
) -> None:
    from bot.cli.progress import spinner
    from bot.lifecycle.cleanup import cleanup_json, format_cleanup
    from bot.queries import load_queries

    settings = common.settings()
    path = queries_dir or common.queries or settings.queries
    if not path.is_dir():
        raise UserError(f"{path}: no such query directory (give QUERIES_DIR or --queries)")
    repo = load_queries(path)
    with spinner(f"hits of {len(repo)} queries, and their bugs"):
        report = run_async(_find(settings, repo, days))
    outcome = run_async(_remove(settings, report, path, propose)) if report.stale else {}
    if as_json:
        print(json.dumps(cleanup_json(report) | outcome, indent=2))
        return
    print(format_cleanup(report))
    if outcome.get("proposed"):
        print(f"proposed: {outcome['proposed']['url'] or outcome['proposed']['ref']}")
    elif outcome.get("commands"):
        print("recheckbot cleanup --propose would run:")
        print("\n".join(f"  {line}" for line in outcome["commands"]))
    elif outcome.get("not_proposed"):
        print(outcome["not_proposed"])


async def _find(settings: Settings, repo: QueryRepo, days: int) -> CleanupReport:
    from bot.lifecycle.cleanup import find_stale
    from bot.search import open_backend
    from bot.trackers.client import TrackerClient

    backend = open_backend(settings.search)
    trackers = TrackerClient(settings.trackers) if settings.trackers.enabled else None
    try:
        return await find_stale(backend, trackers, repo.queries, days=days)
    finally:
        await backend.close()
        if trackers is not None:
            await trackers.close()


async def _remove(
    settings: Settings, report: CleanupReport, path: Path, propose: bool
) -> dict[str, Any]:
    """The removal's commands (a dry run) or the pushed change, as JSON-ready values."""
    from datetime import UTC, datetime

    from bot.lifecycle.cleanup import removal_change
    from bot.lifecycle.propose import ProposeError, Proposer, commands

    try:
        change = removal_change(report.stale, path, settings.propose, datetime.now(UTC))
    except ProposeError as exc:
        return {"not_proposed": str(exc)}
    if not propose:
        return {"commands": commands(settings.propose, change)}
    proposed = await Proposer(settings.propose).propose(change)
    return {
        "proposed": {
            "url": proposed.url,
            "change_id": proposed.change_id,
            "ref": proposed.ref,
            "commit": proposed.commit,
        }
    }
