"""A SQLite connection that lives on a thread of its own, for the bot's journals.

``sqlite3`` blocks: every statement runs on a one-thread executor, so the event loop never waits
on the disk and the statements of one journal run in order.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from bot.core.errors import describe

T = TypeVar("T")


class SqliteWorker:
    """The connection and its thread; subclasses add the journal's statements."""

    def __init__(self, conn: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        self._conn = conn
        self._executor = executor

    @staticmethod
    async def connect_in_thread(
        path: str,
        connect: Callable[[str], sqlite3.Connection],
        *,
        name: str,
        error: Callable[[str], Exception],
        failures: tuple[type[Exception], ...] = (sqlite3.Error, OSError),
    ) -> tuple[sqlite3.Connection, ThreadPoolExecutor]:
        """``connect(path)`` on a new thread named ``name``; ``error("<path>: cannot use the
        <name> journal: <why>")`` is raised for ``failures``."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        try:
            conn = await asyncio.get_running_loop().run_in_executor(executor, connect, path)
        except failures as exc:
            executor.shutdown(wait=False)
            raise error(f"{path}: cannot use the {name} journal: {describe(exc)}") from exc
        return conn, executor

    async def _run(self, func: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, self._conn)

    async def close(self) -> None:
        await self._run(lambda conn: conn.close())
        self._executor.shutdown(wait=True)
