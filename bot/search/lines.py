"""One log line as a search hit holds it, read from either document layout and made safe to show.

A verdict keeps the lines its queries matched (its *evidence*), and they end up in chat replies,
on dashboard pages and in the journal. Their text comes from the logs of any change anybody
pushed: it is cut short and its control characters dropped where it is read, before anything
else sees it. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.search.schema import doc_text, log_dir

#: The ``_source`` fields a line is shown with (the same names in both layouts).
LINE_FIELDS = ("message", "filename", "log_url", "@timestamp")
#: Characters of a line kept: enough to recognise the error, short enough for a chat line.
MAX_CHARS = 300
#: Characters of a file name kept (a path inside the build's logs).
MAX_FILE = 200
#: Longer log URLs are not linked (no log server writes them; a document could).
MAX_URL = 2000

# Terminal colour and cursor codes (ansible and tox colour their output): CSI and OSC sequences
# and two-byte escapes go whole, not just their ESC.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
# Line breaks and tabs become spaces (a chat line stays one line); the other C0/C1 controls,
# DEL and the bidi controls go (an ESC drives a terminal, a U+202E reverses what follows).
_BREAKS = re.compile(r"[\t\n\v\f\r\x85\u2028\u2029]+")
_HIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class LogLine:
    """A line of a build's logs: its text, the file it is in, and when it was logged."""

    message: str
    file: str = ""  # path inside the build's logs ("job-output.txt", "logs/syslog.txt")
    url: str | None = None  # the file's log URL, when the document names one
    logged: str = ""  # the line's @timestamp as indexed; the layouts carry no line number


def clean(text: str, limit: int = MAX_CHARS) -> str:
    """``text`` as one printable line of at most ``limit`` characters (``…`` when cut)."""
    # Cut before cleaning too: a megabyte line must not cost the event loop a regex pass.
    text = text[: limit * 4]
    flat = _HIDDEN.sub("", _BREAKS.sub(" ", _ESCAPES.sub("", text))).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def read_line(source: Mapping[str, Any]) -> LogLine:
    """The line in a hit's ``_source`` (ER-era or logsender layout)."""
    url = doc_text(source, "log_url")
    name = doc_text(source, "filename") or _base_name(url)
    return LogLine(
        message=clean(doc_text(source, "message")),
        file=clean(name, MAX_FILE),
        url=_file_url(url, name),
        logged=clean(doc_text(source, "@timestamp"), 40),
    )


def read_hits(agg: Mapping[str, Any] | None) -> tuple[LogLine, ...]:
    """The lines of a ``top_hits`` aggregation's answer, in its order; empty lines left out."""
    hits = (agg or {}).get("hits", {}).get("hits", [])
    lines = (read_line(hit.get("_source") or {}) for hit in hits if isinstance(hit, dict))
    return tuple(line for line in lines if line.message)


def _base_name(url: str) -> str:
    # logsender's log_url is the line's own file: its last part names it.
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] if url else ""


def _file_url(url: str, name: str) -> str | None:
    """The URL of the line's file: logsender's ``log_url`` is it; ER's era names the console,
    and the file sits next to it in the build's log directory."""
    if not url or len(url) > MAX_URL:
        return None
    if not name or url.endswith("/" + name) or url.endswith("/" + name + ".gz"):
        return url
    root = log_dir(url, name)
    return root + name.lstrip("/") if root.endswith("/") else url
