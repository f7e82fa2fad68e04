"""Recognising a command in a chat line, pure: ``!name args``, ``botnick: name args``, and in a
private message ``name args`` too.

Runs on every line the bot hears, so it is cheap, and on anything anyone types, so it never
raises (``tests/test_fuzz.py`` holds it to that).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass

from bot.transports.ircformat import fold as irc_fold

_NAME = re.compile(r"[A-Za-z][\w-]{0,31}")
# Format characters allowed: zero-width (non-)joiners hold emoji and Indic text together.
_ALLOWED_FORMAT = {"\u200c", "\u200d"}


@dataclass(frozen=True)
class Invocation:
    """A message that asks the bot for a command."""

    name: str
    args: str
    by_name: bool  # addressed as "botnick: ..."
    bare: bool = False  # a private message without the prefix: its first word, maybe chatter


def parse_invocation(
    text: str, prefix: str, names: Collection[str], *, private: bool = False
) -> Invocation | None:
    """The command in ``text``, or None when the message is not for the bot.

    In a ``private`` message (only the bot hears it) the prefix is optional: the first word is
    the command, marked ``bare`` so that the caller can tell chatter from a command.
    """
    text = text.lstrip()
    by_name = bare = False
    if text.startswith(prefix):
        text = text[len(prefix) :]
    elif (rest := _after_name(text, names)) is not None:
        text, by_name = rest.removeprefix(prefix), True
    elif private:
        bare = True
    else:
        return None
    word = _NAME.match(text)
    if word is None or (len(text) > word.end() and not text[word.end()].isspace()):
        return None  # "!!!", "! foo", "!x=y": punctuation in passing, not a command
    return Invocation(word.group().lower(), text[word.end() :].strip(), by_name, bare)


def _after_name(text: str, names: Collection[str]) -> str | None:
    for name in names:
        head = text[: len(name)]
        if name and irc_fold(head) == irc_fold(name) and text[len(name) : len(name) + 1] in ":,":
            rest = text[len(name) + 1 :]
            if rest[:1].isspace() or not rest:
                return rest.strip()
    return None


def text_problem(text: str, limit: int) -> str | None:
    """Why a command's text is refused, or None. Runs on every addressed message: cheap."""
    if len(text) > limit:
        return f"that message is too long ({len(text)} characters; the limit is {limit})"
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc" and char != "\t":
            return f"control characters (U+{ord(char):04X}) are not allowed in commands"
        if category == "Cf" and char not in _ALLOWED_FORMAT:
            name = unicodedata.name(char, "format character").lower()
            return f"invisible formatting characters ({name}, U+{ord(char):04X}) are not allowed"
    return None


def audit_text(text: str) -> str:
    """A command line for the audit table, control characters escaped."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[:500])
