"""A scripted IRC server for what ngIRCd cannot show: SASL, account tags, a dead link.

Neither ngIRCd nor any IRCd in Debian does SASL without a services package, so this part of the
protocol is checked against a stand-in that speaks it line by line. It answers nothing it has no
script for (PING included), which is how a dead link looks.
"""

from __future__ import annotations

import asyncio
import base64


class IrcStandIn:
    """A scripted IRC server on 127.0.0.1; :attr:`received` holds every line it was sent."""

    def __init__(self, password: str = "") -> None:
        self.password, self.received, self.port = password, list[str](), 0
        self.connections = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> IrcStandIn:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nick = "*"
        self.connections += 1
        while line := (await reader.readline()).decode().rstrip("\r\n"):
            self.received.append(line)
            command, _, rest = line.partition(" ")
            nick = rest if command == "NICK" else nick
            for reply in self._answer(command, rest, nick):
                writer.write(f"{reply}\r\n".encode())
        writer.close()

    def _answer(self, command: str, rest: str, nick: str) -> list[str]:
        login = base64.b64encode(f"acct\0acct\0{self.password}".encode()).decode()
        script = {
            ("CAP", "LS 302"): [":s CAP * LS :multi-prefix sasl=PLAIN,EXTERNAL account-tag"],
            ("AUTHENTICATE", "PLAIN"): ["AUTHENTICATE +"],
            ("AUTHENTICATE", login): [
                f":s 900 {nick} {nick}!u@h acct :You are now logged in as acct",
                f":s 903 {nick} :SASL authentication successful",
            ],
            ("CAP", "END"): [f":s 001 {nick} :Welcome"],
            ("JOIN", "#sasl"): [
                f":{nick}!u@h JOIN #sasl",
                "@account=alice;time=x :alice!a@h PRIVMSG #sasl :!help",
            ],
        }
        if (command, rest) in script:
            return script[command, rest]
        if command == "CAP" and rest.startswith("REQ :"):
            return [f":s CAP * ACK :{rest.removeprefix('REQ :')}"]
        if command == "AUTHENTICATE":
            return [f":s 904 {nick} :SASL authentication failed"]
        return []
