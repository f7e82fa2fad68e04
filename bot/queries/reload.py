"""Reload the query repo when it changes on disk, so a merged query takes effect without a restart.

ER re-read every YAML file on every classification. Here a cheap stat pass (names, mtimes and
sizes of the files the loader reads) runs every few seconds in a worker thread; only when it
differs is the repo loaded again, also off the event loop, and the store's queries swapped in
one assignment. Invalid query files are logged and left out; the others keep working.

With several sources (:mod:`bot.queries.sources`) each is looked at on its own: a git source
that a sync moved to another commit, or a directory whose files changed, is loaded again and
the sources merged anew; a source whose directory vanished keeps what it had.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from bot.queries.files import file_state, query_files
from bot.queries.model import QueryRepo
from bot.queries.repo import load_queries
from bot.queries.sources import DEFAULT_SOURCE, Location, Merged, merge
from bot.queries.store import QueryStore

log = logging.getLogger(__name__)

#: (path relative to the repo, mtime in ns, size) of every query file.
Snapshot = tuple[tuple[str, int, int], ...]
Loader = Callable[[Path], QueryRepo]
Sleep = Callable[[float], Awaitable[None]]
Locate = Callable[[], Sequence[Location]]
#: Each source's name, commit and :data:`Snapshot`.
Seen = tuple[tuple[str, str | None, Snapshot], ...]


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
    """Keeps ``store``'s queries in step with the repo at ``where`` (a path, or a function
    saying where each source is now)."""

    def __init__(
        self,
        where: Path | Locate,
        store: QueryStore,
        *,
        interval: float = 10.0,
        loader: Loader = load_queries,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._locate = _one_path(where) if isinstance(where, Path) else where
        self.path = where if isinstance(where, Path) else None
        self.interval = interval
        self._store = store
        self._loader = loader
        self._sleep = sleep
        self._seen: Seen | None = None
        self._loaded: dict[str, tuple[Snapshot, QueryRepo]] = {}
        self._lock = asyncio.Lock()
        self.merged = Merged(QueryRepo(), ())
        self.reloads = 0

    async def load(self) -> int:
        """Load the repo now (at start); returns how many queries are in use."""
        async with self._lock:
            await self._reload(await asyncio.to_thread(self._look))
        return len(self._store)

    async def check(self) -> bool:
        """Reload if the repo changed since the last look; True when it did."""
        async with self._lock:
            seen = await asyncio.to_thread(self._look)
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
                log.exception("checking the query sources failed")

    def _look(self) -> Seen:
        return tuple(
            (where.name, where.commit, snapshot(where.path) if where.path else ())
            for where in self._locate()
        )

    async def _reload(self, seen: Seen) -> None:
        # The snapshot is taken before loading: a file changed mid-load differs from it, so
        # the next check loads again instead of missing the change.
        self._seen = seen
        loaded: list[tuple[Location, QueryRepo]] = []
        for where in self._locate():
            look = next((s for name, _, s in seen if name == where.name), ())
            repo = await self._source(where, look)
            if repo is None:
                return  # logged; the queries in use stay
            loaded.append((where, repo))
        self.merged = merge(loaded)
        repo = self.merged.repo
        for problem in repo.problems:
            log.warning("query skipped: %s", problem)
        self._store.replace(repo.queries)
        self.reloads += 1
        log.info("loaded %d queries (%d skipped)", len(repo.queries), len(repo.problems))

    async def _source(self, where: Location, look: Snapshot) -> QueryRepo | None:
        """One source's queries: loaded again when its files changed, what it had when it
        vanished; None when the loader failed (the whole reload is then given up)."""
        before = self._loaded.get(where.name)
        if where.path is None:
            return QueryRepo()  # a git source never synced: nothing yet
        if not look:
            # A vanished directory (unmounted volume, mid-checkout) is not "every bug fixed".
            log.error("query source %s: %s is missing; keeping its queries", where.name, where.path)
            return before[1] if before else QueryRepo()
        if before is not None and before[0] == look:
            return before[1]
        try:
            repo = await asyncio.to_thread(self._loader, where.path)
        except Exception as exc:
            log.error(
                "cannot load queries from %s, keeping the %d in use: %s",
                where.path,
                len(self._store),
                exc,
            )
            return None
        self._loaded[where.name] = (look, repo)
        return repo


def _one_path(path: Path) -> Locate:
    return lambda: (Location(DEFAULT_SOURCE, path),)
