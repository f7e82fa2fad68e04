"""Replay recorded Gerrit events from a file: the demo, the tests and ``recheckbot classify``.

A replay file is either JSON lines (one event per line, as ``gerrit stream-events`` prints them)
or one JSON document: a list of events, ``{"events": [...]}`` (upstream's fixtures replay as
they are) or a single event. Bad lines are logged with their number and skipped. File reads run
in a worker thread, a batch of lines at a time, so a big recording never blocks the event loop.
Its status says connected once it starts, and down only when the file cannot be read: a replay
that played its file whole is done, not broken.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

from bot.core.errors import describe
from bot.events.decode import BadLine, decode_object, kind_of
from bot.events.source import RawEvent, SourceBase

log = logging.getLogger(__name__)

#: Bytes of lines read per trip to the worker thread.
_BATCH_BYTES = 256 * 1024


class ReplaySource(SourceBase):
    """An EventSource that yields the events of a file, ``interval`` seconds apart.

    With ``loop`` it starts over at the end of the file (the demo runs forever); a file with no
    events at all ends the loop rather than spinning. A missing file raises ``OSError``.
    """

    def __init__(
        self, path: Path, *, server: str, interval: float = 0.0, loop: bool = False
    ) -> None:
        self.path = path
        self.server = server
        self.interval = interval
        self.loop = loop
        super().__init__(f"replay:{path.name}")

    async def events(self) -> AsyncIterator[RawEvent]:
        self._link.up()
        try:
            async for data in self._play():
                self._tally.add(data)
                yield RawEvent(server=self.server, data=data)
        except Exception as exc:  # a missing or unreadable file: say so in the status too
            self._link.down(describe(exc))
            raise

    async def _play(self) -> AsyncIterator[Mapping[str, Any]]:
        first = True
        while True:
            count = 0
            async for data in read_events(self.path):
                if not first:
                    await asyncio.sleep(self.interval)
                first = False
                count += 1
                yield data
            log.info("replay %s: %d events replayed", self.path, count)
            if not self.loop:
                return
            if not count:
                log.warning("replay %s: no events in the file, not looping", self.path)
                return


async def read_events(path: Path) -> AsyncIterator[Mapping[str, Any]]:
    """The events of a replay file in order, whatever its layout (see the module docstring)."""
    if await asyncio.to_thread(_looks_like_document, path):
        events = await asyncio.to_thread(_read_document, path)
        if events is not None:
            for event in events:
                yield event
            return
    async for event in _read_lines(path):
        yield event


def _looks_like_document(path: Path) -> bool:
    """True when the first non-blank line opens JSON that does not end on that line."""
    with path.open("rb") as handle:
        for line in handle:
            parsed = decode_object(line)
            if parsed is None:
                continue
            # A one-line list is a whole document too; decode_object only takes objects.
            return isinstance(parsed, BadLine) and line.lstrip()[:1] in (b"[", b"{")
    return False


def _read_document(path: Path) -> list[Mapping[str, Any]] | None:
    """The events of a file holding one JSON document; None when it is not one (then the file
    is read again as JSON lines, so a truncated first line costs that line, not the file)."""
    try:
        document: object = json.loads(path.read_bytes())
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError
        log.debug("replay %s: not one JSON document (%s), reading it as JSON lines", path, exc)
        return None
    return list(_objects(document, str(path)))


async def _read_lines(path: Path) -> AsyncIterator[Mapping[str, Any]]:
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        lineno = 0
        while batch := await asyncio.to_thread(handle.readlines, _BATCH_BYTES):
            for line in batch:
                lineno += 1
                parsed = decode_object(line)
                if isinstance(parsed, BadLine):
                    log.warning("replay %s:%d: line skipped: %s", path, lineno, parsed.reason)
                elif parsed is not None:
                    for event in _objects(parsed, f"{path}:{lineno}"):
                        yield event
    finally:
        handle.close()


def _objects(document: object, where: str) -> Iterator[Mapping[str, Any]]:
    """Events of a document: a list of them, ``{"events": [...]}`` or one event object."""
    if isinstance(document, dict) and "type" not in document:
        document = document.get("events", document)
    items = document if isinstance(document, list) else [document]
    for index, item in enumerate(items):
        if isinstance(item, dict):
            yield item
        else:
            log.warning("replay %s: event %d is %s, not an object", where, index, kind_of(item))
