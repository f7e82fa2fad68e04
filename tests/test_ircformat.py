"""IRC text helpers: pure functions, tested on strings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.transports.ircformat import (
    BLACK,
    BOLD,
    COLOR,
    GREEN,
    HEX_COLOR,
    ITALIC,
    LIGHT_GREY,
    LINE_LIMIT,
    MONOSPACE,
    RED,
    RESET,
    REVERSE,
    STRIKE,
    UNDERLINE,
    WHITE,
    bold,
    clean_incoming,
    color,
    color_code,
    fold,
    is_channel,
    line_budget,
    split_message,
    strip_formatting,
)


def test_bold_and_color_wrap_text() -> None:
    assert bold("x") == "\x02x\x02"
    assert color("5 jobs", RED) == "\x03045 jobs\x03"
    assert color("x", RED, BLACK) == "\x0304,01x\x03"


def test_colour_numbers_are_the_mirc_ones_and_codes_have_two_digits() -> None:
    assert (WHITE, BLACK, GREEN, RED, LIGHT_GREY) == (0, 1, 3, 4, 15)
    assert color_code(RED) == "\x0304"  # what announcements put before a failed job
    assert color_code(GREEN, WHITE) == "\x0303,00"
    assert strip_formatting(color_code(RED) + "7 jobs" + RESET) == "7 jobs"
    with pytest.raises(ValueError, match="0 to 98"):
        color_code(99)
    with pytest.raises(ValueError, match="0 to 98"):
        color_code(RED, -1)


def test_every_formatting_code_is_a_distinct_control_character() -> None:
    codes = [BOLD, COLOR, HEX_COLOR, RESET, MONOSPACE, REVERSE, ITALIC, STRIKE, UNDERLINE]
    assert len(set(codes)) == len(codes)
    assert all(len(code) == 1 and ord(code) < 0x20 for code in codes)
    assert strip_formatting("".join(codes)) == ""


def test_strip_formatting_removes_every_code() -> None:
    text = f"{BOLD}a{BOLD} {COLOR}04,01red{COLOR} {COLOR}3g {UNDERLINE}u{RESET} \x04ff0000hex\x1d"
    assert strip_formatting(text) == "a red g u hex"


def test_strip_formatting_keeps_what_is_no_code() -> None:
    # As the chat dispatcher reads a command pasted with formatting.
    assert strip_formatting("\x02!help\x02 \x0304,01red\x03") == "!help red"
    assert strip_formatting(f"{COLOR}4,1x{COLOR}99y 100%, \x04zz") == "xy 100%, zz"
    assert strip_formatting("tab\tand\nnewline") == "tab\tand\nnewline"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Nick", "nICK"),
        ("alice[m]", "ALICE{M}"),
        ("back\\slash", "BACK|SLASH"),
        ("tilde~", "TILDE^"),
        ("#OpenStack-QA", "#openstack-qa"),
    ],
)
def test_fold_makes_rfc1459_equal_names_equal(one: str, other: str) -> None:
    assert fold(one) == fold(other)


def test_fold_is_the_casemapping_lower_case_and_ascii_only() -> None:
    # CASEMAPPING=rfc1459: []\~ are the upper case of {}|^ (so the folded form has {}|^).
    assert fold("Nick[]\\~") == "nick{}|^"
    assert fold("nick{}|^") == "nick{}|^"
    assert fold("ÄÖ") == "ÄÖ"  # servers fold ASCII only: these are other names than "äö"
    assert fold("a-b_c`") == "a-b_c`"


@pytest.mark.parametrize(
    ("name", "channel"),
    [
        ("#openstack-qa", True),
        ("&local", True),
        ("+modeless", True),
        ("!12345safe", True),
        ("openstack-qa", False),  # a nick
        ("#two words", False),
        ("#a,#b", False),
        ("#bell\x07", False),
        ("", False),
    ],
)
def test_is_channel(name: str, channel: bool) -> None:
    assert is_channel(name) is channel


def test_clean_incoming_drops_controls_and_trims() -> None:
    assert clean_incoming(f"  {BOLD}!query{BOLD}\t1234\x01\x07 \x7f") == "!query 1234"


def test_short_text_is_one_line() -> None:
    assert split_message("hello world", 100) == ["hello world"]


def test_newlines_make_lines_and_blank_lines_go() -> None:
    assert split_message("one\r\ntwo\n\n  \nthree\rfour", 100) == ["one", "two", "three", "four"]


def test_long_text_breaks_at_spaces() -> None:
    words = [f"word{i:02d}" for i in range(30)]
    lines = split_message(" ".join(words), 40)
    assert all(len(line.encode()) <= 40 for line in lines)
    assert " ".join(lines).split() == words
    assert all(line == line.strip() for line in lines)


def test_a_word_longer_than_a_line_is_cut() -> None:
    url = "https://example.org/" + "a" * 90
    lines = split_message(f"see {url} now", 40)
    assert all(len(line.encode()) <= 40 for line in lines)
    assert "".join(lines[:-1]).replace("see ", "see") + lines[-1] == f"see{url} now"


def test_multibyte_characters_are_never_cut_in_half() -> None:
    text = "é" * 50 + " " + "日本語" * 20
    lines = split_message(text, 33)
    for line in lines:
        assert len(line.encode()) <= 33
        line.encode().decode()  # whole characters only
    assert "".join(lines) == text.replace(" ", "")


def test_formatting_open_at_a_break_is_reopened() -> None:
    text = f"{BOLD}{COLOR}04" + " ".join(["red"] * 20) + f"{RESET} tail"
    lines = split_message(text, 40)
    assert len(lines) > 1
    for line in lines[1:-1]:
        assert line.startswith(f"{BOLD}{COLOR}04")
    assert strip_formatting(" ".join(lines)).split() == ["red"] * 20 + ["tail"]


def test_closed_formatting_is_not_reopened() -> None:
    text = bold("x") + " " + " ".join(["plain"] * 20)
    lines = split_message(text, 40)
    assert not lines[1].startswith(BOLD)


def test_ctcp_and_nul_never_go_out() -> None:
    assert split_message("\x01ACTION hi\x01\x00 there", 100) == ["ACTION hi there"]


def test_too_small_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        split_message("x", 10)


def test_line_budget_leaves_room_for_the_relay_prefix() -> None:
    budget = line_budget("NOTICE", "#openstack-qa", "recheckbot")
    relayed = f":recheckbot!{'u' * 10}@{'h' * 63} NOTICE #openstack-qa :{'x' * budget}\r\n"
    assert len(relayed.encode()) == LINE_LIMIT
    known = line_budget("NOTICE", "#openstack-qa", "recheckbot", "~bot", "127.0.0.1")
    assert known > budget


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=800))
def test_every_line_fits_and_no_word_is_lost(text: str) -> None:
    lines = split_message(text, 50)
    for line in lines:
        assert len(line.encode()) <= 50
        assert not set(line) & {"\n", "\r", "\x00", "\x01"}
    kept = "".join(strip_formatting("".join(lines)).split())
    expected = "".join(clean_incoming(word) for word in text.split())
    assert kept == expected
