"""Per-room send queues: one dead channel never holds up the others; every send journaled.

Each room (destination) has its own queue and worker. A worker takes one message at a time and:

1. skips it if the journal says it was sent or given up already; gives it up if the journal
   says ``sending`` (a previous process died mid-send: see :mod:`bot.state` for why that is not
   sent again);
2. cuts it into the units the room's transport writes one by one (IRC: its lines; Matrix and the
   console: the whole message), so a message of many paced IRC lines is journaled line by line;
3. for each unit not journaled yet: waits until the room's transport is connected (retrying
   with backoff, and woken the moment the transport is back), so a unit never sits in a
   transport's in-memory queue while the link is down, where a crash would lose it; journals
   ``sending``, hands the unit to the transport, waits until the transport has written it out
   (``flush``), journals ``sent``.

A message of one unit is journaled under its key; a message of several under ``key#1``,
``key#2``…, and under ``key`` once all are through. A process killed mid-message leaves the units
sent as ``sent`` and at most the one in flight as ``sending``: the next process gives that one
line up (as for a whole message, it may have reached the room) and sends the rest.

A message that cannot be delivered within ``give_up_after`` seconds of being queued is journaled
as given up, with the reason. A failing room is logged once when it starts failing and once
when it works again, not once per attempt.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Literal, Protocol

from bot.core.errors import ReadableError, describe
from bot.core.retry import Backoff
from bot.state import StateStore
from bot.transports.base import Cutting, Flushable, Reconnecting, Room, Text, Transport

log = logging.getLogger(__name__)

#: Why a message found ``sending`` in the journal at start is not sent again.
INTERRUPTED = "interrupted while sending; it may have reached the room, so it is not sent again"
Result = Literal["sent", "already", "given-up"]
#: What became of one message, and why when it was given up.
Delivery = tuple[Result, str | None]


class NotReady(ReadableError):
    """The room cannot take a message now (transport disconnected); nothing was sent."""


class Outlet(Protocol):
    """What the queues need from the chat side; :class:`TransportOutlet` is the real one."""

    def accepts(self, room: Room) -> str | None:
        """None when this instance can ever deliver to ``room``, else why not (no transport)."""
        ...

    def ready(self, room: Room) -> str | None:
        """None when ``room`` can take a message right now, else why not."""
        ...

    async def wait_ready(self, room: Room) -> None:
        """Return once ``room`` may be ready again (its transport reconnected); it may never
        return, the caller bounds the wait."""
        ...

    def units(self, room: Room, text: Text) -> list[Text]:
        """``text`` as the units ``room``'s transport writes one by one (most: ``[text]``)."""
        ...

    async def send(self, room: Room, text: Text) -> None:
        """Hand the message over; raising means nothing went out."""
        ...

    async def flush(self, room: Room) -> None:
        """Return once what :meth:`send` handed over is written out."""
        ...


class TransportOutlet:
    """The app's transports as an :class:`Outlet` (a transport that queues nothing is written
    out once ``send`` returns)."""

    def __init__(self, transports: Mapping[str, Transport]) -> None:
        self._transports = transports

    def accepts(self, room: Room) -> str | None:
        if room.transport in self._transports:
            return None
        return f"no {room.transport} transport in this instance"

    def ready(self, room: Room) -> str | None:
        health = self._transports[room.transport].health()
        if health.connected:
            return None
        return f"{room.transport} not connected ({health.detail or 'no detail'})"

    async def wait_ready(self, room: Room) -> None:
        transport = self._transports[room.transport]
        if isinstance(transport, Reconnecting):
            await transport.wait_connected()
        else:  # nothing to wait on: the caller's backoff decides when to look again
            await asyncio.Event().wait()

    def units(self, room: Room, text: Text) -> list[Text]:
        transport = self._transports[room.transport]
        return transport.cut(room, text) if isinstance(transport, Cutting) else [text]

    async def send(self, room: Room, text: Text) -> None:
        await self._transports[room.transport].send(room, text)

    async def flush(self, room: Room) -> None:
        transport = self._transports[room.transport]
        if isinstance(transport, Flushable):
            await transport.flush()


class OutageLog:
    """Logs a problem once when it starts (or its reason changes) and once when it ends."""

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._problems: dict[str, str] = {}

    def failed(self, what: str, reason: str, then: str) -> None:
        if self._problems.get(what) == reason:
            self._log.debug("%s: still failing: %s", what, reason)
            return
        self._problems[what] = reason
        self._log.warning("%s: %s; %s", what, reason, then)

    def worked(self, what: str) -> None:
        if self._problems.pop(what, None) is not None:
            self._log.info("%s: works again", what)


@dataclass(eq=False)
class _Item:
    key: str  # journal key: the build key (plus a suffix for a second message)
    text: Text
    deadline: float  # monotonic time to give up at
    done: asyncio.Future[Delivery] = field(repr=False)


class RoomQueues:
    """One queue and worker per room; :meth:`deliver` waits for that room only."""

    def __init__(
        self,
        state: StateStore,
        outlet: Outlet,
        *,
        give_up_after: float = 3600.0,
        retry_initial: float = 1.0,
        retry_max: float = 60.0,
    ) -> None:
        self._state = state
        self._outlet = outlet
        self.give_up_after = give_up_after
        self._retry = (min(retry_initial, retry_max), retry_max)
        self._queues: dict[Room, asyncio.Queue[_Item]] = {}
        self._workers: dict[Room, asyncio.Task[None]] = {}
        self._outages = OutageLog(log)
        self.sent = 0
        self.given_up = 0

    async def deliver(self, key: str, room: Room, text: Text) -> Delivery:
        """Queue ``text`` for ``room`` and wait until it is sent or given up."""
        if reason := self._outlet.accepts(room):
            log.debug("%s: not announced in %s: %s", key, room.id, reason)
            return "given-up", reason
        done: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()
        item = _Item(key, text, time.monotonic() + self.give_up_after, done)
        self._queue(room).put_nowait(item)
        return await done

    def _queue(self, room: Room) -> asyncio.Queue[_Item]:
        if room not in self._queues:
            self._queues[room] = asyncio.Queue()
            self._workers[room] = asyncio.create_task(
                self._work(room), name=f"deliver {room.transport}:{room.id}"
            )
        return self._queues[room]

    async def close(self) -> None:
        """Stop the workers; what they held stays journaled (unsent or ``sending``)."""
        for task in self._workers.values():
            task.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)
        for queue in self._queues.values():
            while not queue.empty():
                queue.get_nowait().done.cancel()
        self._workers.clear()
        self._queues.clear()

    async def _work(self, room: Room) -> None:
        queue = self._queues[room]
        while True:
            item = await queue.get()
            if item.done.done():  # its build was cancelled meanwhile
                continue
            try:
                result = await self._one(room, item)
            except asyncio.CancelledError:
                item.done.cancel()
                raise
            except Exception as exc:  # a journal write failed: the build stays unfinished
                log.exception("delivering %s to %s failed", item.key, room.id)
                if not item.done.done():
                    item.done.set_exception(exc)
                continue
            if not item.done.done():
                item.done.set_result(result)

    async def _one(self, room: Room, item: _Item) -> Delivery:
        status = await self._state.delivery_status(item.key, room.key)
        if status == "sending":
            result: Delivery = await self._give_up(room, item.key, INTERRUPTED)
        elif status is not None:
            return "already", None
        elif len(units := self._outlet.units(room, item.text)) == 1:
            result = await self._with_retries(room, item.key, units[0], item.deadline)
        else:
            result = await self._units(room, item, units)
        if result[0] == "sent":
            self.sent += 1
        else:
            self.given_up += 1
        return result

    async def _units(self, room: Room, item: _Item, units: list[Text]) -> Delivery:
        """A message of several units, each journaled as ``key#n``; then ``key`` itself."""
        for n, unit in enumerate(units, 1):
            key = f"{item.key}#{n}"
            status = await self._state.delivery_status(key, room.key)
            if status == "sending":  # in flight when a previous process died: maybe sent
                log.warning("%s: line %d of %d in %s may be lost", item.key, n, len(units), room.id)
                await self._state.give_up(key, room.key, INTERRUPTED)
                continue
            if status is not None:
                continue
            result, reason = await self._with_retries(room, key, unit, item.deadline)
            if result != "sent":
                return await self._give_up(room, item.key, f"line {n} of {len(units)}: {reason}")
        await self._state.mark_delivered(item.key, room.key)
        return "sent", None

    async def _with_retries(self, room: Room, key: str, text: Text, deadline: float) -> Delivery:
        backoff = Backoff(initial=self._retry[0], maximum=self._retry[1])
        what = f"announcing in {room.transport} {room.id}"
        while True:
            try:
                await self._attempt(room, key, text, deadline)
            except _Final as final:
                return "given-up", final.reason
            except Exception as exc:
                reason = describe(exc)
                left = deadline - time.monotonic()
                if left <= 0:
                    return await self._give_up(room, key, reason)
                self._outages.failed(what, reason, "retrying with backoff")
                delay = min(backoff.next_delay(), left)
                await self._pause(room, delay, wake=isinstance(exc, NotReady))
                continue
            self._outages.worked(what)
            return "sent", None

    async def _pause(self, room: Room, delay: float, *, wake: bool) -> None:
        """Sleep ``delay`` s; for a room that was not ready, only until its transport is back
        (a backoff grown through a long outage would otherwise be slept out after it)."""
        if not wake:
            await asyncio.sleep(delay)
            return
        end = time.monotonic() + delay
        with suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._outlet.wait_ready(room)
        # Woken while the room still says it is not ready: sleep on, or this would spin.
        if self._outlet.ready(room) is not None and (left := end - time.monotonic()) > 0:
            await asyncio.sleep(left)

    async def _attempt(self, room: Room, key: str, text: Text, deadline: float) -> None:
        if reason := self._outlet.ready(room):
            raise NotReady(reason)
        await self._state.mark_sending(key, room.key)
        try:
            await self._outlet.send(room, text)
        except Exception:
            await self._state.forget_sending(key, room.key)  # refused: nothing went out
            raise
        left = max(0.0, deadline - time.monotonic())
        try:
            async with asyncio.timeout(left):
                await self._outlet.flush(room)
        except TimeoutError:
            # Handed over but never confirmed: it may still go out when the link is back.
            reason = "handed to the transport, not confirmed written before the deadline"
            await self._give_up(room, key, reason)
            raise _Final(reason) from None
        await self._state.mark_delivered(key, room.key)

    async def _give_up(self, room: Room, key: str, reason: str) -> Delivery:
        log.warning("%s: gave up announcing in %s: %s", key, room.id, reason)
        await self._state.give_up(key, room.key, reason)
        return "given-up", reason


class _Final(Exception):
    """The item was given up inside an attempt: no more retries."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
