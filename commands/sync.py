"""``!sync``: fetch the git query sources now and reload (admins).

A sync already running (the schedule's) is joined, not repeated. The reply says what became of
each git source: updated, unchanged, kept back (with the first problem) or failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.chat.command import CommandError, Context, command
from bot.chat.reply import Part, bold, rich
from bot.transports.base import Text

if TYPE_CHECKING:
    from bot.chat.services import QuerySourceStatus

#: What each sync status reads as.
SAID = {
    "updated": "now at",
    "unchanged": "still at",
    "kept-previous": "kept back a commit, still at",
    "error": "FAILED, still at",
}


@command(
    "sync",
    help="fetch the git query sources now and reload the queries (joins a sync running)",
    acl="admin",
    rate=5,
    timeout=600,
)
async def sync(ctx: Context) -> Text:
    sources = await ctx.services.sync_queries()
    if not sources:
        raise CommandError("no git query source to sync (query_sources in the settings)")
    return format_synced(sources)


def format_synced(sources: Sequence[QuerySourceStatus]) -> Text:
    """``queries synced: 128 in use`` and a line per git source (pure)."""
    total = sum(s.queries - s.shadowed for s in sources)
    lines: list[list[Part]] = [[bold("queries synced"), f": {total} in use"]]
    lines += [synced_line(s) for s in sources if s.git]
    return rich(*lines)


def synced_line(source: QuerySourceStatus) -> list[Part]:
    commit = source.commit[:7] if source.commit else "no commit"
    line: list[Part] = [
        bold(source.name),
        f": {SAID.get(source.status or '', 'at')} {commit}, {source.queries} queries",
    ]
    if source.status == "kept-previous" and source.kept_back:
        line.append(f"; commit {source.kept_back[:7]}: {_first(source.problems)}")
    elif source.status == "error":
        line.append(f": {_first(source.problems)}")
    return line


def _first(problems: Sequence[str]) -> str:
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return (problems[0][:120] if problems else "no reason given") + more
