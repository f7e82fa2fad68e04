"""IRC protocol helpers: pure, tested on values (the pacer on a fake clock)."""

from __future__ import annotations

import base64

import pytest

from bot.transports.irc.protocol import (
    SASL_CHUNK,
    CapNegotiation,
    Pacer,
    alternative_nick,
    join_lines,
    looks_like_tls,
    parse_caps,
    sasl_plain,
    tls_expected,
    tls_failed,
)
from tests.support.clock import FakeClock


def test_pacer_lets_a_burst_through_then_one_line_per_interval() -> None:
    clock = FakeClock()
    pacer = Pacer(burst=3, interval=0.5, clock=clock)
    for _ in range(3):
        assert pacer.delay() == 0.0
        pacer.take()
    assert pacer.delay() == pytest.approx(0.5)
    clock.now += 0.2
    assert pacer.delay() == pytest.approx(0.3)
    clock.now += 0.3
    assert pacer.delay() == 0.0
    pacer.take()
    assert pacer.delay() == pytest.approx(0.5)
    clock.now += 60  # a quiet minute refills the burst, no more
    for _ in range(3):
        assert pacer.delay() == 0.0
        pacer.take()
    assert pacer.delay() > 0


def test_pacer_with_interval_zero_never_waits() -> None:
    pacer = Pacer(burst=1, interval=0, clock=FakeClock())
    for _ in range(100):
        assert pacer.delay() == 0.0
        pacer.take()


def test_alternative_nicks() -> None:
    assert [alternative_nick("bot", n) for n in (1, 2, 3, 9)] == [
        "bot_",
        "bot__",
        "bot_3",
        "bot_9",
    ]


def test_join_lines_stay_within_the_limit_and_keep_every_channel() -> None:
    channels = [f"#channel-{i:02d}" for i in range(40)]
    lines = join_lines(channels, 60)
    assert all(len(line.encode()) <= 60 for line in lines)
    assert ",".join(lines).split(",") == channels
    assert join_lines([], 60) == []


def test_parse_caps() -> None:
    assert parse_caps("sasl=PLAIN,EXTERNAL multi-prefix") == {
        "sasl": "PLAIN,EXTERNAL",
        "multi-prefix": "",
    }


def test_sasl_plain_is_chunked_and_a_full_last_chunk_is_ended_with_plus() -> None:
    (short,) = sasl_plain("acct", "pw")
    assert base64.b64decode(short) == b"acct\0acct\0pw"
    # 300 raw bytes are exactly 400 base64 characters: one full piece, then "+".
    exact = sasl_plain("a", "p" * (300 - len("a\0a\0")))
    assert [len(piece) for piece in exact] == [SASL_CHUNK, 1]
    assert exact[-1] == "+"
    long = sasl_plain("a", "p" * 400)
    assert [len(piece) for piece in long[:-1]] == [SASL_CHUNK] * (len(long) - 1)
    assert base64.b64decode("".join(long)).endswith(b"p" * 400)


def test_negotiation_with_sasl_logs_in_and_ends() -> None:
    cap = CapNegotiation(account="acct", password="pw", required=True)
    assert cap.on_cap(["LS", "*", "multi-prefix"]) == []  # more LS lines to come
    assert cap.on_cap(["LS", "sasl=PLAIN account-tag"]) == [
        "CAP REQ :account-tag multi-prefix sasl"
    ]
    assert cap.on_cap(["ACK", "account-tag multi-prefix sasl"]) == ["AUTHENTICATE PLAIN"]
    assert cap.on_authenticate("+") == [f"AUTHENTICATE {sasl_plain('acct', 'pw')[0]}"]
    assert cap.on_sasl_success() == ["CAP END"]
    assert cap.logged_in
    assert (cap.warning, cap.problem) == (None, None)


def test_negotiation_without_sasl_only_asks_for_optional_caps() -> None:
    cap = CapNegotiation()
    assert cap.on_cap(["LS", "sasl multi-prefix"]) == ["CAP REQ :multi-prefix"]
    assert cap.on_cap(["ACK", "multi-prefix"]) == ["CAP END"]
    assert CapNegotiation().on_cap(["LS", "sasl"]) == ["CAP END"]


def test_a_missing_sasl_is_a_warning_unless_required() -> None:
    optional = CapNegotiation(account="acct", password="pw")
    assert optional.on_cap(["LS", "multi-prefix"]) == ["CAP END"]
    assert optional.warning == "the server offers no SASL PLAIN"
    assert optional.problem is None

    required = CapNegotiation(account="acct", password="pw", required=True)
    assert required.on_cap(["LS", "sasl=EXTERNAL"]) == []
    assert required.problem == "the server offers no SASL PLAIN, and auth: sasl requires it"


def test_a_failed_sasl_login_ends_negotiation_once() -> None:
    cap = CapNegotiation(account="acct", password="pw")
    cap.on_cap(["LS", "sasl"])
    cap.on_cap(["ACK", "sasl"])
    assert cap.on_sasl_failure("saslfail: bad password") == ["CAP END"]
    assert cap.warning == "SASL login failed (saslfail: bad password)"
    assert cap.on_cap(["NAK", "sasl"]) == []  # CAP END is not sent twice
    assert not cap.logged_in


@pytest.mark.parametrize(
    ("first", "tls"),
    [
        (b"\x15\x03\x03\x00\x02\x02\x46", True),  # an alert: what a TLS port says to plain text
        (b"\x16\x03\x01\x00\x5a", True),  # a handshake record
        (b":irc.example 001 bot :Welcome\r\n", False),
        (b"NOTICE * :*** Looking up your hostname\r\n", False),
        (b"\x15", False),  # too short to tell
        (b"\x16ello", False),  # not a TLS version byte after the type
    ],
)
def test_the_first_bytes_of_a_tls_port_are_told_from_irc(first: bytes, tls: bool) -> None:
    assert looks_like_tls(first) is tls


def test_tls_mismatch_messages_name_the_setting_to_change() -> None:
    assert tls_failed("irc.example", 6667, "timed out") == (
        "TLS handshake with irc.example:6667 failed (timed out): is this a plain-text port? "
        "try tls: false, or port 6697"
    )
    assert tls_failed("irc.example", 6697, "x").endswith("try tls: false")
    assert tls_expected("irc.example", 6697, "answered in TLS", certain=True) == (
        "irc.example:6697 answered in TLS: the server speaks TLS on this port; "
        "try tls: true, or port 6667 for plain text"
    )
    assert tls_expected("irc.example", 6667, "sent nothing").endswith(
        "is this a TLS port? try tls: true"
    )
