"""The query sources inside the running bot: where the reloader looks, the scheduled sync, the
admin room told of each commit kept back, and what ``!queries`` and ``!sync`` show.

A sync that moves a source to a new commit reloads the queries at once (the classifier takes
the new set on its next build, no restart). A commit kept back is told to the admin room
(``chat.admin_room``) once: the message is journaled under the source and the commit, so
neither the next sync nor a restart says it again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.chat.services import QuerySourceStatus
from bot.config import ConfigError, Settings
from bot.config.queries import QuerySource
from bot.queries.cache import Record, SourceCache
from bot.queries.reload import QueryWatcher
from bot.queries.repo import load_queries
from bot.queries.sources import Loader, configured, locate
from bot.queries.store import QueryStore
from bot.queries.sync import Outcome, QuerySync
from bot.transports.base import Room, Text
from bot.watch.routing import Routing

log = logging.getLogger(__name__)

Deliver = Callable[[str, Room, Text], Awaitable[Any]]
#: Problems quoted in the admin room's message; the rest are counted.
PROBLEMS_TOLD = 2


def query_loader(settings: Settings) -> Loader:
    """How query files are read: Jira bug ids link to the configured Jira."""
    jira_browse = settings.trackers.jira.url.rstrip("/") + "/browse/"
    return functools.partial(load_queries, jira_browse=jira_browse)


def query_watcher(settings: Settings, store: QueryStore) -> QueryWatcher:
    """The reloader over every configured source (a git one: its commit in use)."""
    sources = configured(settings)
    cache = settings.query_cache
    return QueryWatcher(lambda: locate(sources, cache), store, loader=query_loader(settings))


def admin_room(settings: Settings, routing: Routing) -> Room | None:
    """The room of ``chat.admin_room`` (a channel of the channels file), if one is set."""
    name = settings.chat.admin_room
    if name is None:
        return None
    for channel in routing.channels:
        if channel.name == name:
            return channel.room
    known = ", ".join(channel.name for channel in routing.channels)
    raise ConfigError(f"chat.admin_room: {name}: not in the channels file (its channels: {known})")


def kept_back_text(source: str, sha: str, problems: Sequence[str]) -> str:
    """``queries from tripleo-ci: commit ab12cd3 kept back: 1234.yaml: line 3: …`` (pure)."""
    told = "; ".join(problems[:PROBLEMS_TOLD])
    more = len(problems) - PROBLEMS_TOLD
    rest = f" (and {more} more: recheckbot sync)" if more > 0 else ""
    return f"queries from {source}: commit {sha[:7]} kept back: {told}{rest}"


class QuerySources:
    """The app's query sources: their sync (None when no source is git) and their status."""

    def __init__(
        self,
        settings: Settings,
        watcher: QueryWatcher,
        *,
        admin: Room | None = None,
        deliver: Deliver | None = None,
    ) -> None:
        self.sources = configured(settings)
        self.cache = settings.query_cache
        self.watcher = watcher
        self._admin = admin
        self._deliver = deliver
        self._telling: set[asyncio.Task[None]] = set()
        self.sync: QuerySync | None = None
        if any(source.git for source in self.sources):
            self.sync = QuerySync(
                self.sources,
                self.cache,
                git_timeout=settings.query_sync.timeout,
                loader=query_loader(settings),
                after=self._synced,
            )

    async def start(self, minutes: float) -> None:
        if self.sync is not None:
            await self.sync.start(minutes)

    async def close(self) -> None:
        if self.sync is not None:
            await self.sync.close()
        for task in self._telling:
            task.cancel()
        await asyncio.gather(*self._telling, return_exceptions=True)

    async def statuses(self) -> list[QuerySourceStatus]:
        """Every source as it is now, with the last sync's outcome."""
        records = await asyncio.to_thread(self._records)
        last = {o.name: o for o in (self.sync.last if self.sync else [])}
        return [
            _status(source, records.get(source.name), last.get(source.name), self.watcher)
            for source in self.sources
        ]

    async def sync_now(self) -> list[QuerySourceStatus]:
        """``!sync``: sync (joining a sync running), reload; the sources afterwards."""
        if self.sync is None:
            return []
        await self.sync.run()
        return await self.statuses()

    def _records(self) -> dict[str, Record]:
        return {s.name: SourceCache(self.cache, s.name).read() for s in self.sources if s.git}

    async def _synced(self, outcomes: list[Outcome]) -> None:
        if any(outcome.status == "updated" for outcome in outcomes):
            await self.watcher.check()
        for outcome in outcomes:
            if outcome.status == "kept-previous" and outcome.fetched:
                self._tell(outcome.name, outcome.fetched, outcome.problems)

    def _tell(self, source: str, sha: str, problems: Sequence[str]) -> None:
        text = kept_back_text(source, sha, problems)
        if self._admin is None or self._deliver is None:
            log.warning("%s (no chat.admin_room to tell)", text)
            return
        key = f"query-source/{source}/{sha}"  # journaled: told once, across restarts too
        task = asyncio.create_task(self._say(key, self._admin, text), name=f"tell {key}")
        self._telling.add(task)
        task.add_done_callback(self._telling.discard)

    async def _say(self, key: str, room: Room, text: str) -> None:
        assert self._deliver is not None
        try:
            await self._deliver(key, room, Text.of(text))
        except Exception:
            log.exception("telling %s in %s failed", key, room.id)


def _status(
    source: QuerySource, record: Record | None, outcome: Outcome | None, watcher: QueryWatcher
) -> QuerySourceStatus:
    loaded = next((repo for where, repo in watcher.merged.sources if where.name == source.name), ())
    good = record.good if record else None
    rejected = record.rejected if record else None
    problems = outcome.problems if outcome else ()
    if not problems and record and record.error:
        problems = (record.error,)
    return QuerySourceStatus(
        name=source.name,
        origin=source.origin,
        git=source.git is not None,
        queries=len(loaded),
        shadowed=watcher.merged.shadowed_in(source.name),
        commit=good.sha if good else None,
        committed=_when(good.committed) if good else None,
        fetched=_when(record.fetched) if record else None,
        status=outcome.status if outcome else None,
        problems=problems or (rejected.problems if rejected else ()),
        kept_back=rejected.sha if rejected else None,
    )


def _when(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch else None
