"""The pure parts of the Matrix transport: content, where replies go, reading timelines, the
room book. Events are parsed by matrix-nio from payloads shaped as Synapse sends them."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import nio
import pytest

from bot.transports.base import Incoming, Room, User
from bot.transports.matrix import answer_fields, image_content, png_size, reply_thread
from bot.transports.matrix.content import ThreadPolicy, whisper_thread
from bot.transports.matrix.rooms import ENCRYPTED, RoomBook
from bot.transports.matrix.timeline import (
    Arrivals,
    departure,
    invitation,
    replied_to,
    sent_at,
    thread_root,
)
from tests.support.clock import FakeClock

BOT, ALICE = "@bot:hs", "@alice:hs"


def png(width: int, height: int) -> bytes:
    """A PNG header as any encoder writes it: the signature, then the IHDR chunk."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + crc


def test_png_size_reads_the_ihdr_chunk() -> None:
    assert png_size(png(640, 2)) == (640, 2)
    assert png_size(png(70000, 1)) == (70000, 1)  # big-endian, four bytes
    assert png_size(png(640, 2)[:20]) is None  # cut short
    assert png_size(b"GIF89a" + bytes(30)) is None
    assert image_content("c.png", "mxc://hs/x", png(3, 4))["info"] == {
        "mimetype": "image/png",
        "size": len(png(3, 4)),
        "w": 3,
        "h": 4,
    }
    assert image_content("c.gif", "mxc://hs/x", b"GIF89a")["info"] == {
        "mimetype": "image/png",
        "size": 6,
    }


def asked(thread: str | None = None, *, private: bool = False) -> Incoming:
    user = User("matrix", ALICE, "alice")
    return Incoming(Room("matrix", "!r:hs"), user, "!q", "$cmd", private=private, thread_id=thread)


@pytest.mark.parametrize(
    ("threads", "in_thread", "reply", "whisper"),
    [
        ("when-threaded", None, None, "$cmd"),
        ("when-threaded", "$root", "$root", "$root"),
        ("always", None, "$cmd", "$cmd"),
        ("always", "$root", "$root", "$root"),
        ("never", None, None, "$cmd"),
        ("never", "$root", None, "$root"),
    ],
)
def test_where_replies_and_whispers_go(
    threads: ThreadPolicy, in_thread: str | None, reply: str | None, whisper: str | None
) -> None:
    assert reply_thread(asked(in_thread), threads) == reply
    assert whisper_thread(asked(in_thread), threads) == whisper
    # In a direct chat a whisper is a reply: nobody else is there to be kept out of the way.
    assert whisper_thread(asked(in_thread, private=True), threads) == reply


def test_answer_fields() -> None:
    assert answer_fields(asked(), None) == {
        "m.relates_to": {"m.in_reply_to": {"event_id": "$cmd"}},
        "m.mentions": {"user_ids": [ALICE]},
    }
    console = Incoming(Room("console", "console"), User("console", "c", "you"), "!q")
    assert answer_fields(console, "$root") == {}
    assert answer_fields(None, None) == {}


def message(body: str, event_id: str, *, sender: str = ALICE, age: int = 0, **content: Any) -> Any:
    source = {
        "type": "m.room.message",
        "event_id": event_id,
        "sender": sender,
        "origin_server_ts": 1,
        "unsigned": {"age": age},
        "content": {"msgtype": "m.text", "body": body, **content},
    }
    return nio.Event.parse_event(source)


def test_relations_and_the_time_of_sending() -> None:
    threaded = {"m.relates_to": {"rel_type": "m.thread", "event_id": "$root"}}
    reply = {"m.relates_to": {"m.in_reply_to": {"event_id": "$x"}}}
    assert (thread_root(threaded), replied_to(threaded)) == ("$root", None)
    assert (thread_root(reply), replied_to(reply)) == (None, "$x")
    assert thread_root({"m.relates_to": "nonsense"}) is None
    assert replied_to({"m.relates_to": {"m.in_reply_to": ["$x"]}}) is None
    assert sent_at({"unsigned": {"age": 2500}, "origin_server_ts": 1}, now=100.0) == 97.5
    assert sent_at({"origin_server_ts": 42_000}, now=100.0) == 42.0


def test_arrivals_take_the_recent_backlog_once_and_nothing_of_the_bots() -> None:
    clock = FakeClock(1000.0)
    arrivals = Arrivals(backlog=300.0, clock=clock)
    reply = {"m.relates_to": {"m.in_reply_to": {"event_id": "$answered"}}}
    edit = {"m.relates_to": {"rel_type": "m.replace", "event_id": "$recent"}}
    timeline = [
        message("!too old", "$old", age=301_000),
        message("!answered", "$answered", age=200_000),
        message("!recent", "$recent", age=120_000),
        message("1234: 3 hits", "$reply", sender=BOT, age=190_000, **reply),
        message("!mine", "$mine", sender=BOT, age=1_000),
        message("* !recent fixed", "$edit", age=500, **edit),
    ]
    assert [e.event_id for e in arrivals.commands(timeline, BOT)] == ["$recent"]
    clock.now += 600  # what comes later is live
    assert [e.event_id for e in arrivals.commands([message("!x", "$x")], BOT)] == ["$x"]


def member(state_key: str, membership: str, sender: str, **content: Any) -> dict[str, Any]:
    return {
        "type": "m.room.member",
        "event_id": f"$m{len(content)}",
        "sender": sender,
        "state_key": state_key,
        "origin_server_ts": 1,
        "content": {"membership": membership, **content},
    }


def test_invitations_and_departures() -> None:
    stripped = [member(BOT, "invite", ALICE, is_direct=True)]
    stripped = [nio.InviteEvent.parse_event(e) for e in stripped]
    assert invitation(stripped, BOT) is not None
    assert invitation(stripped, BOT).inviter == ALICE  # type: ignore[union-attr]
    assert invitation(stripped, BOT).direct  # type: ignore[union-attr]
    assert invitation(stripped, "@someone:hs") is None

    def how(*events: dict[str, Any]) -> str:
        return departure([nio.Event.parse_event(e) for e in events], BOT)

    assert how(member(BOT, "leave", ALICE, reason="tidy")) == f"kicked by {ALICE} (tidy)"
    assert how(member(BOT, "ban", ALICE)) == f"banned by {ALICE}"
    assert how(member(BOT, "leave", BOT)) == "left"
    assert how() == "left"


def test_the_room_book() -> None:
    book = RoomBook()
    book.want("#qa:hs")
    book.want("!other:hs")
    assert book.rows() == (("#qa:hs", "joining"), ("!other:hs", "joining"))
    book.joined("#qa:hs", "!qa:hs")
    book.failed("!other:hs", "M_FORBIDDEN not invited")
    book.failed("!unknown:hs", "never configured")
    assert book.rows() == (
        ("#qa:hs", "joined"),
        ("!other:hs", "not joined: M_FORBIDDEN not invited"),
    )
    assert book.missing() == ["!other:hs"]
    assert book.departed("!qa:hs", f"kicked by {ALICE}") == "#qa:hs"
    assert dict(book.rows())["#qa:hs"] == f"not joined: kicked by {ALICE}"
    book.joined("#qa:hs", "!qa:hs")
    book.encrypted.add("!qa:hs")
    assert dict(book.rows())["#qa:hs"] == ENCRYPTED

    book.read_direct({ALICE: ["!dm:hs"], "@bob:hs": "not a list"})
    assert book.is_direct("!dm:hs", members=2)
    assert not book.is_direct("!dm:hs", members=3)  # somebody else came in
    assert not book.is_direct("!qa:hs", members=2)  # configured rooms are never direct
    assert book.add_direct("@bob:hs", "!dm2:hs") == {ALICE: ["!dm:hs"], "@bob:hs": ["!dm2:hs"]}
    assert book.is_direct("!dm2:hs", members=2)

    book.park("!later:hs", "e1")
    book.park("!later:hs", "e2")
    assert book.release("!later:hs") == ["e1", "e2"]
    assert book.release("!later:hs") == []
