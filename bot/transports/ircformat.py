"""IRC text and protocol details, pure: formatting codes, lines cut to fit the protocol,
incoming text cleaned, nick and capability helpers, the send pacer.

Nothing here does I/O, so it is tested on plain strings (the pacer takes a clock).

Why the byte budget is smaller than 512: the server relays our line to others with our full
``:nick!user@host`` prefix in front, and a relayed line longer than 512 bytes is cut by the
server, silently. So a line we send must leave room for that prefix, not only for our command.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

BOLD = "\x02"
COLOR = "\x03"
HEX_COLOR = "\x04"
RESET = "\x0f"
MONOSPACE = "\x11"
REVERSE = "\x16"
ITALIC = "\x1d"
STRIKE = "\x1e"
UNDERLINE = "\x1f"

LINE_LIMIT = 512  # bytes, CR LF included (RFC 1459 §2.3)
USER_MAX = 10  # ident with the "~" some servers add
HOST_MAX = 63  # a host name label limit; cloaks are shorter
MIN_BUDGET = 32
SASL_CHUNK = 400  # AUTHENTICATE payloads go in pieces of at most 400 bytes
OPTIONAL_CAPS = ("account-tag", "extended-join", "multi-prefix")  # asked for when offered

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


def color(text: str, fg: int, bg: int | None = None) -> str:
    """``text`` in mIRC colour ``fg`` (0-98); two digits, so a following digit is never eaten."""
    codes = f"{fg:02d}" if bg is None else f"{fg:02d},{bg:02d}"
    return f"{COLOR}{codes}{text}{COLOR}"


def strip_formatting(text: str) -> str:
    """``text`` without bold, colour, italics and the like."""
    return _CODE_RE.sub("", text)


def clean_incoming(text: str) -> str:
    """What someone typed, as plain text: no formatting, no control characters, trimmed."""
    text = strip_formatting(text).replace("\t", " ")
    return _CONTROL_RE.sub("", text).strip()


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


def fold(name: str) -> str:
    """Nick or channel in RFC 1459 case mapping, for comparisons."""
    return name.lower().translate(str.maketrans("[]\\^", "{}|~"))


def alternative_nick(nick: str, attempt: int) -> str:
    """The nick to try when ``nick`` is taken: ``nick_``, ``nick__``, then ``nick_3``…"""
    return nick + ("_" * attempt if attempt <= 2 else f"_{attempt}")


def parse_caps(text: str) -> dict[str, str]:
    """CAP LS text → ``{capability: value}``: ``"sasl=PLAIN multi-prefix"`` → two entries."""
    return {name: value for name, _, value in (cap.partition("=") for cap in text.split())}


def sasl_plain(account: str, password: str) -> list[str]:
    """AUTHENTICATE payloads for SASL PLAIN; ``+`` ends a payload that fills its last piece."""
    data = base64.b64encode(f"{account}\0{account}\0{password}".encode()).decode()
    pieces = [data[i : i + SASL_CHUNK] for i in range(0, len(data), SASL_CHUNK)]
    return [*pieces, "+"] if len(data) % SASL_CHUNK == 0 else pieces


class Pacer:
    """Token bucket: ``burst`` lines at once, then one line per ``interval`` seconds."""

    def __init__(
        self, burst: int, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst, self.interval, self._clock = burst, interval, clock
        self._tokens, self._stamp = float(burst), clock()

    def delay(self) -> float:
        """Seconds until the next line may go (0: now)."""
        self._refill()
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) * self.interval

    def take(self) -> None:
        self._refill()
        self._tokens -= 1

    def _refill(self) -> None:
        now = self._clock()
        gained = (now - self._stamp) / self.interval if self.interval else self.burst
        self._tokens, self._stamp = min(float(self.burst), self._tokens + gained), now


def join_lines(channels: list[str], limit: int) -> list[str]:
    """Channels comma-joined into JOIN parameters of at most ``limit`` bytes each."""
    lines: list[str] = []
    for channel in channels:
        if lines and len(f"{lines[-1]},{channel}".encode()) <= limit:
            lines[-1] += f",{channel}"
        else:
            lines.append(channel)
    return lines


@dataclass
class CapNegotiation:
    """IRCv3 capability negotiation and SASL PLAIN, as a state machine: server replies in,
    lines to send out. No I/O; the transport sends the lines and reads the outcome.

    ``account`` None: no SASL wanted. ``required``: a SASL failure is a ``problem`` (drop the
    connection); otherwise it is a ``warning`` and registration goes on without it.
    """

    account: str | None = None
    password: str | None = None
    required: bool = False
    offered: dict[str, str] = field(default_factory=dict)
    ended: bool = False
    logged_in: bool = False
    warning: str | None = None
    problem: str | None = None

    def on_cap(self, args: list[str]) -> list[str]:
        """``CAP <nick> <args…>`` from the server (``args`` start at the subcommand)."""
        sub, rest = (args[0], args[1:]) if args else ("", [])
        if sub == "LS":
            self.offered |= parse_caps(rest[-1] if rest else "")
            more = len(rest) > 1 and rest[0] == "*"  # CAP LS 302 continues on another line
            return [] if more else self._request()
        if sub == "ACK" and "sasl" in (rest[-1].split() if rest else ()):
            return ["AUTHENTICATE PLAIN"]
        if sub in ("ACK", "NAK"):
            refused = sub == "NAK" and self.account is not None
            return self._end("the server refused SASL" if refused else None)
        return []

    def on_authenticate(self, arg: str) -> list[str]:
        if arg != "+" or self.account is None:
            return []
        return [f"AUTHENTICATE {piece}" for piece in sasl_plain(self.account, self.password or "")]

    def on_sasl_success(self) -> list[str]:
        self.logged_in = True
        return self._end(None)

    def on_sasl_failure(self, reason: str) -> list[str]:
        return self._end(f"SASL login failed ({reason})")

    def _request(self) -> list[str]:
        wanted = [cap for cap in OPTIONAL_CAPS if cap in self.offered]
        mechanisms = self.offered.get("sasl")
        if self.account is not None:
            if mechanisms is None or (mechanisms and "PLAIN" not in mechanisms.split(",")):
                return self._end("the server offers no SASL PLAIN")
            wanted.append("sasl")
        return [f"CAP REQ :{' '.join(wanted)}"] if wanted else self._end(None)

    def _end(self, trouble: str | None) -> list[str]:
        if trouble and self.required:
            self.problem = f"{trouble}, and auth: sasl requires it"
            return []
        self.warning = trouble
        if self.ended:
            return []
        self.ended = True
        return ["CAP END"]
