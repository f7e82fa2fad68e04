"""``!help``: the commands, or one command in detail."""

from __future__ import annotations

from bot.chat.command import CommandSpec, Context, Registry, Rejected, command
from bot.chat.reply import Part, bold, link, quoted, rich
from bot.config.chat import ChatSettings, Level, RateLimit
from bot.transports.base import Text


@command("help", usage="[command]", help="list the commands, or explain one", rate=1)
async def help_(ctx: Context) -> Text:
    prefix = ctx.settings.prefix
    name = ctx.args.strip().removeprefix(prefix)
    if not name:
        return format_index(ctx.registry, ctx.settings, ctx.services.dashboard_url)
    spec = ctx.registry.get(name)
    if spec is None:
        near = ctx.registry.closest(name)
        hint = f"; did you mean {prefix}{near}?" if near else f"; {prefix}help lists them"
        raise Rejected(f"no command {quoted(name, 32)}{hint}")
    return format_command(spec, prefix, level(spec, ctx.settings), price(spec, ctx))


def level(spec: CommandSpec, settings: ChatSettings) -> Level:
    """Who may run ``spec`` here: the settings may override the command's own level."""
    return settings.acl.get(spec.name, spec.acl)


def price(spec: CommandSpec, ctx: Context) -> str:
    """What running ``spec`` takes from the asker's bucket (an admin's: the room's)."""
    settings = ctx.settings
    if ctx.admin and settings.admins_skip_user_rate:
        return describe_price(spec.rate, settings.room_rate, "the room's")
    return describe_price(spec.rate, settings.user_rate, "your")


def describe_price(cost: float, bucket: RateLimit, whose: str) -> str:
    """``costs 2 of your 12 tokens (refilled at 10 a minute)`` (pure)."""
    tokens = f"{bucket.burst:g} token{'' if bucket.burst == 1 else 's'}"
    return f"costs {cost:g} of {whose} {tokens} (refilled at {bucket.per_minute:g} a minute)"


def format_index(registry: Registry, settings: ChatSettings, dashboard: str | None) -> Text:
    """One line naming every command (admin ones marked), and where the dashboard is (pure)."""
    prefix = settings.prefix
    names = []
    for spec in registry.specs():
        called = "/".join(f"{prefix}{n}" for n in spec.names)
        names.append(called + (" (admins)" if level(spec, settings) == "admin" else ""))
    line: list[Part] = ["commands: ", ", ".join(names), f" — {prefix}help <command> explains one"]
    if dashboard:
        line += [" · ", link("dashboard", dashboard)]
    return rich(line)


def format_command(spec: CommandSpec, prefix: str, acl: Level, cost: str) -> Text:
    """``!name <usage>: help``, then what it costs, its aliases and who may run it (pure)."""
    head: list[Part] = [bold(f"{prefix}{spec.name} {spec.usage}".rstrip()), f": {spec.help}"]
    notes = [cost]
    if spec.aliases:
        notes.append("also " + ", ".join(prefix + alias for alias in spec.aliases))
    if acl == "admin":
        notes.append("admins only")
    return rich(head, ["; ".join(notes)])
