"""Console transport: announcements on the terminal, commands typed on stdin (``make run``).

Reading stdin must not block the event loop, and stdin may be a tty, a pipe or a plain file
(``recheckbot run --demo < commands.txt``). ``loop.connect_read_pipe`` refuses plain files, so
a daemon thread reads lines and hands them to the loop. A daemon thread, not the default
executor: a thread stuck in ``readline()`` on a quiet terminal would hold up the executor's
shutdown at exit; a daemon one is simply left behind.

What is written is cut to printable lines: announcements carry names and titles from outside,
and a control character or an ESC sequence would drive the terminal (move the cursor, retitle
the window, hide text). A stdin line is read at most :data:`LINE_MAX` characters at a time, so
input without a newline cannot grow the reader's memory.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import TextIO

from bot.transports.base import Health, Incoming, Room, Text, User
from bot.transports.queues import Inbox
from bot.transports.safety import printable

log = logging.getLogger(__name__)

ROOM = Room("console", "console")
USER = User("console", "console", "you")
LINE_MAX = 4096  # characters of a stdin line; the rest of a longer one is skipped


class ConsoleTransport:
    """The terminal as a chat room; see :class:`bot.transports.base.Transport`."""

    name = "console"

    def __init__(self, stream_in: TextIO | None = None, stream_out: TextIO | None = None) -> None:
        self._in = stream_in if stream_in is not None else sys.stdin
        self._out = stream_out if stream_out is not None else sys.stdout
        self._inbox = Inbox("console")  # unbounded: a piped file of commands is read whole
        self._reader: threading.Thread | None = None
        self._closed = False
        self._eof = False

    async def connect(self) -> None:
        if self._reader is not None:
            return
        loop = asyncio.get_running_loop()
        self._reader = threading.Thread(
            target=self._read, args=(loop,), name="console stdin", daemon=True
        )
        self._reader.start()

    async def join(self, room: Room) -> None:
        """Every room is shown on the one terminal; nothing to join."""

    async def send(self, room: Room, text: Text, *, reply_to: Incoming | None = None) -> None:
        self._print(f"[{printable(room.id)}] ", text)

    async def whisper(self, to: Incoming, text: Text) -> None:
        """Printed like a reply, marked with whom it is for (the terminal has one reader)."""
        self._print(f"[{printable(to.room.id)} → {printable(to.user.name)}] ", text)

    def incoming(self) -> AsyncIterator[Incoming]:
        """Lines typed on stdin, stripped; ends at end of input (or when closed)."""
        return self._inbox.messages()

    def health(self) -> Health:
        if self._closed or self._reader is None:
            return Health(False, "closed" if self._closed else "not started")
        return Health(True, "stdin at end of input" if self._eof else "reading stdin")

    async def close(self) -> None:
        self._closed = True
        self._inbox.close()

    def _print(self, prefix: str, text: Text) -> None:
        if self._closed:
            return
        lines = text.plain.splitlines() or [""]
        self._out.write("\n".join(prefix + printable(line) for line in lines) + "\n")
        self._out.flush()

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        """Runs in the reader thread: every non-blank line to the loop, then the end mark."""
        try:
            while raw := self._in.readline(LINE_MAX + 1):
                if len(raw) > LINE_MAX and not raw.endswith("\n"):
                    log.warning("console: skipped a line longer than %d characters", LINE_MAX)
                    self._skip_line()
                    continue
                line = raw.strip()
                if line and not self._closed:
                    loop.call_soon_threadsafe(self._inbox.put, Incoming(ROOM, USER, line))
        except (OSError, ValueError) as exc:  # stdin closed under us
            log.info("console: stopped reading stdin: %s", exc)
        except RuntimeError:  # the loop is closed: the bot has ended
            return
        with suppress(RuntimeError):
            loop.call_soon_threadsafe(self._end_of_input)

    def _skip_line(self) -> None:
        """Read the rest of an overlong line, a piece at a time, and drop it."""
        while (piece := self._in.readline(LINE_MAX)) and not piece.endswith("\n"):
            pass

    def _end_of_input(self) -> None:
        self._eof = True
        self._inbox.close()
