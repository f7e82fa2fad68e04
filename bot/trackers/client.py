"""The tracker client the bot uses: cached, bounded, and quick to give up.

``await TrackerClient(settings, state).info(query.bug)`` → the bug described by its tracker, or
``None``.
Answers are kept in the state store's cache for ``cache_ttl`` (a private bug is an answer too);
failures for ``negative_ttl``, so a broken bug is not asked about on every build. A tracker that
times out, answers 5xx or rate-limits us is left alone for ``down_for`` seconds: lookups return
``None`` at once and announcements go out with the bare link. Trouble is logged once per tracker
until it answers again. Concurrent lookups of one bug share one request.

Hooks for the rest of the bot: :meth:`TrackerClient.enrich` (titles, statuses and tracker projects
into a pipeline :class:`~bot.watch.pipeline.Outcome`), :meth:`TrackerClient.graph_bug_data` (ER's
``bug_data`` for the graph JSON) and :meth:`TrackerClient.lookup_all` (``check --trackers``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.bugs import Bug, TrackerKind
from bot.config.trackers import TrackerSettings
from bot.state import StateStore
from bot.trackers import NotFound, TrackerError, bugzilla, github, jira, launchpad

log = logging.getLogger(__name__)

Fetch = Callable[[aiohttp.ClientSession, Any, Bug], Awaitable[Bug]]
FETCHERS: dict[TrackerKind, Fetch] = {
    "launchpad": launchpad.fetch,
    "jira": jira.fetch,
    "bugzilla": bugzilla.fetch,
    "github": github.fetch,
}
_MISS = object()


def cache_key(ref: Bug) -> str:
    return f"tracker:{ref.kind}:{ref.id}"


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def serves(settings: TrackerSettings, ref: Bug) -> bool:
    """Whether ``ref``'s link is on the site configured for its tracker (tokens go nowhere else)."""
    host = _host(ref.url)
    if ref.kind == "launchpad":
        web = settings.launchpad.web_host.lower()
        return host == web or host.endswith("." + web)
    site = {"jira": settings.jira.url, "bugzilla": settings.bugzilla.url}
    return host == _host(site.get(ref.kind, settings.github.url))


class TrackerClient:
    """Cached bug lookups; ``state=None`` keeps the cache in memory (CLI runs)."""

    def __init__(
        self,
        settings: TrackerSettings,
        state: StateStore | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._state = state
        self._clock = clock
        self._memo: dict[str, tuple[float, Any]] = {}
        self._inflight: dict[str, asyncio.Future[Bug | None]] = {}
        self._down_until: dict[str, float] = {}
        self._failing: set[str] = set()
        self._limit = asyncio.Semaphore(settings.max_concurrent)
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> TrackerClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def wants(self, ref: Bug) -> bool:
        """Whether ``ref`` would be looked up at all (enabled, filed, on a configured site)."""
        return self._settings.enabled and ref.tracked and serves(self._settings, ref)

    async def info(self, ref: Bug) -> Bug | None:
        """What the tracker says about ``ref``; None when unknown, unreachable or not ours."""
        if not self.wants(ref):
            return None
        key = cache_key(ref)
        cached = await self._cache_get(key)
        if cached is not _MISS:
            return ref.with_details_json(cached) if cached is not None else None
        if self._is_down(ref.kind):
            return None
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(self._lookup(key, ref))
            self._inflight[key] = future
            future.add_done_callback(lambda _: self._inflight.pop(key, None))
        # shield: one caller giving up (cancelled) does not cancel the lookup others wait for.
        return await asyncio.shield(future)

    async def describe(self, bug: Bug) -> Bug | None:
        """``bug`` as its tracker describes it; ``bug`` itself when it is not ours to look up
        (not filed, lookups off, another site); None when the tracker did not answer."""
        if not self.wants(bug):
            return bug
        return await self.info(bug)

    async def lookup_all(self, refs: Iterable[Bug]) -> dict[Bug, Bug | None]:
        unique = list(dict.fromkeys(refs))
        found = await asyncio.gather(*(self.info(ref) for ref in unique))
        return dict(zip(unique, found, strict=True))

    async def _lookup(self, key: str, ref: Bug) -> Bug | None:
        s = self._settings
        try:
            async with self._limit:
                if self._is_down(ref.kind):  # it went down while we queued
                    return None
                async with asyncio.timeout(s.timeout):
                    details = await FETCHERS[ref.kind](self._session(), self._section(ref), ref)
        except NotFound as exc:
            log.info("%s bug %s: %s", ref.kind, ref.id, exc)
            await self._cache_put(key, None, s.negative_ttl)
            return None
        except (TrackerError, aiohttp.ClientError, TimeoutError) as exc:
            self._failed(ref, exc)
            await self._cache_put(key, None, s.negative_ttl)
            return None
        except Exception:  # a bug of ours: the bare link still goes out
            log.exception("%s bug %s: lookup failed unexpectedly", ref.kind, ref.id)
            return None
        if ref.kind in self._failing:
            self._failing.discard(ref.kind)
            log.info("%s answers again", ref.kind)
        await self._cache_put(key, details.details_json(), s.cache_ttl)
        return details

    def _section(self, ref: Bug) -> Any:
        return getattr(self._settings, ref.kind)

    def _failed(self, ref: Bug, exc: BaseException) -> None:
        down = not isinstance(exc, TrackerError) or exc.down
        reason = "timed out" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
        if down:
            self._down_until[ref.kind] = self._clock() + self._settings.down_for
        # Once per tracker until it answers again: an outage is one line, not one per bug.
        level = logging.DEBUG if ref.kind in self._failing else logging.WARNING
        self._failing.add(ref.kind)
        pause = f"; not asked for {self._settings.down_for:.0f}s" if down else ""
        log.log(level, "%s bug %s: lookup failed: %s%s", ref.kind, ref.id, reason, pause)

    def _is_down(self, kind: str) -> bool:
        return self._clock() < self._down_until.get(kind, 0.0)

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            s = self._settings
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=s.timeout),
                headers={"User-Agent": s.user_agent},
                connector=aiohttp.TCPConnector(limit=s.max_concurrent),
            )
        return self._http

    async def _cache_get(self, key: str) -> Any:
        if self._state is not None:
            entry = await self._state.cache_get(key)
            return _MISS if entry is None else entry.get("details")
        expires, value = self._memo.get(key, (0.0, _MISS))
        return value if self._clock() < expires else _MISS

    async def _cache_put(self, key: str, details: Any, ttl: float) -> None:
        # Wrapped, so that a cached failure ({"details": null}) differs from an absent entry.
        if self._state is not None:
            await self._state.cache_put(key, {"details": details}, ttl)
        else:
            self._memo[key] = (self._clock() + ttl, details)
