"""The two queues of a chat transport: messages in (:class:`Inbox`), messages out
(:class:`Outbox`). Both outlive connections, so nothing is lost to a reconnect."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import Generic, TypeVar

from bot.core.errors import ReadableError
from bot.transports.base import Incoming

log = logging.getLogger(__name__)

T = TypeVar("T")


class Inbox:
    """Messages received and not read yet: what a transport's ``incoming()`` yields.

    Bounded (``maxsize`` 0: not), so that a flood in a room cannot eat memory while the bot is
    busy: a message that finds it full is dropped with a warning. :meth:`close` ends every
    reader, present and future.
    """

    def __init__(self, label: str, maxsize: int = 0) -> None:
        self._label = label  # for the log: "IRC", "Matrix"
        self._queue: asyncio.Queue[Incoming | None] = asyncio.Queue(maxsize)
        self.closed = False

    def put(self, message: Incoming) -> None:
        """Hand ``message`` to the readers (ignored once closed)."""
        if self.closed:
            return
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            who = message.user.id
            log.warning("%s: incoming queue full; dropped a message from %s", self._label, who)

    async def messages(self) -> AsyncIterator[Incoming]:
        """What is put, until :meth:`close`."""
        while (message := await self._queue.get()) is not None:
            yield message
        self._queue.put_nowait(None)  # the end mark stays, for the next reader

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        while self._queue.full():  # the end mark must fit: the oldest unread messages give way
            self._queue.get_nowait()
        self._queue.put_nowait(None)


class OutboxFull(ReadableError):
    """The outgoing queue had no room for a message in time; none of it was queued."""


class Outbox(Generic[T]):
    """Items waiting to be sent, oldest first; :meth:`flush` waits for those queued so far.

    The sender takes the :meth:`oldest` item and calls :meth:`done` once it is out (or dropped
    for good): until then it stays queued, so a connection lost while sending loses nothing.
    With ``maxlen`` the queue is bounded and never drops an item to make room: :meth:`put`
    refuses, and :meth:`put_all` waits for room (back-pressure), so a caller that was told an
    item is queued can trust :meth:`flush` to mean it went out.
    """

    def __init__(self, maxlen: int | None = None) -> None:
        self._items: deque[T] = deque()
        self._maxlen = maxlen
        self._queued = 0  # items ever put: what a flush waits for is counted, not looked for
        self._finished = 0  # items ever done
        self._changed = asyncio.Event()  # an item was put or done

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> None:
        """Queue ``item`` now; :class:`OutboxFull` when a bounded queue has no room."""
        if not self._fits(1):
            raise OutboxFull(f"the outgoing queue is full ({len(self._items)} items)")
        self._append(item)

    async def put_all(self, items: Sequence[T], within: float) -> None:
        """Queue ``items`` together once there is room for all of them, waiting up to
        ``within`` s; :class:`OutboxFull` (nothing queued) when there never was."""
        if self._maxlen is not None and len(items) > self._maxlen:
            raise OutboxFull(f"{len(items)} items never fit a queue of {self._maxlen}")
        try:
            async with asyncio.timeout(within):
                while not self._fits(len(items)):
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise OutboxFull(
                f"the outgoing queue stayed full ({len(self._items)} items) for {within:g} s"
            ) from None
        for item in items:
            self._append(item)

    async def oldest(self) -> T:
        """The oldest item, once there is one; it stays queued until :meth:`done`."""
        while not self._items:
            self._changed.clear()
            await self._changed.wait()
        return self._items[0]

    def done(self, item: T) -> None:
        """``item`` (from :meth:`oldest`) is out, or dropped for good."""
        if self._items and self._items[0] is item:
            self._items.popleft()
            self._finished += 1
            self._changed.set()

    async def flush(self) -> None:
        """Return once every item queued so far is done (later ones are not waited for)."""
        target = self._queued
        while self._finished < target:
            self._changed.clear()
            await self._changed.wait()

    def _fits(self, count: int) -> bool:
        return self._maxlen is None or len(self._items) + count <= self._maxlen

    def _append(self, item: T) -> None:
        self._items.append(item)
        self._queued += 1
        self._changed.set()
