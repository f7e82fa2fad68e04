"""The one JSON decoder every event source uses (SSH stream, events-log, replay, MQTT)."""

from __future__ import annotations

import pytest

from bot.events.decode import MAX_CHARS, BadLine, decode_event, decode_object
from bot.events.source import Tally


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"type": "ref-updated"}\n', {"type": "ref-updated"}),
        (b'{"type": "x"}\r\n', {"type": "x"}),
        (bytearray(b'{"action": "failure"}'), {"action": "failure"}),
        ('{"no": "type"}', {"no": "type"}),  # an MQTT report or a replay container
        ("", None),
        ("   \n", None),
        (b"", None),
        # One bad byte inside a comment costs that byte, not the event.
        (b'{"comment": "caf\xe9"}', {"comment": "caf\ufffd"}),
        (b"\xff{}", BadLine("not JSON (Expecting value at column 1)")),
        ("garbage", BadLine("not JSON (Expecting value at column 1)")),
        ('{"type": ', BadLine("not JSON (Expecting value at column 9)")),
        ('{\n"type": x}', BadLine("not JSON (Expecting value at line 2 column 9)")),
        ("[1, 2]", BadLine("not a JSON object but list")),
        ("null", BadLine("not a JSON object but null")),
        ('"text"', BadLine("not a JSON object but str")),
        ("[" * 100_000 + "]" * 100_000, BadLine("JSON nested too deeply")),
        (None, BadLine("null, not text")),
        (42, BadLine("int, not text")),
    ],
)
def test_decode_object(raw: object, expected: object) -> None:
    assert decode_object(raw) == expected


def test_overlong_input_is_refused_before_parsing() -> None:
    assert decode_object("x" * (MAX_CHARS + 1)) == BadLine(
        f"too long ({MAX_CHARS + 1} characters, the limit is {MAX_CHARS})"
    )
    assert decode_object(b" " * (MAX_CHARS + 1)) == BadLine(
        f"too long ({MAX_CHARS + 1} characters, the limit is {MAX_CHARS})"
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"type": "comment-added", "x": 1}', {"type": "comment-added", "x": 1}),
        ("", None),
        ('{"change": {}}', BadLine("no event type")),
        ('{"type": 7}', BadLine("no event type")),
        ("[1, 2]", BadLine("not a JSON object but list")),
        ("garbage", BadLine("not JSON (Expecting value at column 1)")),
    ],
)
def test_decode_event_also_wants_a_type(line: str, expected: object) -> None:
    assert decode_event(line) == expected


def test_a_bad_event_time_never_becomes_the_resume_point() -> None:
    # The newest eventCreatedOn is where a reconnect catches up from (events-log t1): one
    # event from the year 33658 (or "inf") would skip every event after it, or crash the date.
    tally = Tally()
    for created in (1702137600, 1e12 * 1000, "inf", float("nan"), 1702137700000):
        tally.add({"type": "comment-added", "eventCreatedOn": created})
    assert tally.last_created == 1702137700.0  # the last one was in milliseconds
    assert tally.events == 5
