"""``recheckbot sync``: fetch every git query source, and take each new commit that passes.

One line per source on stdout (``name: status commit, N queries``, then its problems), or with
``--json`` the report ``{"sources": [{"name", "commit", "queries", "status", "problems"}],
"total": N}``. Exit 1 when a source kept its previous commit or could not be fetched.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.app import Common, command, run_async

if TYPE_CHECKING:
    from bot.config import Settings

#: Exit status when a source kept its previous commit or failed (errors exit 2: bot.cli.app).
EXIT_KEPT_BACK = 1


@command("sync", help="Fetch the git query sources; take each new commit that passes check.")
def sync_command(
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
    *,
    common: Common,
) -> None:
    report = run_async(_sync(common.settings()))
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        for line in format_report(report):
            print(line)
    if any(source["status"] in ("kept-previous", "error") for source in report["sources"]):
        raise typer.Exit(EXIT_KEPT_BACK)


async def _sync(settings: Settings) -> dict[str, Any]:
    # Imported here: the other subcommands start without the sync machinery.
    import asyncio

    from bot.queries.repo import load_queries
    from bot.queries.sources import configured, load_sources, locate
    from bot.queries.sync import report, sync_all

    sources = configured(settings)
    outcomes = await sync_all(
        sources, settings.query_cache, git_timeout=settings.query_sync.timeout, loader=load_queries
    )
    merged = await asyncio.to_thread(load_sources, locate(sources, settings.query_cache))
    return report(outcomes, merged)


def format_report(report: dict[str, Any]) -> list[str]:
    """``upstream: updated 1a2b3c4, 120 queries`` per source, its problems indented (pure)."""
    lines = []
    for source in report["sources"]:
        commit = f" {source['commit'][:7]}" if source["commit"] else ""
        lines.append(f"{source['name']}: {source['status']}{commit}, {source['queries']} queries")
        lines += [f"  {problem}" for problem in source["problems"]]
    lines.append(f"{report['total']} queries in use")
    return lines
