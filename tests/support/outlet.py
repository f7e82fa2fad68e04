"""An in-process stand-in for the chat transports behind the delivery queues.

The real transports are tested against ngIRCd and Synapse, and the whole path in
test_crash_restart / test_faults; this one lets pipeline and delivery tests script rooms.
"""

from __future__ import annotations

import asyncio

from bot.transports.base import Room, Text


class FakeOutlet:
    """An :class:`~bot.watch.delivery.Outlet` whose rooms are up, down (not connected),
    refusing, or slow to confirm, as a test sets them; ``sent`` records what went out.

    A room in ``by_line`` is written line by line (each line of the plain text is a unit), as
    IRC writes a long message.
    """

    def __init__(self) -> None:
        self.down: dict[Room, str] = {}
        self.by_line: set[Room] = set()
        self.refuse: set[Room] = set()
        self.unconfirmed: set[Room] = set()
        self.sent: list[tuple[Room, str]] = []
        self.missing: set[str] = set()

    def accepts(self, room: Room) -> str | None:
        return "no such transport" if room.transport in self.missing else None

    def ready(self, room: Room) -> str | None:
        return self.down.get(room)

    async def wait_ready(self, room: Room) -> None:
        # Polled, not an Event: tests set and clear ``down`` directly.
        while room in self.down:  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    def units(self, room: Room, text: Text) -> list[Text]:
        lines = text.plain.splitlines()
        return [Text(line) for line in lines] if room in self.by_line and lines else [text]

    async def send(self, room: Room, text: Text) -> None:
        if room in self.refuse:
            raise ConnectionError("refused")
        self.sent.append((room, text.plain))

    async def flush(self, room: Room) -> None:
        if room in self.unconfirmed:
            await asyncio.Event().wait()  # never written out

    def said(self) -> list[str]:
        """The plain text of every message sent, in order."""
        return [text for _, text in self.sent]
