"""``!suggest <cluster-id>``: the verified query file to commit for a cluster of failures."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.chat.command import Context, Rejected, command
from bot.chat.options import days_option, split_options
from bot.chat.reply import Part, bold, code_block, quoted, rich
from bot.intel import Cluster, ClusterReport, verified_line
from bot.transports.base import Text

_ID = re.compile(r"(?:c-)?[0-9a-f]{4,40}", re.IGNORECASE)


@command(
    "suggest",
    usage="<cluster-id> [--days N]",
    help="the verified query file for a cluster of uncategorized failures (ids from !uncat)",
    rate=3,
    timeout=120,
)
async def suggest(ctx: Context) -> Text:
    text, options = split_options(ctx.args, ("days",))
    days = days_option(ctx, options.get("days"))
    wanted = check_cluster_id(text)
    report = await ctx.services.clusters(days=days, queue=ctx.settings.uncat_queue)
    cluster = report.get(wanted)
    if cluster is None:
        known = ", ".join(c.id for c in report.clusters[:5]) or "none"
        raise Rejected(f"no cluster {quoted(wanted)} in the last {days} d (clusters: {known})")
    return format_suggestion(report, cluster)


def check_cluster_id(text: str) -> str:
    if not text:
        raise Rejected("which cluster? give its id, like c-3f9a2b (see !uncat)")
    if not _ID.fullmatch(text):
        raise Rejected(f"{quoted(text)} is not a cluster id (like c-3f9a2b)")
    return text.lower()


def format_suggestion(report: ClusterReport, cluster: Cluster) -> Text:
    """The cluster in one line, then the YAML to commit (or why there is none). Pure."""
    jobs = ", ".join(cluster.job_names[:3])
    head: list[Part] = [bold(cluster.id), f" · {cluster.size} failed builds · {jobs}"]
    suggestion = report.suggestions.get(cluster.id)
    if suggestion is None or not suggestion.verified:
        why = suggestion.reason if suggestion else "not verified yet"
        return rich(head, [f"sample: {cluster.sample[:200]}"], [f"no query to suggest: {why}"])
    lines: list[list[Part]] = [head, [f"verified: {verified_line(suggestion)}"]]
    lines.append([f"queries/{cluster.id}.yaml:"])
    lines.append(code_block(suggestion.yaml))
    return rich(*lines)


def cluster_lines(report: ClusterReport, limit: int = 3) -> list[list[Part]]:
    """Lines for ``!uncat``: the largest clusters, id and sample each (for ``!suggest <id>``)."""
    lines: list[list[Part]] = []
    for cluster in report.clusters[:limit]:
        lines.append([bold(cluster.id), f" · {cluster.size} builds · {_short(cluster.sample)}"])
    if len(report.clusters) > limit:
        lines.append([f"… and {len(report.clusters) - limit} more clusters; !suggest <id>"])
    return lines


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__: Sequence[str] = ("cluster_lines", "format_suggestion", "suggest")
