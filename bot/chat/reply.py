"""Replies, formatted: pure functions from parts of a line to :class:`Text` in every rendering."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from itertools import pairwise

from bot.transports.base import Text
from bot.transports.ircformat import bold as irc_bold
from bot.transports.safety import http_url, printable


@dataclass(frozen=True)
class Span:
    """A piece of a reply line: bold, or a link (plain/IRC show the URL, HTML the label)."""

    text: str
    url: str | None = None
    bold: bool = False


@dataclass(frozen=True)
class Code:
    """Preformatted lines (a YAML file, a log excerpt), alone on their line of a reply.

    Plain text and IRC have no code markup: the lines go out as they are, indented by
    :data:`CODE_INDENT` to set them off from the prose around them. HTML gets ``<pre><code>``,
    which keeps the indentation that ``<br>``-joined lines would lose.
    """

    text: str


#: Spaces in front of each line of a code block in plain text and IRC.
CODE_INDENT = "  "

Part = str | Span | Code


def code_block(text: str) -> list[Part]:
    """A reply line holding ``text`` as a code block: ``rich(head, code_block(yaml))``."""
    return [Code(text)]


def bold(text: str) -> Span:
    return Span(text, bold=True)


def link(label: str, url: str | None) -> Span | str:
    """A link when ``url`` is a plain http(s) URL; otherwise nothing (never a javascript: href)."""
    safe = http_url(url)
    return Span(label, url=safe) if safe else ""


def rich(*lines: Sequence[Part]) -> Text:
    """A reply of one or more lines in all three renderings.

    Text from the index or from users may hold CR/LF (a second IRC command) or HTML: control
    characters are replaced here and HTML is escaped, so no caller has to remember.
    """
    return Text(
        plain="\n".join("".join(map(_plain, line)) for line in lines),
        irc="\n".join("".join(map(_irc, line)) for line in lines),
        html=_html_lines(["".join(map(_html, line)) for line in lines]),
    )


def _html_lines(lines: Sequence[str]) -> str:
    # A <pre> block is a line break of its own: a <br> beside it would add a blank line.
    out = lines[0] if lines else ""
    for before, line in pairwise(lines):
        block = before.endswith("</pre>") or line.startswith("<pre>")
        out += ("" if block else "<br>") + line
    return out


def _plain(part: Part) -> str:
    if isinstance(part, str):
        return printable(part)
    if isinstance(part, Code):
        return "\n".join(CODE_INDENT + printable(line) for line in part.text.splitlines())
    return printable(part.url or part.text)


def _irc(part: Part) -> str:
    text = _plain(part)
    return irc_bold(text) if isinstance(part, Span) and part.bold else text


def _html(part: Part) -> str:
    if isinstance(part, str):
        return escape(printable(part))
    if isinstance(part, Code):
        code = "\n".join(printable(line) for line in part.text.splitlines())
        return f"<pre><code>{escape(code)}</code></pre>"
    text = escape(printable(part.text))
    if part.url:
        return f'<a href="{escape(part.url)}">{text}</a>'
    return f"<b>{text}</b>" if part.bold else text


def quoted(text: str, limit: int = 40) -> str:
    """User input echoed in a reason: quoted, cut short (the bot must not become a megaphone)."""
    text = printable(text)
    return f'"{text[:limit]}…"' if len(text) > limit else f'"{text}"'


def duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 12 min``, ``2 d 4 h``."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def ago(when: datetime, now: datetime | None = None) -> str:
    return duration(((now or datetime.now(UTC)) - when).total_seconds()) + " ago"
