"""Per-room send queues: each room on its own, retried, given up in bounded time, journaled.

The outlet is an in-process fake (the real transports are tested against ngIRCd and Synapse, and
the whole path in test_crash_restart / test_faults); the journal is the real SQLite store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.state import StateStore
from bot.transports.base import Room, Text
from bot.watch.delivery import INTERRUPTED, RoomQueues
from tests.support.outlet import FakeOutlet

NOVA, QA, DEAD = Room("irc", "#nova"), Room("irc", "#qa"), Room("matrix", "!dead:example.org")
TEXT = Text("openstack/nova change 1 failed because of: bug 1")


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[StateStore]:
    store = await StateStore.open(tmp_path / "state.sqlite")
    yield store
    await store.close()


def queues(state: StateStore, outlet: FakeOutlet, give_up_after: float = 30.0) -> RoomQueues:
    return RoomQueues(
        state, outlet, give_up_after=give_up_after, retry_initial=0.01, retry_max=0.05
    )


async def test_a_dead_room_does_not_hold_up_the_others(state: StateStore) -> None:
    outlet = FakeOutlet()
    outlet.down[DEAD] = "matrix not connected (connection refused)"
    rooms = queues(state, outlet, give_up_after=0.3)
    dead = asyncio.create_task(rooms.deliver("b1", DEAD, TEXT))
    assert await rooms.deliver("b1", NOVA, TEXT) == ("sent", None)
    assert await rooms.deliver("b2", NOVA, TEXT) == ("sent", None)
    assert not dead.done()  # still retrying while the others went out
    result, reason = await dead
    assert result == "given-up"
    assert reason == "matrix not connected (connection refused)"
    journal = await state.deliveries("b1")
    assert journal["matrix:!dead:example.org"] == ("given-up", reason)
    assert journal["irc:#nova"] == ("sent", None)
    assert outlet.sent == [(NOVA, TEXT.plain), (NOVA, TEXT.plain)]
    await rooms.close()


async def test_a_room_that_comes_back_gets_the_message_once(state: StateStore) -> None:
    outlet = FakeOutlet()
    outlet.down[QA] = "irc not connected"
    rooms = queues(state, outlet)
    waiting = asyncio.create_task(rooms.deliver("b1", QA, TEXT))
    await asyncio.sleep(0.1)
    assert await state.delivery_status("b1", QA.key) is None  # never handed over while down
    del outlet.down[QA]
    assert await waiting == ("sent", None)
    assert await rooms.deliver("b1", QA, TEXT) == ("already", None)
    assert outlet.sent == [(QA, TEXT.plain)]
    await rooms.close()


async def test_a_refused_send_is_retried_and_never_left_sending(state: StateStore) -> None:
    outlet = FakeOutlet()
    outlet.refuse.add(QA)
    rooms = queues(state, outlet, give_up_after=0.2)
    result, reason = await rooms.deliver("b1", QA, TEXT)
    assert (result, reason) == ("given-up", "ConnectionError: refused")
    assert await state.delivery_status("b1", QA.key) == "given-up"
    await rooms.close()


async def test_sending_left_by_a_crash_is_not_sent_again(state: StateStore) -> None:
    """The at-most-once window: the journal cannot tell whether it reached the room."""
    await state.mark_sending("b1", QA.key)
    outlet = FakeOutlet()
    rooms = queues(state, outlet)
    assert await rooms.deliver("b1", QA, TEXT) == ("given-up", INTERRUPTED)
    assert outlet.sent == []
    assert await state.deliveries("b1") == {"irc:#qa": ("given-up", INTERRUPTED)}
    await rooms.close()


async def test_unconfirmed_writes_are_given_up_at_the_deadline(state: StateStore) -> None:
    outlet = FakeOutlet()
    outlet.unconfirmed.add(QA)
    rooms = queues(state, outlet, give_up_after=0.2)
    result, reason = await rooms.deliver("b1", QA, TEXT)
    assert result == "given-up"
    assert reason is not None
    assert "not confirmed" in reason
    assert outlet.sent == [(QA, TEXT.plain)]  # handed over exactly once, never again
    await rooms.close()


async def test_cancelled_while_confirming_stays_sending(state: StateStore) -> None:
    outlet = FakeOutlet()
    outlet.unconfirmed.add(QA)
    rooms = queues(state, outlet)
    task = asyncio.create_task(rooms.deliver("b1", QA, TEXT))
    await asyncio.sleep(0.05)
    task.cancel()
    await rooms.close()  # a shutdown while the transport still holds it
    assert await state.delivery_status("b1", QA.key) == "sending"


async def test_rooms_without_a_transport_are_given_up_at_once(state: StateStore) -> None:
    outlet = FakeOutlet()
    outlet.missing.add("irc")
    rooms = queues(state, outlet)
    assert await rooms.deliver("b1", QA, TEXT) == ("given-up", "no such transport")
    await rooms.close()


async def test_an_outage_is_logged_once_not_per_attempt(
    state: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bot.watch.delivery")
    outlet = FakeOutlet()
    outlet.down[QA] = "irc not connected (connection refused)"
    rooms = queues(state, outlet)
    waiting = asyncio.create_task(rooms.deliver("b1", QA, TEXT))
    await asyncio.sleep(0.3)  # many attempts
    del outlet.down[QA]
    await waiting
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "#qa" in r.getMessage()]
    assert len(warnings) == 1
    assert "connection refused" in warnings[0].getMessage()
    assert any("works again" in r.getMessage() for r in caplog.records)
    await rooms.close()


async def test_a_room_that_comes_back_is_told_at_once_not_after_the_backoff(
    state: StateStore,
) -> None:
    outlet = FakeOutlet()
    outlet.down[QA] = "irc not connected"
    # The first retry would come 15 to 30 s later: only a wake-up delivers it sooner.
    rooms = RoomQueues(state, outlet, give_up_after=120, retry_initial=30, retry_max=60)
    waiting = asyncio.create_task(rooms.deliver("b1", QA, TEXT))
    await asyncio.sleep(0.05)
    assert outlet.sent == []
    del outlet.down[QA]
    assert await asyncio.wait_for(waiting, 5) == ("sent", None)
    await rooms.close()


async def test_a_message_of_many_lines_is_journaled_line_by_line(state: StateStore) -> None:
    outlet = FakeOutlet()
    outlet.by_line.add(QA)
    rooms = queues(state, outlet)
    assert await rooms.deliver("b1", QA, Text("one\ntwo\nthree")) == ("sent", None)
    assert outlet.said() == ["one", "two", "three"]
    for key in ("b1", "b1#1", "b1#2", "b1#3"):
        assert await state.delivery_status(key, QA.key) == "sent"
    assert await rooms.deliver("b1", QA, Text("one\ntwo\nthree")) == ("already", None)
    await rooms.close()


async def test_a_crash_mid_message_loses_at_most_the_line_in_flight(state: StateStore) -> None:
    await state.mark_delivered("b1#1", QA.key)  # the previous process sent line 1,
    await state.mark_sending("b1#2", QA.key)  # was killed while sending line 2
    outlet = FakeOutlet()
    outlet.by_line.add(QA)
    rooms = queues(state, outlet)
    assert await rooms.deliver("b1", QA, Text("one\ntwo\nthree")) == ("sent", None)
    assert outlet.said() == ["three"]  # line 1 not again, line 2 maybe sent: not again either
    assert await state.deliveries("b1#2") == {QA.key: ("given-up", INTERRUPTED)}
    assert await state.delivery_status("b1", QA.key) == "sent"
    await rooms.close()


async def test_a_message_cut_short_by_the_deadline_is_given_up_whole(state: StateStore) -> None:
    outlet = FakeOutlet()
    outlet.by_line.add(QA)
    outlet.unconfirmed.add(QA)
    rooms = queues(state, outlet, give_up_after=0.2)
    result, reason = await rooms.deliver("b1", QA, Text("one\ntwo"))
    assert result == "given-up"
    assert reason is not None
    assert reason.startswith("line 1 of 2: ")
    assert outlet.said() == ["one"]
    assert await state.delivery_status("b1", QA.key) == "given-up"
    assert rooms.given_up == 1
    await rooms.close()
