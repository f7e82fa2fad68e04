"""ConsoleTransport: announcements on a stream, commands from a pipe (stdin is no tty in CI)."""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from typing import TextIO

import pytest

from bot.transports.base import Incoming, Room, Text, User, Whispering
from bot.transports.console import LINE_MAX, ConsoleTransport

TIMEOUT = 5.0
YOU = User("console", "console", "you")
CONSOLE = Room("console", "console")


@pytest.fixture
def pipe() -> Iterator[tuple[TextIO, TextIO]]:
    """(read end for the transport, write end for the test), both text."""
    read_fd, write_fd = os.pipe()
    reader, writer = os.fdopen(read_fd, "r"), os.fdopen(write_fd, "w")
    yield reader, writer
    for end in (writer, reader):
        if not end.closed:
            end.close()


@pytest.fixture
async def console(
    pipe: tuple[TextIO, TextIO],
) -> AsyncIterator[tuple[ConsoleTransport, io.StringIO]]:
    out = io.StringIO()
    transport = ConsoleTransport(stream_in=pipe[0], stream_out=out)
    await transport.connect()
    yield transport, out
    await transport.close()


async def test_announcements_are_printed_with_the_room(
    console: tuple[ConsoleTransport, io.StringIO],
) -> None:
    transport, out = console
    await transport.join(Room("irc", "#openstack-qa"))
    await transport.send(Room("irc", "#openstack-qa"), Text("nova failed\nsee bug 1", irc="\x02x"))
    await transport.send(CONSOLE, Text.of("3 hits"), reply_to=Incoming(CONSOLE, YOU, "!query 1"))
    assert (
        out.getvalue()
        == "[#openstack-qa] nova failed\n[#openstack-qa] see bug 1\n[console] 3 hits\n"
    )


async def test_a_whisper_is_printed_marked_with_whom_it_is_for(
    console: tuple[ConsoleTransport, io.StringIO],
) -> None:
    transport, out = console
    assert isinstance(transport, Whispering)
    await transport.whisper(Incoming(CONSOLE, YOU, "!query 1"), Text("3 hits\n\x1b[2Jbye"))
    await transport.close()
    await transport.whisper(Incoming(CONSOLE, YOU, "!query 1"), Text.of("after close"))
    assert out.getvalue() == "[console → you] 3 hits\n[console → you] bye\n"


async def test_lines_from_a_pipe_are_commands_until_eof(
    console: tuple[ConsoleTransport, io.StringIO], pipe: tuple[TextIO, TextIO]
) -> None:
    transport, _ = console
    writer = pipe[1]
    messages = transport.incoming()
    writer.write("!help\n\n   \n  !query 1234  \n")
    writer.flush()
    first = await asyncio.wait_for(anext(messages), TIMEOUT)
    second = await asyncio.wait_for(anext(messages), TIMEOUT)
    assert [first, second] == [
        Incoming(CONSOLE, YOU, "!help"),
        Incoming(CONSOLE, YOU, "!query 1234"),
    ]
    writer.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(messages), TIMEOUT)
    assert transport.health().connected
    assert "end of input" in transport.health().detail


async def test_waiting_for_input_does_not_block_the_loop(
    console: tuple[ConsoleTransport, io.StringIO], pipe: tuple[TextIO, TextIO]
) -> None:
    transport, _ = console
    waiting = asyncio.ensure_future(anext(transport.incoming()))
    await asyncio.sleep(0.05)  # the loop runs while the reader thread sits in readline()
    assert not waiting.done()
    pipe[1].write("!status\n")
    pipe[1].flush()
    assert (await asyncio.wait_for(waiting, TIMEOUT)).text == "!status"


async def test_close_ends_incoming(console: tuple[ConsoleTransport, io.StringIO]) -> None:
    transport, _ = console
    messages = transport.incoming()
    await transport.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(messages), TIMEOUT)
    assert transport.health().detail == "closed"


def test_a_process_with_stdin_from_devnull_or_a_pipe_reads_and_exits() -> None:
    script = textwrap.dedent(
        """
        import asyncio
        from bot.transports.base import Room, Text
        from bot.transports.console import LINE_MAX, ConsoleTransport

        async def main():
            console = ConsoleTransport()
            await console.connect()
            async for message in console.incoming():
                await console.send(message.room, Text.of("got " + message.text))
            await console.close()

        asyncio.run(main())
        """
    )
    piped = subprocess.run(
        [sys.executable, "-c", script],
        input="!help\n!query 1\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert piped.stdout == "[console] got !help\n[console] got !query 1\n"
    empty = subprocess.run(
        [sys.executable, "-c", script],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert empty.stdout == ""


# --- what reaches the terminal, and what is read from it -----------------------------------


async def test_no_control_character_or_escape_sequence_reaches_the_terminal(
    console: tuple[ConsoleTransport, io.StringIO],
) -> None:
    transport, out = console
    hostile = (
        "nova\x1b[2J\x1b]0;pwned\x07 failed\x9b31m, \u202etxt.exe\x00\x07\x08\r"
        "see\x1b(B bug\x0c 1\x85next\x1b"
    )
    await transport.send(Room("irc", "#qa\x1b[5m"), Text(hostile))
    written = out.getvalue()
    assert re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", written) is None
    assert written == "[#qa] nova failed, txt.exe\n[#qa] see bug\n[#qa]  1\n[#qa] next\n"


class Endless(io.StringIO):
    """A stdin that sends ``size`` characters without a newline, then a command: a reader that
    takes whole lines would hold all of it at once."""

    def __init__(self, size: int, then: str) -> None:
        super().__init__("x" * size + "\n" + then)
        self.longest = 0

    def readline(self, size: int | None = -1) -> str:
        piece = super().readline(size)
        self.longest = max(self.longest, len(piece))
        return piece


async def test_an_endless_stdin_line_is_capped_skipped_and_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stdin = Endless(4 * 1024 * 1024, "!status\n")
    transport = ConsoleTransport(stream_in=stdin, stream_out=io.StringIO())
    await transport.connect()
    messages = [message.text async for message in transport.incoming()]
    assert messages == ["!status"]
    assert stdin.longest <= LINE_MAX + 1  # never more than one line's worth in memory
    said = [r for r in caplog.records if "longer than" in r.getMessage()]
    assert len(said) == 1
    await transport.close()


async def test_a_line_just_within_the_cap_is_read(
    console: tuple[ConsoleTransport, io.StringIO], pipe: tuple[TextIO, TextIO]
) -> None:
    transport, _ = console
    pipe[1].write("!query " + "y" * (LINE_MAX - 8) + "\n" + "z" * (LINE_MAX + 1) + "\n!help\n")
    pipe[1].close()
    messages = [message.text async for message in transport.incoming()]
    assert [len(text) for text in messages] == [LINE_MAX - 1, 5]
