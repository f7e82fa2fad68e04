"""Comments that are no failure report but tell what a failure cost: rechecks, and CI reports.

A developer who meets a failure they believe is not theirs comments ``recheck`` (OpenStack's
convention; ``reverify`` was the gate's word) and the buildset runs again. :func:`change_event`
recognises such a comment as a :class:`Recheck`, and every other report a CI account posts
(passed, merge conflict, a failure judged elsewhere...) as a :class:`CiReport`: a report ends
the time in which a recheck is blamed on the failure before it (:mod:`bot.intel.impact`).

Pure functions on the raw stream-events object; anything else is None, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from bot.events.decode import epoch_seconds
from bot.events.parse import MAX_COMMENT_CHARS, CommentKind, parse_comment
from bot.events.source import RawEvent

#: The words that rerun a change's jobs, as OpenDev's pipelines trigger on them.
RECHECK_WORDS = ("recheck", "reverify")

# OpenDev's check pipeline triggers on `(?i)^(Patch Set [0-9]+:)?( [\w\\+-]*)*(\n\n)?\s*recheck`:
# Gerrit's vote line, then the word at the start of the text. What counts as a recheck here is
# what that pattern matches, so it is what reran the jobs (no word boundary after the word:
# "recheck-please" reruns them too). The pattern itself backtracks quadratically on a line of
# spaces, so :func:`recheck_word` reads it in two linear steps instead.
_VOTE_PREFIX = re.compile(r"Patch Set [0-9]+:", re.IGNORECASE)
_VOTES = re.compile(r"[ \w\\+-]*")  # `( [\w\\+-]*)*`: a run of these that starts with a space
_WORD = re.compile("|".join(RECHECK_WORDS), re.IGNORECASE)
_SPACE = re.compile(r"\s*")
_NUMBER = re.compile(r"\d{1,12}")


@dataclass(frozen=True)
class Recheck:
    """Somebody asked CI to run a patchset's jobs again."""

    server: str
    change: str
    patchset: str
    created: float | None  # eventCreatedOn; None when the event has none
    author: str
    word: str  # "recheck" or "reverify", lower case


@dataclass(frozen=True)
class CiReport:
    """A CI account reported on a patchset with anything but a failed build the bot judges."""

    server: str
    change: str
    patchset: str
    created: float | None
    kind: str  # what the report says: "build succeeded", "merge conflict"...


def recheck_word(comment: str) -> str | None:
    """``recheck`` / ``reverify`` when ``comment`` asks for a rerun as Zuul understands it."""
    start = _end(_VOTE_PREFIX, comment, 0)
    votes = _end(_VOTES, comment, start) if comment.startswith(" ", start) else start
    # The word right after the run and whitespace, else the last one inside the run
    # (" Code-Review+1 recheck"): the one Zuul's greedy pattern settles on.
    found = _WORD.match(comment, _end(_SPACE, comment, votes))
    if found is None:
        found = next(reversed(list(_WORD.finditer(comment, start, votes))), None)
    return found[0].lower() if found else None


def _end(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """Where ``pattern`` matched at ``pos`` ends; ``pos`` when it did not match."""
    found = pattern.match(text, pos)
    return found.end() if found else pos


def change_event(raw: RawEvent, ci_accounts: Collection[str]) -> Recheck | CiReport | None:
    """A Gerrit ``comment-added`` as a recheck (by a person) or a CI report (by a CI account)."""
    data: object = raw.data
    if raw.kind != "gerrit" or not isinstance(data, Mapping):
        return None
    if data.get("type") != "comment-added":
        return None
    comment, author = data.get("comment"), _author(data.get("author"))
    where = _patchset(data)
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT_CHARS or not where or not author:
        return None
    created = epoch_seconds(data.get("eventCreatedOn"))
    if author in ci_accounts:
        kind = parse_comment(comment).kind
        if kind is CommentKind.UNKNOWN:  # "Starting check jobs.": no report yet
            return None
        return CiReport(raw.server, *where, created, str(kind))
    word = recheck_word(comment)
    return Recheck(raw.server, *where, created, author, word) if word else None


def _author(value: object) -> str | None:
    """Who wrote it: the username, else the e-mail or the name (stream-events gives some)."""
    if not isinstance(value, Mapping):
        return None
    for key in ("username", "email", "name"):
        if isinstance(found := value.get(key), str) and found:
            return found
    return None


def _patchset(data: Mapping[str, Any]) -> tuple[str, str] | None:
    change, patchset = data.get("change"), data.get("patchSet")
    if not isinstance(change, Mapping) or not isinstance(patchset, Mapping):
        return None
    number, ps = _number(change.get("number")), _number(patchset.get("number"))
    return (number, ps) if number and ps else None


def _number(value: object) -> str | None:
    """A Gerrit number, int (newer Gerrit) or digit string (older), as a canonical string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 <= value < 10**12:
        return str(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return str(int(value.strip()))
    return None
