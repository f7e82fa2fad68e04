"""The bot as a real process (``recheckbot run --config … --debug``) against real servers.

:class:`BotProcess` writes nothing itself: :func:`write_config` makes the settings file (secrets
in files of their own, as in production), and the process logs to one file, which tests read
(for the dashboard URL, and to look for secrets). ``kill()`` is SIGKILL to our own PID only.
:class:`IrcWatcher` and :func:`matrix_notices` count what reached each room.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import irc.client
import nio
import yaml

from tests.support import polling
from tests.support.cli import recheckbot
from tests.support.gerrit import GerritStandIn
from tests.support.paths import ROOT
from tests.support.peers import MATRIX_TIMING, IrcPeer, unique
from tests.support.scenario import Scenario
from tests.support.servers import IrcServer, SynapseServer

DEADLINE = 60.0


async def until(predicate: Callable[[], bool], what: str, seconds: float = DEADLINE) -> None:
    """:func:`tests.support.polling.until` at a process's pace: every 50 ms, for a minute."""
    await polling.until(predicate, what, seconds, every=0.05)


def secret_file(workdir: Path, name: str, value: str) -> str:
    path = workdir / "secrets" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(value)
    path.chmod(0o600)
    return str(path)


def irc_config(run: Scenario, irc: IrcServer, channel: str, event: str, **irc_options: Any) -> Path:
    """Settings for a bot on ``irc`` alone, announcing ``event`` builds of nova in ``channel``."""
    return write_config(
        run.workdir,
        search_url=run.search_url,
        gerrit=run.gerrit,
        channels={channel: {"projects": ["nova"], "events": [event]}},
        queries=run.queries,
        irc={"server": irc.host, "port": irc.port, "tls": False, "nick": unique("rb")}
        | irc_options,
    )


def write_config(
    workdir: Path,
    *,
    search_url: str,
    gerrit: GerritStandIn,
    channels: dict[str, Any],
    queries: Path,
    irc: dict[str, Any] | None = None,
    matrix: dict[str, Any] | None = None,
    search: dict[str, Any] | None = None,
) -> Path:
    """The bot's settings file; every secret is given as ``<name>_file``."""
    (workdir / "channels.yaml").write_text(yaml.safe_dump({"channels": channels}))
    key = gerrit.client_key.export_private_key().decode()
    server = {
        "name": "opendev",
        "host": "127.0.0.1",
        "port": gerrit.port,
        "user": gerrit.user,
        "ssh_key_file": secret_file(workdir, "ssh_key", key),
        "known_hosts": str(gerrit.known_hosts),
        "http_url": gerrit.http_url,
        "http_password_file": secret_file(workdir, "http_password", gerrit.http_password),
        "resume": "events-log",
        "ci_usernames": ["zuul"],
        "connect_timeout": 5.0,
        "keepalive_interval": 5.0,
        "reconnect_max_delay": 2.0,
    }
    config: dict[str, Any] = {
        "search": {"url": search_url, "timeout": 30, "retries": 0, **(search or {})},
        "queries": str(queries),
        "channels": str(workdir / "channels.yaml"),
        "state": str(workdir / "state.sqlite"),
        "gerrit": [server],
        "dashboard": {"port": 0, "output": str(workdir / "web"), "refresh_minutes": 60},
        "watch": {"wait": 60},
        "trackers": {"enabled": False},  # tests talk to loopback only
        **({"irc": irc} if irc else {}),
        **({"matrix": matrix} if matrix else {}),
    }
    path = workdir / "recheckbot.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class BotProcess:
    """One ``recheckbot run`` process at a time; its output goes to ``log`` (appended)."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.url: str | None = None
        self.starts = 0

    async def start(self) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            # Popen returns at once: the process runs on while the test awaits.
            self.proc = subprocess.Popen(  # noqa: ASYNC220
                [*recheckbot(), "run", "--config", str(self.config), "--debug"],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},  # the URL line, at once
            )
        self.starts += 1
        found: list[str] = []

        def announced() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"the bot exited with {self.proc.returncode}: {self.text()}")
            text = self.log.read_bytes()[offset:].decode(errors="replace")
            found.extend(re.findall(r"^dashboard: (http://127\.0\.0\.1:\d+)/$", text, re.M))
            return bool(found)

        await until(announced, "the bot's dashboard URL")
        self.url = found[0]

    async def health(self) -> dict[str, Any]:
        assert self.url is not None
        async with (
            aiohttp.ClientSession() as http,
            http.get(self.url + "/healthz", timeout=aiohttp.ClientTimeout(total=10)) as reply,
        ):
            data: dict[str, Any] = json.loads(await reply.text())
            return data

    async def wait_health(self, predicate: Callable[[dict[str, Any]], bool], what: str) -> None:
        health: dict[str, Any] = {}
        try:
            async with asyncio.timeout(DEADLINE):
                while not predicate(health := await self.health()):  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(f"bot health never showed {what}: {health}") from None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the machine or the OOM killer stops it."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

    async def stop(self) -> int:
        """SIGTERM and wait for a clean exit; returns the exit status."""
        proc, self.proc = self.proc, None
        if proc is None:
            return 0
        proc.send_signal(signal.SIGTERM)
        await until(lambda: proc.poll() is not None, "the bot to stop", 30)
        return int(proc.returncode)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def journal(state: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read the bot's journal while it runs (WAL: readers never block the writer)."""
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5)
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


def finished(state: Path, change: str) -> bool:
    rows = journal(state, "SELECT done FROM builds WHERE key LIKE ?", f"%/{change},%")
    return bool(rows) and all(done is not None for (done,) in rows)


class IrcWatcher:
    """A second IRC client in the announced channels, counting notices per channel."""

    def __init__(self, server: IrcServer, *channels: str, password: str | None = None) -> None:
        self.server, self.channels, self.password = server, channels, password
        self.peer: IrcPeer | None = None
        self.notices: dict[str, list[str]] = {channel: [] for channel in channels}

    async def connect(self) -> IrcWatcher:
        peer = self.peer = await IrcPeer(self.server).connect(password=self.password)
        peer.conn.reactor.add_global_handler("pubnotice", self._on_notice)
        for channel in self.channels:
            await peer.join(channel)
        return self

    def _on_notice(self, conn: Any, event: Any) -> None:
        if irc.client.NickMask(event.source).nick != (self.peer.nick if self.peer else None):
            self.notices.setdefault(event.target, []).append(event.arguments[0])

    def count(self, channel: str, needle: str) -> int:
        return sum(needle in text for text in self.notices.get(channel, []))

    def close(self) -> None:
        if self.peer is not None:
            self.peer.close()
            self.peer = None


async def matrix_notices(client: nio.AsyncClient, room_id: str) -> list[str]:
    """Every notice body in the room's history (newest first), as the server keeps them."""
    response = await client.room_messages(room_id, limit=200)
    assert isinstance(response, nio.RoomMessagesResponse), response
    return [e.body for e in response.chunk if isinstance(e, nio.RoomMessageNotice)]


def matrix_settings(synapse: SynapseServer, user_id: str, password_file: str) -> dict[str, Any]:
    return {
        "homeserver": synapse.url,
        "user_id": user_id,
        "password_file": password_file,
        **MATRIX_TIMING,
    }
