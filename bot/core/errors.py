"""Exceptions as one line, the same way everywhere (logs, ``!status``, the journal, chat)."""

from __future__ import annotations

#: Longest line :func:`describe` returns: a server may put a whole page in its error.
LIMIT = 300


class ReadableError(Exception):
    """An error whose message is written for people: :func:`describe` shows it as it is.

    Others are shown with their type (``ConnectionRefusedError: …``), which says more than a
    library's bare message does.
    """


def describe(exc: BaseException, limit: int = LIMIT) -> str:
    """``exc`` as one short line: a readable error's own message, "timed out" for a timeout
    that says nothing, otherwise ``Type: first line of the message`` (or just ``Type``)."""
    text = first_line(str(exc))
    if isinstance(exc, ReadableError) and text:
        line = text
    elif isinstance(exc, TimeoutError) and not text:
        line = "timed out"
    else:
        line = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return line[:limit]


def first_line(text: str) -> str:
    """The first non-blank line of ``text``, stripped."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
