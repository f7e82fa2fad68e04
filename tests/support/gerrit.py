"""A stand-in Gerrit for tests: a real SSH server speaking Gerrit's commands, and events-log REST.

Gerrit itself cannot be installed here (no JVM, no network), so tests talk to this instead. It is
a *real* server on 127.0.0.1 — asyncssh with a generated host key and one authorized client key,
aiohttp for HTTP — so the client code under test runs exactly as in production: TCP, SSH
handshake, host key verification, public key auth, keepalives, disconnects.

What it speaks:

* ``gerrit stream-events``: every event :meth:`GerritStandIn.publish` es while the session is
  open, one JSON object per line, like Gerrit (no replay of older events).
* ``gerrit review CHANGE,PS [--message M] [--project P] [--label L=V] [--verified V]
  [--code-review V] [--tag T] [--notify N]``: recorded in :attr:`GerritStandIn.reviews`;
  success is silent with exit status 0, errors are ``fatal: …`` on stderr with status 1.
  With ``deny_streams="…"`` it fails instead, as for an account without the capability.
* any other command: ``fatal: <command>: not found`` on stderr, exit status 1.
* ``GET /a/plugins/events-log/events/?t1=…;t2=…`` (HTTP basic auth): the events-log plugin — the
  published history filtered by ``eventCreatedOn`` (inclusive, ``yyyy-MM-dd[ HH:mm:ss]`` in the
  stand-in's time zone), oldest first, at most ``return_limit``; one JSON object per line.

Test controls: :meth:`publish`, :meth:`send_raw` (garbage lines), :meth:`drop_after` (close the
connections after K more lines), :meth:`disconnect`, outages (new connections are dropped at once
until :meth:`end_outage`; events published meanwhile reach only the events-log history) and
:meth:`wait_for_streams`. Use it as ``async with GerritStandIn() as gerrit: ...``;
:meth:`settings` gives a matching :class:`~bot.config.GerritServer`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import re
import shlex
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import asyncssh
from aiohttp import web
from pydantic import SecretStr

from bot.config import GerritServer
from tests.support.polling import until

HOST = "127.0.0.1"
EVENTS_LOG_ROUTE = "/a/plugins/events-log/events/"


@dataclass(frozen=True)
class ReviewCall:
    """One ``gerrit review`` the stand-in accepted."""

    change: str
    patchset: str
    message: str | None
    project: str | None
    labels: dict[str, str]
    tag: str | None
    notify: str | None
    command: str


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, as a server must."""

    def error(self, message: str) -> Any:
        raise _UsageError(message)


def _review_parser() -> _Parser:
    parser = _Parser(prog="gerrit review", add_help=False)
    parser.add_argument("commits", nargs="+")
    parser.add_argument("-l", "--label", action="append", default=[])
    for short, long in [("-m", "message"), ("-p", "project"), ("-b", "branch"), ("-t", "tag")]:
        parser.add_argument(short, f"--{long}")
    for long in ("notify", "verified", "code-review"):
        parser.add_argument(f"--{long}")
    return parser


class _SSHServer(asyncssh.SSHServer):
    def __init__(self, standin: GerritStandIn) -> None:
        self._standin = standin
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._standin._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._standin._connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        if self._standin.outage and self._conn is not None:
            # Like a Gerrit that is restarting: the connection goes away before any login.
            self._conn.close()
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        ok = username == self._standin.user and key.public_data == self._standin._client_public
        self._standin.logins += ok
        self._standin.auth_failures += not ok
        return ok


class GerritStandIn:
    """A Gerrit look-alike on 127.0.0.1 (SSH + events-log REST); see the module docstring."""

    def __init__(
        self,
        *,
        user: str = "recheckbot",
        http_password: str = "http-secret",
        return_limit: int = 5000,
        xssi_prefix: bool = False,
        timezone: tzinfo = UTC,
        strict_reviews: bool = True,
        deny_streams: str | None = None,
    ) -> None:
        self.user = user
        self.http_password = http_password
        self.return_limit = return_limit
        self.xssi_prefix = xssi_prefix  # real events-log answers without it; REST API has it
        self.timezone = timezone
        self.strict_reviews = strict_reviews  # reviews only on published change,patchset
        self.deny_streams = deny_streams  # stream-events fails with "fatal: <this>"
        self.history: list[dict[str, Any]] = []
        self.reviews: list[ReviewCall] = []
        self.commands: list[str] = []
        self.events_log_requests: list[dict[str, str]] = []
        self.logins = 0
        self.auth_failures = 0
        self.streams_started = 0
        self.outage = False
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._streams: list[asyncssh.SSHServerProcess[str]] = []
        self._drop_countdown: int | None = None
        self._outage_on_drop = False
        self._host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        self._client_public = self.client_key.public_data
        self._tmp = tempfile.TemporaryDirectory(prefix="gerrit-standin-")
        self.known_hosts = Path(self._tmp.name) / "known_hosts"
        self.port = 0
        self.http_port = 0
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._runner: web.AppRunner | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> GerritStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        self._acceptor = await asyncssh.create_server(
            lambda: _SSHServer(self),
            HOST,
            0,
            server_host_keys=[self._host_key],
            process_factory=self._handle,
            keepalive_interval=0,
        )
        self.port = self._acceptor.get_port()
        public = self._host_key.export_public_key().decode().strip()
        self.known_hosts.write_text(f"[{HOST}]:{self.port} {public}\n", encoding="utf-8")
        self._runner = web.AppRunner(self._events_log_app())
        await self._runner.setup()
        await web.TCPSite(self._runner, HOST, 0).start()
        self.http_port = self._runner.addresses[0][1]

    async def close(self) -> None:
        await self.disconnect()
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
        if self._runner is not None:
            await self._runner.cleanup()
        self._tmp.cleanup()

    # -- what a client needs ---------------------------------------------------------------

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    def settings(self, name: str = "gerrit", **overrides: Any) -> GerritServer:
        """A :class:`GerritServer` that connects here with the authorized key."""
        values: dict[str, Any] = {
            "name": name,
            "host": HOST,
            "port": self.port,
            "user": self.user,
            "ssh_key": SecretStr(self.client_key.export_private_key().decode()),
            "known_hosts": self.known_hosts,
            "http_url": self.http_url,
            "http_password": SecretStr(self.http_password),
            "connect_timeout": 5.0,
            "keepalive_interval": 5.0,
            "http_timeout": 5.0,
        }
        values.update(overrides)
        return GerritServer(**values)

    # -- test controls ---------------------------------------------------------------------

    async def publish(self, event: Mapping[str, Any]) -> None:
        """An event happens: stored in the events-log history, sent to every open stream."""
        self.history.append(dict(event))
        await self._send(json.dumps(event))

    async def publish_all(self, events: Iterable[Mapping[str, Any]]) -> None:
        for event in events:
            await self.publish(event)

    async def send_raw(self, line: str) -> None:
        """A line that is not an event (garbage), to every open stream only."""
        await self._send(line)

    def drop_after(self, count: int, *, outage: bool = False) -> None:
        """Close every connection after ``count`` more lines were sent; then maybe an outage."""
        self._drop_countdown = count
        self._outage_on_drop = outage

    async def disconnect(self, *, outage: bool = False) -> None:
        """Close every SSH connection now (gracefully: sent lines arrive first)."""
        self.outage = self.outage or outage
        for conn in list(self._connections):
            conn.close()
        for conn in list(self._connections):
            await asyncio.wait_for(conn.wait_closed(), 5)

    def end_outage(self) -> None:
        self.outage = False

    @property
    def streams_open(self) -> int:
        return len(self._streams)

    async def wait_for_streams(self, started: int, seconds: float = 5.0) -> None:
        """Until ``started`` stream-events sessions were opened in all (and one is open)."""
        await until(
            lambda: self.streams_started >= started and bool(self._streams),
            f"{started} stream-events sessions",
            seconds,
        )

    # -- SSH commands ----------------------------------------------------------------------

    async def _handle(self, process: asyncssh.SSHServerProcess[str]) -> None:
        command = process.command or ""
        self.commands.append(command)
        try:
            argv = shlex.split(command)
            if argv[:2] == ["gerrit", "stream-events"]:
                await self._stream_events(process, argv[2:])
            elif argv[:2] == ["gerrit", "review"]:
                self._review(process, argv[2:], command)
            else:
                _fail(process, _not_found(argv))
        except (ValueError, _UsageError) as exc:
            _fail(process, str(exc))

    async def _stream_events(
        self, process: asyncssh.SSHServerProcess[str], args: list[str]
    ) -> None:
        if args:
            raise ValueError(f'"{args[0]}" is not a valid option')
        if self.deny_streams:
            raise ValueError(self.deny_streams)
        self._streams.append(process)
        self.streams_started += 1
        try:
            await process.stdin.read()  # until the client goes away
        except (asyncssh.Error, OSError):
            pass  # the connection was dropped
        finally:
            self._streams.remove(process)
        _exit(process, 0)

    def _review(self, process: asyncssh.SSHServerProcess[str], args: list[str], raw: str) -> None:
        options, extra = _review_parser().parse_known_args(args)
        if extra:  # args4j's wording, as Gerrit prints it
            raise ValueError(f'"{extra[0]}" is not a valid option')
        labels = dict(label.split("=", 1) for label in options.label if "=" in label)
        if options.verified is not None:
            labels["Verified"] = options.verified
        if options.code_review is not None:
            labels["Code-Review"] = options.code_review
        known = {_change_key(event) for event in self.history}
        common = {key: getattr(options, key) for key in ("message", "project", "tag", "notify")}
        calls = []
        for commit in options.commits:
            match = re.fullmatch(r"(\d+),(\d+)", commit)
            if not match or (self.strict_reviews and match.groups() not in known):
                raise ValueError(f'"{commit}" no such patch set')
            calls.append(ReviewCall(match[1], match[2], labels=labels, command=raw, **common))
        self.reviews.extend(calls)
        _exit(process, 0)

    async def _send(self, line: str) -> None:
        receivers = list(self._streams)
        for process in receivers:
            try:
                process.stdout.write(line + "\n")
                await asyncio.wait_for(process.stdout.drain(), 5)
            except (asyncssh.Error, OSError):
                continue  # that client is gone; the others still get the line
        if receivers and self._drop_countdown is not None:
            self._drop_countdown -= 1
            if self._drop_countdown <= 0:
                self._drop_countdown = None
                await self.disconnect(outage=self._outage_on_drop)

    # -- events-log REST -------------------------------------------------------------------

    def _events_log_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(EVENTS_LOG_ROUTE, self._events_log)
        app.router.add_get(EVENTS_LOG_ROUTE.removeprefix("/a"), self._unauthorized)
        return app

    async def _unauthorized(self, request: web.Request) -> web.Response:
        return web.Response(status=401, text="Unauthorized")

    async def _events_log(self, request: web.Request) -> web.Response:
        if not self._authorized(request.headers.get("Authorization", "")):
            return web.Response(status=401, text="Unauthorized")
        # The plugin splits the raw query on both "&" and ";" (its docs use ";").
        params = dict(
            unquote_plus(pair).split("=", 1)
            for pair in re.split(r"[&;]", request.query_string)
            if "=" in pair
        )
        self.events_log_requests.append(params)
        try:
            events = self._select(params.get("t1"), params.get("t2"))
        except ValueError:
            return web.Response(status=400, text="Bad Request")
        body = "".join(json.dumps(event) + "\n" for event in events)
        prefix = ")]}'\n" if self.xssi_prefix else ""
        return web.Response(text=prefix + body, content_type="text/html")

    def _authorized(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        try:
            pair = base64.b64decode(encoded, validate=True).decode()
        except ValueError:
            return False
        return scheme == "Basic" and pair == f"{self.user}:{self.http_password}"

    def _select(self, t1: str | None, t2: str | None) -> list[dict[str, Any]]:
        if t1 is None and t2 is None:
            return self.history[-self.return_limit :]
        now = time.time()
        low, high = sorted((self._epoch(t1, now), self._epoch(t2, now)))
        window = [e for e in self.history if low <= float(e.get("eventCreatedOn", 0)) <= high]
        window.sort(key=lambda e: float(e.get("eventCreatedOn", 0)))
        return window[: self.return_limit]

    def _epoch(self, text: str | None, default: float) -> float:
        if text is None:
            return default
        for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
            try:
                parsed = datetime.strptime(text, pattern)
            except ValueError:
                continue
            return parsed.replace(tzinfo=self.timezone).timestamp()
        raise ValueError(f"bad date {text!r}")


def _change_key(event: Mapping[str, Any]) -> tuple[str, str]:
    change, patchset = event.get("change") or {}, event.get("patchSet") or {}
    return str(change.get("number")), str(patchset.get("number"))


def _not_found(argv: list[str]) -> str:
    # Gerrit names the subcommand within its "gerrit" group, otherwise the command alone.
    name = ": ".join(argv[:2]) if argv[:1] == ["gerrit"] else " ".join(argv[:1])
    return f"{name}: not found"


def _fail(process: asyncssh.SSHServerProcess[str], message: str) -> None:
    process.stderr.write(f"fatal: {message}\n")
    _exit(process, 1)


def _exit(process: asyncssh.SSHServerProcess[str], status: int) -> None:
    with contextlib.suppress(asyncssh.Error, OSError):  # the client may be gone already
        process.exit(status)


async def run_gerrit_command(
    settings: GerritServer, command: str, *, seconds: float = 10.0
) -> asyncssh.SSHCompletedProcess:
    """Run one Gerrit SSH command as the client in ``settings`` would (key, known_hosts)."""
    secret = settings.ssh_key.get_secret_value() if settings.ssh_key else None
    keys = [asyncssh.import_private_key(secret)] if secret else ()
    async with asyncio.timeout(seconds):
        async with asyncssh.connect(
            settings.host,
            settings.port,
            username=settings.user,
            known_hosts=str(settings.known_hosts) if settings.known_hosts else (),
            client_keys=keys,
            agent_path=None,
            config=None,
        ) as conn:
            return await conn.run(command, check=False)
