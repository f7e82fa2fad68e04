"""IRC text, pure: formatting codes and colours, text cleaned of them, names compared the way
servers do (RFC 1459 case mapping), channel names, lines cut to fit the protocol.

The one home of these for the whole bot: announcements (bold, colours), the chat dispatcher
(formatting stripped from commands), the ACL (nicks and masks folded), the IRC transport.
Nothing here does I/O or imports more than the standard library, so any layer may use it.

Why the byte budget is smaller than 512: the server relays our line to others with our full
``:nick!user@host`` prefix in front, and a relayed line longer than 512 bytes is cut by the
server, silently. So a line we send must leave room for that prefix, not only for our command.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, replace

# --- formatting codes ---------------------------------------------------------------------

BOLD = "\x02"
COLOR = "\x03"  # followed by a colour number: COLOR + "04" (see color_code)
HEX_COLOR = "\x04"  # followed by RRGGBB; few clients show it
RESET = "\x0f"  # ends every formatting in force
MONOSPACE = "\x11"
REVERSE = "\x16"
ITALIC = "\x1d"
STRIKE = "\x1e"
UNDERLINE = "\x1f"

# The 16 colours every client shows (mIRC numbering), for color() and color_code().
WHITE = 0
BLACK = 1
BLUE = 2
GREEN = 3
RED = 4
BROWN = 5
PURPLE = 6
ORANGE = 7
YELLOW = 8
LIGHT_GREEN = 9
CYAN = 10
LIGHT_CYAN = 11
LIGHT_BLUE = 12
PINK = 13
GREY = 14
LIGHT_GREY = 15

_TOGGLES = (BOLD, ITALIC, UNDERLINE, STRIKE, MONOSPACE, REVERSE)  # each code switches on/off
_HEX = "[0-9a-fA-F]{6}"
_CODE = (
    rf"\x03(?:\d{{1,2}}(?:,\d{{1,2}})?)?|\x04(?:{_HEX}(?:,{_HEX})?)?|[\x02\x0f\x11\x16\x1d-\x1f]"
)
_CODE_RE = re.compile(_CODE)
_TOKEN_RE = re.compile(rf"{_CODE}|[ \t]+|[^ \t\x02-\x04\x0f\x11\x16\x1d-\x1f]+")
_COLOR_RE = re.compile(r"\x03(\d{1,2})?(?:,(\d{1,2}))?")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# Controls that are no formatting code: NUL ends a line for some servers, \x01 starts CTCP.
_UNSAFE_RE = re.compile(r"[\x00\x01\x05-\x08\x0b\x0c\x0e\x10\x12-\x15\x17-\x1c\x7f]")
_UNSAFE_AFTER_COLOR_RE = re.compile(r"(\x03(?:\d{1,2}(?:,\d{0,2})?)?)" + _UNSAFE_RE.pattern + "+")


def bold(text: str) -> str:
    return f"{BOLD}{text}{BOLD}"


def color_code(fg: int, bg: int | None = None) -> str:
    """The code that turns colour ``fg`` (0-98; background ``bg``) on: ``color_code(RED)`` is
    ``"\\x0304"``. Always two digits, so a digit after it is never read as part of it."""
    if not 0 <= fg <= 98 or not (bg is None or 0 <= bg <= 98):
        raise ValueError(f"IRC colours are 0 to 98, not {fg}, {bg}")
    return f"{COLOR}{fg:02d}" if bg is None else f"{COLOR}{fg:02d},{bg:02d}"


def color(text: str, fg: int, bg: int | None = None) -> str:
    """``text`` in colour ``fg`` (on ``bg``); only the colour is switched off after it."""
    return f"{color_code(fg, bg)}{text}{COLOR}"


def strip_formatting(text: str) -> str:
    """``text`` without bold, colours (mIRC and hex), italics and the other codes."""
    return _CODE_RE.sub("", text)


def clean_incoming(text: str) -> str:
    """What someone typed, as plain text: no formatting, no control characters, trimmed."""
    text = strip_formatting(text).replace("\t", " ")
    return _CONTROL_RE.sub("", text).strip()


# --- names -------------------------------------------------------------------------------

# CASEMAPPING=rfc1459, what most networks use: A-Z and []\~ are the upper case of a-z and {}|^.
# ASCII only, as servers compare: "Ä" and "ä" are two names.
_RFC1459 = str.maketrans(string.ascii_uppercase + "[]\\~", string.ascii_lowercase + "{}|^")
CHANNEL_PREFIXES = ("#", "&", "+", "!")
# Never in a channel name: the separators of a JOIN line, BEL, the line end.
_NOT_IN_CHANNEL = re.compile(r"[ ,\x07\r\n\x00]")


def fold(name: str) -> str:
    """A nick, channel, mask or account in its case-insensitive form, for comparing names:
    ``fold("Nick[m]~") == fold("nick{m}^") == "nick{m}^"``."""
    return name.translate(_RFC1459)


def is_channel(name: str) -> bool:
    """Whether ``name`` can be a channel (and not a nick): ``#openstack-qa``, ``&local``."""
    return name.startswith(CHANNEL_PREFIXES) and not _NOT_IN_CHANNEL.search(name)


# --- lines -------------------------------------------------------------------------------

LINE_LIMIT = 512  # bytes, CR LF included (RFC 1459 §2.3)
USER_MAX = 10  # ident with the "~" some servers add
HOST_MAX = 63  # a host name label limit; cloaks are shorter
MIN_BUDGET = 32


def line_budget(
    command: str, target: str, nick: str, user: str | None = None, host: str | None = None
) -> int:
    """Bytes of text that fit in one ``command target :text`` line once relayed with our prefix.

    Without ``user``/``host`` (not yet seen in an echo of our own JOIN) the longest usual ones
    are assumed.
    """
    mask = f"{nick}!{user or 'u' * USER_MAX}@{host or 'h' * HOST_MAX}"
    overhead = len(f":{mask} {command} {target} :\r\n".encode())
    return max(MIN_BUDGET, LINE_LIMIT - overhead)


def split_message(text: str, max_bytes: int) -> list[str]:
    """``text`` as IRC lines of at most ``max_bytes`` UTF-8 bytes each.

    Lines break at newlines and, when too long, at the last space that fits; a word longer than a
    line is cut between characters. Control characters that are no formatting code (NUL, the
    CTCP marker) are dropped. Formatting open at a break is opened again on the next
    line, because IRC clients reset it at each line. Blank lines are dropped (IRC has none).
    """
    if max_bytes < MIN_BUDGET:
        raise ValueError(f"max_bytes must be at least {MIN_BUDGET}")
    lines: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = _drop_unsafe(line.replace("\t", " "))
        if strip_formatting(line).strip():
            lines.extend(_split_line(line.rstrip(), max_bytes))
    return lines


def _drop_unsafe(line: str) -> str:
    # Dropping a character after a colour code would let the code swallow the digits behind
    # it ("\x03\x1c0" must not become colour 0): there, two bold toggles keep them apart.
    line = _UNSAFE_AFTER_COLOR_RE.sub(lambda m: m.group(1) + BOLD + BOLD, line)
    return _UNSAFE_RE.sub("", line)


@dataclass(frozen=True)
class _Format:
    """The formatting in force at a point of a line."""

    toggles: frozenset[str] = frozenset()  # the toggle codes switched on
    fg: str | None = None
    bg: str | None = None

    def apply(self, code: str) -> _Format:
        if code == RESET:
            return _Format()
        if code in _TOGGLES:
            return replace(self, toggles=self.toggles ^ {code})
        match = _COLOR_RE.fullmatch(code)
        if match is None:  # hex colours are passed through, not carried over
            return self
        fg, bg = match.groups()
        if fg is None:
            return replace(self, fg=None, bg=None)
        return replace(self, fg=fg.zfill(2), bg=bg.zfill(2) if bg else self.bg)

    def codes(self) -> str:
        """The codes that open this formatting at the start of a line."""
        out = "".join(code for code in _TOGGLES if code in self.toggles)
        if self.fg is not None:
            out += COLOR + self.fg + (f",{self.bg}" if self.bg else "")
        return out


def _size(text: str) -> int:
    return len(text.encode())


def _split_line(line: str, limit: int) -> list[str]:
    out: list[str] = []
    state = _Format()
    chunk = ""  # the line being filled, starting with the codes that reopen `state`
    has_text = False
    for token in _TOKEN_RE.findall(line):
        if _CODE_RE.fullmatch(token):
            chunk, state = chunk + token, state.apply(token)
            continue
        if token.isspace() and not has_text:
            continue  # no leading blanks on a continuation line
        if _size(chunk + token) <= limit:
            chunk, has_text = chunk + token, True
            continue
        if has_text:
            out.append(chunk.rstrip(" \t"))
            chunk, has_text = state.codes(), False
            if token.isspace():
                continue
        pieces = _cut_word(token, limit - _size(chunk), limit - len(state.codes()))
        for piece in pieces[:-1]:
            out.append(chunk + piece)
            chunk = state.codes()
        chunk, has_text = chunk + pieces[-1], True
    if has_text:
        out.append(chunk.rstrip(" \t"))
    return out


def _cut_word(word: str, first: int, rest: int) -> list[str]:
    """``word`` cut between characters: the first piece fits ``first`` bytes, others ``rest``."""
    pieces: list[str] = []
    piece, room = "", first
    for char in word:
        if _size(piece + char) > room and piece:
            pieces.append(piece)
            piece, room = "", rest
        piece += char
    pieces.append(piece)
    return pieces
