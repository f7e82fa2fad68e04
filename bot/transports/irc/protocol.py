"""IRC protocol details, pure: capability negotiation and SASL PLAIN as a state machine,
alternative nicks, JOIN lines, the send pacer, what a TLS mismatch looks like. No I/O: tested
on plain values."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.core.tokenbucket import TokenBucket

SASL_CHUNK = 400  # AUTHENTICATE payloads go in pieces of at most 400 bytes
OPTIONAL_CAPS = ("account-tag", "extended-join", "multi-prefix")  # asked for when offered
TLS_PORT, PLAIN_PORT = 6697, 6667  # the usual ports (RFC 7194 for TLS)
TLS_RECORDS = (0x15, 0x16)  # TLS record types a server opens with: alert, handshake


def alternative_nick(nick: str, attempt: int) -> str:
    """The nick to try when ``nick`` is taken: ``nick_``, ``nick__``, then ``nick_3``…"""
    return nick + ("_" * attempt if attempt <= 2 else f"_{attempt}")


def join_lines(channels: list[str], limit: int) -> list[str]:
    """Channels comma-joined into JOIN parameters of at most ``limit`` bytes each."""
    lines: list[str] = []
    for channel in channels:
        if lines and len(f"{lines[-1]},{channel}".encode()) <= limit:
            lines[-1] += f",{channel}"
        else:
            lines.append(channel)
    return lines


def looks_like_tls(data: bytes) -> bool:
    """Whether ``data``, the first bytes from a server, open a TLS record (a handshake or an
    alert: what a TLS port answers plain text with) rather than an IRC line."""
    return len(data) >= 2 and data[0] in TLS_RECORDS and data[1] == 0x03  # version 3.x


def tls_failed(host: str, port: int, why: str) -> str:
    """Why a TLS handshake failed, with the usual cause (``tls: true`` on a plain-text port)."""
    other = f", or port {TLS_PORT}" if port != TLS_PORT else ""
    return (
        f"TLS handshake with {host}:{port} failed ({why}): is this a plain-text port? "
        f"try tls: false{other}"
    )


def tls_expected(host: str, port: int, what: str, *, certain: bool = False) -> str:
    """What a plain-text connection met (``what``), with the usual cause: a TLS port
    (``certain``: the server's answer was TLS)."""
    cause = "the server speaks TLS on this port;" if certain else "is this a TLS port?"
    other = f", or port {PLAIN_PORT} for plain text" if port != PLAIN_PORT else ""
    return f"{host}:{port} {what}: {cause} try tls: true{other}"


class Pacer:
    """Flood control: ``burst`` lines at once, then one per ``interval`` s (0: no pacing).

    Servers disconnect a client that floods them ("Excess Flood"), so lines go out no faster.
    """

    def __init__(
        self, burst: int, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._bucket = TokenBucket(burst, 1 / interval, clock()) if interval else None

    def delay(self) -> float:
        """Seconds until the next line may go (0: now)."""
        return self._bucket.wait_for(self._clock()) if self._bucket else 0.0

    def take(self) -> None:
        """A line went out."""
        if self._bucket:
            self._bucket.take(self._clock())


def parse_caps(text: str) -> dict[str, str]:
    """CAP LS text → ``{capability: value}``: ``"sasl=PLAIN multi-prefix"`` → two entries."""
    return {name: value for name, _, value in (cap.partition("=") for cap in text.split())}


def sasl_plain(account: str, password: str) -> list[str]:
    """AUTHENTICATE payloads for SASL PLAIN; ``+`` ends a payload that fills its last piece."""
    data = base64.b64encode(f"{account}\0{account}\0{password}".encode()).decode()
    pieces = [data[i : i + SASL_CHUNK] for i in range(0, len(data), SASL_CHUNK)]
    return [*pieces, "+"] if len(data) % SASL_CHUNK == 0 else pieces


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
