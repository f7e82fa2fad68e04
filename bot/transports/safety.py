"""Text from outside made safe where the bot writes it: links that are http(s) only, lines with no
control characters. Pure; used by the announcements, the dashboard pages and the console.

Gerrit, Zuul, the search index and the bug trackers supply names, titles and URLs that nobody
here checked. A ``javascript:`` URL in an ``href`` runs in the reader's browser (a page written
to a file has no CSP to stop it); a CR/LF or a right-to-left override makes a chat line look like
two lines or like other text; an ESC sequence drives the terminal the console writes to.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# ESC sequences as terminals read them (ECMA-48): CSI (ESC [ or 0x9B, parameters, a final
# byte), OSC (ESC ] or 0x9D, up to BEL or ST), and ESC, intermediate bytes, a final byte
# (ESC ( B); a lone ESC as well.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
# Line breaks of every kind (a chat line must stay one line): CR, LF, VT, FF, NEL, LS, PS; tab.
_BREAKS = re.compile(r"[\t\n\v\f\r\x85\u2028\u2029]")
# The other C0 and C1 controls and DEL, and the bidi controls: marks, embeddings, overrides,
# isolates (a U+202E makes "exe.txt" read "txt.exe").
_HIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# No whitespace, control character, quote or angle bracket may be in a link we write.
_URL_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f-\x9f\"'<>\\`]")


def printable(text: str) -> str:
    """``text`` as one line of printable characters: ESC sequences, bidi and other control
    characters dropped, line breaks and tabs made spaces."""
    return _HIDDEN.sub("", _BREAKS.sub(" ", _ESCAPES.sub("", text)))


def http_url(url: str | None) -> str | None:
    """``url`` when it is an absolute http(s) URL with a host (fit for an ``href``), else None."""
    if not url or _URL_UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # a malformed IPv6 host, say
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url
