"""The journal: builds received, their verdicts, and every delivery, in one SQLite file (WAL).

Every stage writes here before the next one runs, so a restart resumes unfinished builds and a
(build, room) pair is announced at most once. SQLite calls run on one worker thread: the event
loop never blocks on disk, and the connection is never shared between threads.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from bot.events.model import FailedBuild, Job
from bot.transports.base import Room

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS builds (
    key TEXT PRIMARY KEY,
    build TEXT NOT NULL,
    received REAL NOT NULL,
    verdict TEXT,
    done REAL
);
CREATE TABLE IF NOT EXISTS deliveries (
    build_key TEXT NOT NULL,
    room TEXT NOT NULL,
    sent REAL NOT NULL,
    PRIMARY KEY (build_key, room)
);
CREATE TABLE IF NOT EXISTS audit (
    at REAL NOT NULL,
    user TEXT NOT NULL,
    room TEXT NOT NULL,
    command TEXT NOT NULL,
    result TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cache (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires REAL NOT NULL
);
"""


def build_to_json(build: FailedBuild) -> str:
    return json.dumps(asdict(build), sort_keys=True)


def build_from_json(text: str) -> FailedBuild:
    data = json.loads(text)
    data["jobs"] = tuple(Job(**job) for job in data["jobs"])
    return FailedBuild(**data)


def _room_key(room: Room) -> str:
    return f"{room.transport}:{room.id}"


class StateStore:
    """Durable bot state; open with ``await StateStore.open(path)``."""

    def __init__(self, conn: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        self._conn = conn
        self._executor = executor

    @classmethod
    async def open(cls, path: Path | str) -> StateStore:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="state")
        loop = asyncio.get_running_loop()
        conn = await loop.run_in_executor(executor, _connect, str(path))
        return cls(conn, executor)

    async def _run(self, func: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, func, self._conn)

    async def add_build(self, build: FailedBuild) -> bool:
        """Journal a received build; False when it was already known (a repeated event)."""

        def insert(conn: sqlite3.Connection) -> bool:
            with conn:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO builds (key, build, received) VALUES (?, ?, ?)",
                    (build.key, build_to_json(build), time.time()),
                )
            return cur.rowcount == 1

        return await self._run(insert)

    async def unfinished(self) -> list[FailedBuild]:
        """Builds received but not finished, oldest first: the work to resume after a restart."""

        def select(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute("SELECT build FROM builds WHERE done IS NULL ORDER BY received")
            return [row[0] for row in rows]

        return [build_from_json(text) for text in await self._run(select)]

    async def save_verdict(self, key: str, verdict: dict[str, Any]) -> None:
        await self._execute(
            "UPDATE builds SET verdict = ? WHERE key = ?", (json.dumps(verdict), key)
        )

    async def verdict(self, key: str) -> dict[str, Any] | None:
        def select(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT verdict FROM builds WHERE key = ?", (key,)).fetchone()
            return row[0] if row else None

        text = await self._run(select)
        return json.loads(text) if text else None

    async def finish(self, key: str) -> None:
        await self._execute("UPDATE builds SET done = ? WHERE key = ?", (time.time(), key))

    async def delivered(self, key: str, room: Room) -> bool:
        def select(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT 1 FROM deliveries WHERE build_key = ? AND room = ?", (key, _room_key(room))
            ).fetchone()
            return row is not None

        return await self._run(select)

    async def mark_delivered(self, key: str, room: Room) -> None:
        await self._execute(
            "INSERT OR IGNORE INTO deliveries (build_key, room, sent) VALUES (?, ?, ?)",
            (key, _room_key(room), time.time()),
        )

    async def audit(self, user: str, room: str, command: str, result: str) -> None:
        """Record who ran which chat command where, and what came of it."""
        await self._execute(
            "INSERT INTO audit (at, user, room, command, result) VALUES (?, ?, ?, ?, ?)",
            (time.time(), user, room, command[:500], result[:200]),
        )

    async def audit_log(self, limit: int = 50) -> list[tuple[float, str, str, str, str]]:
        def select(conn: sqlite3.Connection) -> list[tuple[float, str, str, str, str]]:
            rows = conn.execute(
                "SELECT at, user, room, command, result FROM audit ORDER BY at DESC LIMIT ?",
                (limit,),
            )
            return [tuple(row) for row in rows]

        return await self._run(select)

    async def cache_get(self, key: str) -> Any:
        """A cached JSON value, or None when absent or expired."""

        def select(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT value FROM cache WHERE key = ? AND expires > ?", (key, time.time())
            ).fetchone()
            return row[0] if row else None

        text = await self._run(select)
        return json.loads(text) if text else None

    async def cache_put(self, key: str, value: Any, ttl: float) -> None:
        await self._execute(
            "INSERT OR REPLACE INTO cache (key, value, expires) VALUES (?, ?, ?)",
            (key, json.dumps(value), time.time() + ttl),
        )

    async def prune(self, older_than: float) -> int:
        """Drop finished builds, deliveries and audit rows older than ``older_than`` seconds."""
        cutoff = time.time() - older_than

        def delete(conn: sqlite3.Connection) -> int:
            with conn:
                n = conn.execute(
                    "DELETE FROM builds WHERE done IS NOT NULL AND done < ?", (cutoff,)
                ).rowcount
                conn.execute("DELETE FROM deliveries WHERE sent < ?", (cutoff,))
                conn.execute("DELETE FROM audit WHERE at < ?", (cutoff,))
                conn.execute("DELETE FROM cache WHERE expires < ?", (time.time(),))
            return int(n)

        return await self._run(delete)

    async def close(self) -> None:
        await self._run(lambda conn: conn.close())
        self._executor.shutdown(wait=True)

    async def _execute(self, sql: str, params: tuple[Any, ...]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute(sql, params)

        await self._run(run)


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=10, check_same_thread=False)
    # WAL: readers never block the writer, and a crash mid-write leaves the last commit intact.
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(_SCHEMA)
    return conn
