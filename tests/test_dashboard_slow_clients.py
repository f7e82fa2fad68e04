"""The dashboard server closes connections that never finish a request (slowloris), so a few
slow clients cannot hold it open for an hour."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.config import DashboardSettings
from bot.dashboard import server as dashboard_server
from bot.dashboard.server import DashboardServer


async def test_a_client_sending_its_headers_a_byte_at_a_time_is_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dashboard_server, "IDLE_TIMEOUT", 1.0)
    server = DashboardServer(DashboardSettings(port=0), tmp_path)
    await server.start()
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    try:
        clients = [await asyncio.open_connection(host, int(port)) for _ in range(5)]
        closed = await asyncio.wait_for(
            asyncio.gather(*(slowloris(reader, writer) for reader, writer in clients)), 20
        )
        assert all(closed)
        # ... while a real client is still served.
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await reader.readline()).startswith(b"HTTP/1.1 503")  # starting: no hooks yet
        writer.close()
    finally:
        await server.close()


async def slowloris(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Send a request header one byte every 0.2 s, never ending it; True once the server closes
    the connection (a write fails or the read sees the end)."""
    try:
        for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 500:
            writer.write(bytes([byte]))
            await writer.drain()
            if reader.at_eof():
                return True
            try:
                if await asyncio.wait_for(reader.read(1), 0.2) == b"":
                    return True
            except TimeoutError:
                continue
        return False
    except ConnectionError:
        return True
    finally:
        writer.close()
