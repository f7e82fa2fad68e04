"""``recheckbot adopt CLUSTER BUG``: a cluster's verified query as a bug's query file, proposed
to the query repository (``propose:`` settings). A dry run unless ``--propose``: it shows the
file and the commands, and pushes nothing.

What the command needs is imported inside it: ``recheckbot --help`` stays quick.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.app import Common, command, run_async

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.lifecycle.adopt import Adopted


@command("adopt", help="Write a cluster's verified query as a bug's file; --propose pushes it.")
def adopt_command(
    cluster: Annotated[
        str, typer.Argument(help="Cluster id, like c-3f9a2b (recheckbot clusters).")
    ],
    bug: Annotated[
        str,
        typer.Argument(help="The bug: 1234567, jira:OSPRH-12, bz:2001234 or gh:org/repo#12."),
    ],
    days: Annotated[int, typer.Option("--days", "-d", min=1, max=60)] = 10,
    queue: Annotated[
        str, typer.Option("--queue", "-q", help="Build queue; '' for all queues.")
    ] = "gate",
    propose: Annotated[
        bool, typer.Option("--propose", help="Push the change for review (default: a dry run).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The outcome as JSON.")] = False,
    *,
    common: Common,
) -> None:
    from bot.cli.progress import spinner

    settings = common.settings()
    with spinner(f"clustering the uncategorized failures of {days} days"):
        done = run_async(_adopt(settings, cluster, bug, days, queue or None, propose))
    print(json.dumps(adopted_json(done), indent=2) if as_json else format_adopted(done))


async def _adopt(
    settings: Settings, cluster: str, bug_ref: str, days: int, queue: str | None, propose: bool
) -> Adopted:
    from bot.cli.intel import cluster_report
    from bot.lifecycle.adopt import adopt, adoption, parse_bug_ref
    from bot.lifecycle.propose import Proposer
    from bot.queries import load_queries

    jira_browse = settings.trackers.jira.url.rstrip("/") + "/browse/"
    ref = parse_bug_ref(bug_ref, jira_browse=jira_browse)
    report = await cluster_report(settings, days=days, queue=queue)
    repo = load_queries(settings.queries, jira_browse=jira_browse)
    plan = adoption(report, cluster, ref, repo, settings.propose)
    return await adopt(plan, Proposer(settings.propose), propose=propose)


def format_adopted(done: Adopted) -> str:
    """The pushed change, or the file and the commands a ``--propose`` would run (pure)."""
    plan = done.adoption
    if done.proposed is not None:
        where = done.proposed.url or f"pushed to {done.proposed.ref}"
        return f"proposed {plan.path} for {plan.bug.url}: {where}"
    lines = [f"{plan.path}:", plan.text.rstrip("\n"), "", "recheckbot adopt --propose would run:"]
    lines += [f"  {line}" for line in done.commands]
    lines.append("dry run: nothing was pushed")
    return "\n".join(lines)


def adopted_json(done: Adopted) -> dict[str, Any]:
    plan, proposed = done.adoption, done.proposed
    return {
        "cluster": plan.cluster.id,
        "bug": plan.bug.url,
        "path": plan.path,
        "text": plan.text,
        "commands": list(done.commands),
        "proposed": (
            {
                "url": proposed.url,
                "change_id": proposed.change_id,
                "ref": proposed.ref,
                "commit": proposed.commit,
            }
            if proposed
            else None
        ),
    }
