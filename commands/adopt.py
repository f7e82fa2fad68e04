"""``!adopt <cluster-id> <bug> [--propose]``: a cluster's verified query as a bug's query file,
proposed to the query repository (admins).

Without ``--propose`` it is a dry run: the file and the command that would push it. With it, the
change is pushed (a Gerrit change, or a branch) and the reply links it.
"""

from __future__ import annotations

from bot.chat.command import Context, Rejected, command
from bot.chat.options import days_option, split_options
from bot.chat.reply import Part, bold, code_block, link, rich
from bot.lifecycle.adopt import BUG_REF_HELP, Adopted, AdoptError, bug_label
from bot.transports.base import Text
from commands.suggest import check_cluster_id


@command(
    "adopt",
    usage="<cluster-id> <bug> [--propose] [--days N]",
    help="a cluster's verified query as the query file of a bug (1234567, jira:OSPRH-12, "
    "bz:2001234, gh:org/repo#12); a dry run unless --propose, which pushes it for review",
    acl="admin",
    rate=5,
    timeout=180,
)
async def adopt(ctx: Context) -> Text:
    text, options = split_options(ctx.args, ("days",), flags=("propose",))
    days = days_option(ctx, options.get("days"))
    words = text.split()
    if len(words) != 2:
        raise Rejected(f"give a cluster id (see !uncat) and {BUG_REF_HELP} ({ctx.usage()})")
    cluster_id = check_cluster_id(words[0])
    try:
        done = await ctx.services.adopt(
            cluster_id,
            words[1],
            days=days,
            queue=ctx.settings.uncat_queue,
            propose="propose" in options,
        )
    except AdoptError as exc:
        raise Rejected(str(exc)) from None
    return format_adopted(done)


def format_adopted(done: Adopted) -> Text:
    """The proposed change's link, or (a dry run) the file and the push command. Pure."""
    plan = done.adoption
    head: list[Part] = [bold(plan.cluster.id), f" → {bug_label(plan.bug)}"]
    proposed = done.proposed
    if proposed is not None:
        where: Part = link("change", proposed.url) or f"pushed to {proposed.ref}"
        return rich([*head, f": proposed {plan.path} · ", where])
    return rich(
        [*head, f" · dry run: {plan.path} would be proposed (add --propose to push it):"],
        code_block(plan.text),
        [f"then: {done.commands[-1]}"],
    )
