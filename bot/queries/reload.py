"""Reload the query repo when it changes on disk, so a merged query takes effect without a restart.

ER re-read every YAML file on every classification. Here a cheap stat pass (names, mtimes and
sizes of the files the loader reads) runs every few seconds in a worker thread; only when it
differs is the repo loaded again, also off the event loop, and the store's queries swapped in
one assignment. Invalid query files are logged and left out; the others keep working.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.queries.files import file_state, query_files
from bot.queries.model import QueryRepo
from bot.queries.repo import load_queries
from bot.queries.store import QueryStore

log = logging.getLogger(__name__)

#: (path relative to the repo, mtime in ns, size) of every query file.
Snapshot = tuple[tuple[str, int, int], ...]
Loader = Callable[[Path], QueryRepo]
Sleep = Callable[[float], Awaitable[None]]


def snapshot(path: Path) -> Snapshot:
    """What the repo's query files (those :func:`load_queries` reads) look like on disk now.

    ``path`` is a directory, or one file holding queries (TripleO style).
    """
    if not path.exists():
        return ()
    # An entry for the repo itself tells "now empty" from "gone" (see QueryWatcher._reload).
    entries: list[tuple[str, int, int]] = [("", 0, 0)]
    try:
        files = query_files(path)
    except OSError:
        return ()
    root = path if path.is_dir() else None
    for file in files:
        try:
            mtime, size = file_state(file, root)  # never opens or follows out of the repo
        except OSError:  # removed between listing and stat: the next pass sees it gone
            continue
        entries.append((file.name, mtime, size))
    return tuple(entries)


class QueryWatcher:
    """Keeps ``store``'s queries in step with the repo at ``path``."""

    def __init__(
        self,
        path: Path,
        store: QueryStore,
        *,
        interval: float = 10.0,
        loader: Loader = load_queries,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.path = path
        self.interval = interval
        self._store = store
        self._loader = loader
        self._sleep = sleep
        self._seen: Snapshot | None = None
        self.reloads = 0

    async def load(self) -> int:
        """Load the repo now (at start); returns how many queries are in use."""
        seen = await asyncio.to_thread(snapshot, self.path)
        await self._reload(seen)
        return len(self._store)

    async def check(self) -> bool:
        """Reload if the repo changed since the last look; True when it did."""
        seen = await asyncio.to_thread(snapshot, self.path)
        if seen == self._seen:
            return False
        await self._reload(seen)
        return True

    async def run(self) -> None:
        """Check every ``interval`` seconds until cancelled; a failed check is logged, not fatal."""
        if self._seen is None:
            await self.load()
        while True:
            await self._sleep(self.interval)
            try:
                await self.check()
            except Exception:
                log.exception("checking query repo %s failed", self.path)

    async def _reload(self, seen: Snapshot) -> None:
        # The snapshot is taken before loading: a file changed mid-load differs from it, so
        # the next check loads again instead of missing the change.
        self._seen = seen
        if not seen:
            # A vanished directory (unmounted volume, mid-checkout) is not "every bug fixed".
            log.error(
                "query repo %s is missing; keeping the %d queries in use",
                self.path,
                len(self._store),
            )
            return
        try:
            repo = await asyncio.to_thread(self._loader, self.path)
        except Exception as exc:
            log.error(
                "cannot load queries from %s, keeping the %d in use: %s",
                self.path,
                len(self._store),
                exc,
            )
            return
        for problem in repo.problems:
            log.warning("query skipped: %s", problem)
        self._store.replace(repo.queries)
        self.reloads += 1
        log.info(
            "loaded %d queries from %s (%d skipped)",
            len(repo.queries),
            self.path,
            len(repo.problems),
        )
