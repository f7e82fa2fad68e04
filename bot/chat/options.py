"""Command arguments: ``--name value`` options, ``--flag`` switches and the bounded ``--days``."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.chat.command import Context, Rejected
from bot.chat.reply import quoted
from bot.transports.safety import printable

# A token: quoted strings (with escapes) glued to what surrounds them, so `message:"a --days b"`
# stays one token and an option is recognised only outside quotes. A lone unbalanced quote is a
# character like any other; the Lucene check reports it.
_TOKEN = re.compile(r'(?:"(?:[^"\\]|\\.)*"|\\.|[^\s"\\]|["\\])+')
_DASHES = ("\u2014", "\u2013")  # phones turn "--" into an em or en dash


def split_options(
    args: str, allowed: Sequence[str], flags: Sequence[str] = ()
) -> tuple[str, dict[str, str]]:
    """``args`` without its ``--name value`` / ``--name=value`` options and ``--flag``
    switches, and those (a flag given maps to "")."""
    tokens = [m.group() for m in _TOKEN.finditer(args)]
    options: dict[str, str] = {}
    rest: list[str] = []
    while tokens:
        token = tokens.pop(0)
        if token.startswith(_DASHES):
            token = "--" + token[1:]
        if not token.startswith("--") or token == "--":
            rest.append(token)
            continue
        name, eq, value = token[2:].partition("=")
        if name not in (*allowed, *flags):
            known = ", ".join(f"--{a}" for a in (*allowed, *flags)) or "none"
            raise Rejected(f"unknown option --{printable(name)[:20]} (options: {known})")
        if name in flags:
            if eq:
                raise Rejected(f"--{name} takes no value")
        elif not eq:
            if not tokens:
                raise Rejected(f"--{name} needs a value")
            value = tokens.pop(0)
        if name in options:
            raise Rejected(f"--{name} is given twice")
        options[name] = value
    return " ".join(rest), options


def days_option(ctx: Context, value: str | None) -> int:
    """The ``--days`` value: default when absent, else a whole number within the user's cap."""
    settings = ctx.settings
    if value is None:
        return settings.default_days
    limit = settings.admin_max_days if ctx.admin else settings.max_days
    if not re.fullmatch(r"[+-]?\d+", value):
        raise Rejected(f"--days takes a whole number of days, not {quoted(value, 20)}")
    days = int(value) if len(value) < 10 else limit + 1  # int() of 10**6 digits is slow
    if not 1 <= days <= limit:
        more = "" if ctx.admin or limit >= settings.admin_max_days else " for non-admins"
        raise Rejected(f"--days must be between 1 and {limit}{more}")
    return days
