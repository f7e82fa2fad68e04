"""Opening one IRC connection: TCP, then TLS when configured, and saying plainly what went wrong.

The commonest first-run mistake is a TLS setting that does not match the port, and on its own
it shows badly: ``tls: true`` against a plain-text port waits for a handshake the server never
answers (a bare "timed out"); ``tls: false`` against a TLS port gets a reset, a TLS alert read
as IRC garbage, or silence. So the TCP connect and the TLS handshake are two steps
(``create_connection``, then ``start_tls``), a :class:`Dial` remembers which step it reached and
whether the server said anything, and the first bytes from the server are looked at before the
IRC library reads them. A failure then names the likely cause and the setting that fixes it.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

from bot.config import IrcSettings
from bot.core.errors import describe
from bot.transports.irc.protocol import looks_like_tls, tls_expected, tls_failed


class Dial:
    """One connection attempt's way in; ``open`` is the IRC library's ``connect_factory``."""

    def __init__(self, settings: IrcSettings) -> None:
        self.settings = settings
        self.step = "connecting"  # then "tls" (the handshake), then "registering"
        self.heard = False  # the server sent something
        self.refusal: str | None = None  # why we hung up at the server's first bytes

    async def open(self, protocol: asyncio.Protocol, address: tuple[str, int]) -> Any:
        host, port = address
        loop = asyncio.get_running_loop()
        watcher = _FirstBytes(protocol, self._first_bytes)
        transport: Any
        transport, _ = await loop.create_connection(lambda: watcher, host, port)
        if self.settings.tls:
            self.step = "tls"
            transport = await loop.start_tls(
                transport,
                watcher,
                _tls_context(self.settings),
                server_hostname=host,
                ssl_handshake_timeout=self.settings.connect_timeout,
            )
        self.step = "registering"
        # CAP LS goes before NICK/USER: the server then holds registration open until CAP END,
        # which is the window SASL needs.
        transport.write(b"CAP LS 302\r\n")
        return transport, protocol

    def handshake_failure(self, exc: OSError) -> str | None:
        """What an error raised while connecting means, when it broke the TLS handshake."""
        if self.step != "tls":
            return None
        s = self.settings
        if isinstance(exc, ssl.SSLCertVerificationError):
            return (
                f"TLS handshake with {s.server}:{s.port} failed ({describe(exc)}): the server's "
                "certificate did not verify; set ca_file to the CA that signed it"
            )
        return tls_failed(s.server, s.port, describe(exc))

    def timed_out(self) -> str:
        """Why the connection was not registered within ``connect_timeout``."""
        s = self.settings
        within = f"within {s.connect_timeout:g} s"
        if self.step == "connecting":
            return f"no TCP connection to {s.server}:{s.port} {within}"
        if self.step == "tls":
            return tls_failed(s.server, s.port, f"no answer {within}")
        if not self.heard and not s.tls:
            return tls_expected(s.server, s.port, f"sent nothing {within}")
        return f"no welcome from {s.server}:{s.port} {within}"

    def lost_early(self) -> str:
        """Why the connection ended before the welcome, when the server did not say."""
        s = self.settings
        if self.refusal:
            return self.refusal
        if not self.heard and not s.tls:
            return tls_expected(s.server, s.port, "closed the connection before saying anything")
        return "connection lost"

    def _first_bytes(self, data: bytes) -> bool:
        """Look at the server's first bytes; False: hang up (a TLS port meets plain text)."""
        self.heard = True
        if not self.settings.tls and looks_like_tls(data):
            s = self.settings
            self.refusal = tls_expected(s.server, s.port, "answered in TLS", certain=True)
            return False
        return True


class _FirstBytes(asyncio.Protocol):
    """Hands everything to the IRC library's protocol, showing the first bytes to ``first``."""

    def __init__(self, inner: asyncio.Protocol, first: Callable[[bytes], bool]) -> None:
        self._inner = inner
        self._first: Callable[[bytes], bool] | None = first
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._first is not None:
            first, self._first = self._first, None
            if not first(data):
                if isinstance(self._transport, asyncio.Transport):
                    self._transport.abort()
                return
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._inner.connection_lost(exc)


def _tls_context(settings: IrcSettings) -> ssl.SSLContext:
    ca_file = settings.ca_file
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if not settings.tls_verify:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context
