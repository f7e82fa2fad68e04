"""Syncing the git query sources: fetch, check, and switch only to a commit that passes.

For each git source: a shallow fetch of its branch into the cache's bare repository, then, when
the remote has a commit not seen yet, its query folder is checked out into a tree of its own
and checked with ``recheckbot check``'s rules. A commit that passes becomes the one in use; one
that does not is kept back (the commit before it stays in use) and remembered with its
problems, so it is neither checked nor reported again until the branch moves on. A remote that
cannot be reached leaves everything as it was.

:class:`QuerySync` runs the syncs in the bot: on a schedule (apscheduler), and on demand
(``!sync``), never two at once: asking while one runs joins it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bot.config.queries import QuerySource
from bot.core.errors import describe
from bot.queries.cache import Commit, Record, Rejected, SourceCache
from bot.queries.git import Git, GitError, credentials, run_git
from bot.queries.model import Problem
from bot.queries.repo import load_queries
from bot.queries.sources import Loader, Merged, check_problems

log = logging.getLogger(__name__)

Status = Literal["updated", "unchanged", "kept-previous", "error"]
#: Where fetched branches land in the cache's repository; the commit in use is kept by a ref
#: of its own, so git never drops it.
FETCHED = "refs/recheckbot/fetched"
IN_USE = "refs/recheckbot/in-use"
#: Seconds between tries of a source's lock held by another sync.
LOCK_POLL = 0.2


@dataclass(frozen=True)
class Outcome:
    """What one sync did to one source."""

    name: str
    status: Status
    commit: str | None  # the commit in use afterwards (None: a directory, or none good yet)
    problems: tuple[str, ...] = ()  # "path: problem", or why the fetch failed
    fetched: str | None = None  # the commit the remote has (kept back when not in use)

    @property
    def failed(self) -> bool:
        return self.status in ("kept-previous", "error")


async def sync_source(
    source: QuerySource, cache: Path, *, git_timeout: float = 120.0, loader: Loader = load_queries
) -> Outcome:
    """Fetch one source and take its new commit if it passes the check."""
    if source.git is None:
        return Outcome(source.name, "unchanged", None)
    files = SourceCache(cache, source.name)
    async with _locked(files, git_timeout):
        record = await asyncio.to_thread(files.read)
        with credentials(source) as env:
            git = Git(files.git_dir, git_timeout, env)
            try:
                sha, committed = await _fetch(git, source)
            except GitError as exc:
                await asyncio.to_thread(files.write, replace(record, error=str(exc)))
                good = record.good.sha if record.good else None
                return Outcome(source.name, "error", good, (f"{source.git}: {exc}",))
            record = replace(record, fetched=time.time(), error=None)
            outcome, record = await _take(git, files, source, record, sha, committed, loader)
        await asyncio.to_thread(files.write, record)
    return outcome


async def _fetch(git: Git, source: QuerySource) -> tuple[str, float]:
    """The remote branch's commit (fetched, one commit deep) and its time."""
    if not (git.git_dir / "HEAD").exists():
        await run_git(["git", "init", "--bare", "--quiet", str(git.git_dir)], {}, git.timeout)
    branch = f"refs/heads/{source.branch}" if source.branch else "HEAD"
    assert source.git is not None
    await git.run(
        "fetch", "--depth=1", "--no-tags", "--quiet", "--", source.git, f"+{branch}:{FETCHED}"
    )
    sha = (await git.run("rev-parse", "--verify", f"{FETCHED}^{{commit}}")).strip()
    committed = float((await git.run("log", "-1", "--format=%ct", sha)).strip() or 0)
    return sha, committed


async def _take(
    git: Git,
    files: SourceCache,
    source: QuerySource,
    record: Record,
    sha: str,
    committed: float,
    loader: Loader,
) -> tuple[Outcome, Record]:
    """Check ``sha`` unless known; switch to it when it passes."""
    good = record.good
    if good and good.sha == sha and good.path == source.path and files.tree(sha).is_dir():
        return Outcome(source.name, "unchanged", sha, fetched=sha), record
    kept = good.sha if good else None
    if record.rejected and record.rejected.sha == sha:
        problems = record.rejected.problems
        return Outcome(source.name, "kept-previous", kept, problems, sha), record
    problems = await _check_out(git, files, source.path, sha, loader)
    if problems:
        log.warning("query source %s: commit %s kept back: %s", source.name, sha[:7], problems[0])
        rejected = replace(record, rejected=Rejected(sha, problems))
        return Outcome(source.name, "kept-previous", kept, problems, sha), rejected
    await git.run("update-ref", IN_USE, sha)
    taken = Commit(sha, source.path, committed, time.time())
    await asyncio.to_thread(_keep_trees, files, {sha, *([kept] if kept else [])})
    log.info("query source %s: now at commit %s", source.name, sha[:7])
    return Outcome(source.name, "updated", sha, fetched=sha), replace(
        record, good=taken, rejected=None
    )


async def _check_out(
    git: Git, files: SourceCache, path: str, sha: str, loader: Loader
) -> tuple[str, ...]:
    """Write the query folder of ``sha`` to its tree and check it; the problems, if any (the
    tree is then removed)."""
    files.trees.mkdir(parents=True, exist_ok=True)
    spare = files.trees / f".{sha}.{os.getpid()}"
    await asyncio.to_thread(shutil.rmtree, spare, True)
    spare.mkdir()
    try:
        await git.run("cat-file", "-e", f"{sha}:{path}")
    except GitError:
        await asyncio.to_thread(shutil.rmtree, spare, True)
        return (f"{path}: not in commit {sha[:7]}",)
    index = files.home / f".index.{os.getpid()}"
    try:
        await git.run("checkout", "--force", sha, "--", path, work_tree=spare, index=index)
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, spare, True)
        raise
    finally:
        index.unlink(missing_ok=True)
    problems = await asyncio.to_thread(_check, spare / path, loader)
    if problems:
        await asyncio.to_thread(shutil.rmtree, spare, True)
    else:
        await asyncio.to_thread(_swap_in, spare, files.tree(sha))
    return problems


def _check(path: Path, loader: Loader) -> tuple[str, ...]:
    """``recheckbot check``'s verdict on a checked-out query folder, as ``path: problem``
    lines relative to the folder."""
    repo = loader(path)
    base = path if path.is_dir() else path.parent
    return tuple(_relative(problem, base) for problem in check_problems(path, repo))


def _relative(problem: Problem, base: Path) -> str:
    try:
        shown = problem.path.relative_to(base)
    except ValueError:
        shown = Path(problem.path.name)
    return f"{shown if str(shown) != '.' else base.name}: {problem.message}"


def _swap_in(spare: Path, tree: Path) -> None:
    shutil.rmtree(tree, ignore_errors=True)  # a tree left half-written by a killed sync
    os.replace(spare, tree)


def _keep_trees(files: SourceCache, keep: set[str]) -> None:
    """Remove the trees of commits no longer in use (the one before stays: a reader may be
    loading it right now)."""
    for tree in files.trees.iterdir():
        if tree.name not in keep and not tree.name.startswith("."):
            shutil.rmtree(tree, ignore_errors=True)


@contextlib.asynccontextmanager
async def _locked(files: SourceCache, wait: float) -> AsyncIterator[None]:
    """The source's lock, shared with any other process syncing the same cache; waits at most
    ``wait`` seconds for it."""
    await asyncio.to_thread(files.home.mkdir, parents=True, exist_ok=True)
    descriptor = os.open(files.lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        async with asyncio.timeout(wait):
            # Polled: the holder is another process, whom no asyncio.Event reaches.
            while not _try_lock(descriptor):  # noqa: ASYNC110
                await asyncio.sleep(LOCK_POLL)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _try_lock(descriptor: int) -> bool:
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


async def sync_all(
    sources: Sequence[QuerySource],
    cache: Path,
    *,
    git_timeout: float = 120.0,
    loader: Loader = load_queries,
) -> list[Outcome]:
    """Every source synced (the git ones at once); an unexpected failure is that source's
    ``error``, never the others'."""
    results = await asyncio.gather(
        *(sync_source(s, cache, git_timeout=git_timeout, loader=loader) for s in sources),
        return_exceptions=True,
    )
    outcomes = []
    for source, result in zip(sources, results, strict=True):
        if isinstance(result, asyncio.CancelledError):
            raise result
        if isinstance(result, BaseException):
            log.error("query source %s: sync failed: %s", source.name, describe(result))
            result = Outcome(source.name, "error", None, (f"{source.origin}: {describe(result)}",))
        outcomes.append(result)
    return outcomes


def report(outcomes: Sequence[Outcome], merged: Merged) -> dict[str, Any]:
    """``recheckbot sync --json``: each source's commit in use, its queries, what the sync
    did and why; ``total``: the queries in use once merged."""
    counts = {where.name: len(repo) for where, repo in merged.sources}
    return {
        "sources": [
            {
                "name": o.name,
                "commit": o.commit,
                "queries": counts.get(o.name, 0),
                "status": o.status,
                "problems": list(o.problems),
            }
            for o in outcomes
        ],
        "total": len(merged.repo),
    }


After = Callable[[list[Outcome]], Awaitable[None]]


class QuerySync:
    """The bot's syncs: every ``minutes`` and on :meth:`run`; ``after`` sees each run's outcomes
    (the app reloads the queries and tells the admin room there)."""

    def __init__(
        self,
        sources: Sequence[QuerySource],
        cache: Path,
        *,
        git_timeout: float = 120.0,
        loader: Loader = load_queries,
        after: After | None = None,
    ) -> None:
        self.sources = tuple(sources)
        self.cache = cache
        self.git_timeout = git_timeout
        self._loader = loader
        self._after = after
        self._task: asyncio.Task[list[Outcome]] | None = None
        self._scheduler: Any = None
        self.last: list[Outcome] = []
        self.finished: datetime | None = None
        self.runs = 0

    @property
    def syncs(self) -> bool:
        """True when there is a git source to sync."""
        return any(source.git for source in self.sources)

    async def run(self) -> list[Outcome]:
        """Sync now, or join the sync in flight; each source's outcome."""
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())
        # shield: a caller giving up (a command timing out) must not cancel the others' run.
        return await asyncio.shield(self._task)

    async def start(self, minutes: float) -> None:
        """Sync every ``minutes``, the first time now."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.add_job(
            self._scheduled,
            IntervalTrigger(minutes=minutes, timezone=UTC),
            id="query-sync",
            name="query sync",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(minutes * 60)),
            next_run_time=datetime.now(UTC),
        )
        scheduler.start()
        self._scheduler = scheduler

    async def close(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _scheduled(self) -> None:
        try:
            await self.run()
        except asyncio.CancelledError:
            if self._scheduler is not None:
                raise
        except Exception:
            log.exception("query sync failed")

    async def _run(self) -> list[Outcome]:
        outcomes = await sync_all(
            self.sources, self.cache, git_timeout=self.git_timeout, loader=self._loader
        )
        self.last = outcomes
        self.finished = datetime.now(UTC)
        self.runs += 1
        if self._after is not None:
            await self._after(outcomes)
        return outcomes
