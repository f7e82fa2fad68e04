"""The two queues of a chat transport: messages in (:class:`Inbox`), messages out
(:class:`Outbox`). Both outlive connections, so nothing is lost to a reconnect."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

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


class Outbox(Generic[T]):
    """Items waiting to be sent, oldest first; :meth:`flush` waits until none is left.

    The sender takes the :meth:`oldest` item and calls :meth:`done` once it is out (or dropped
    for good): until then it stays queued, so a connection lost while sending loses nothing.
    With ``maxlen``, a full queue gives up its oldest item for a new one.
    """

    def __init__(self, maxlen: int | None = None) -> None:
        self._items: deque[T] = deque(maxlen=maxlen)
        self._added = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> bool:
        """Queue ``item``; False when the queue was full and lost its oldest item for it."""
        full = len(self._items) == self._items.maxlen
        self._items.append(item)
        self._empty.clear()
        self._added.set()
        return not full

    async def oldest(self) -> T:
        """The oldest item, once there is one; it stays queued until :meth:`done`."""
        while not self._items:
            self._added.clear()
            await self._added.wait()
        return self._items[0]

    def done(self, item: T) -> None:
        """``item`` (from :meth:`oldest`) is out. A no-op when a full queue already lost it."""
        if self._items and self._items[0] is item:
            self._items.popleft()
        if not self._items:
            self._empty.set()

    async def flush(self) -> None:
        """Return once every item queued so far is done."""
        await self._empty.wait()
