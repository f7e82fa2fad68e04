"""Built-in log ingestion, for sites without a log pipeline (ELK, ci-log-processing) of their own.

A failed job's log tree (Zuul's, or a Jenkins-era one) is read over HTTP: the console log
(``job-output.txt``, else ``console.html``) and the files queries look in (globs such as
``logs/screen-*.txt``, found through ``zuul-manifest.json`` or the directory listings). Each line
becomes one logstash-style document (:mod:`bot.ingest.logs`), and the documents go to the daily
``logstash-*`` indices through the search backend's :class:`~bot.search.base.DocumentWriter`
(behind the bot's request cap and circuit breaker, like every search).

The job's test results (``testrepository.subunit``, when the tree has one) become one document
per test in the daily ``subunit-*`` indices (:mod:`bot.ingest.subunit`), as ci-log-processing
writes them, so ``recheckbot tests`` and the ``test_ids`` of queries work without it.

Every request has a timeout, every file a size cap, a job's files are fetched a few at a time,
and splitting lines and reading subunit run in a worker thread: ingesting a big job never stalls
the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bot.config.ingest import DEFAULT_FILES, IngestSettings
from bot.events.model import FailedBuild, Job
from bot.ingest.fetch import IngestError, LogFetcher, log_root_for, tree_files
from bot.ingest.logs import BuildInfo, build_info, console_candidates, documents, select_files
from bot.ingest.subunit import parse_subunit, result_documents
from bot.search.base import DocumentWriter
from bot.search.subunit import SUBUNIT_FILES

__all__ = ["DEFAULT_FILES", "IngestError", "IngestSettings", "ingest_build", "ingest_tree"]

log = logging.getLogger(__name__)

#: Where documents go: the search server, or a counter for dry runs. Returns how many went.
Sink = Callable[[list[dict[str, Any]]], Awaitable[int]]


async def ingest_build(
    writer: DocumentWriter | None,
    build: FailedBuild,
    job: Job,
    settings: IngestSettings,
    *,
    session: aiohttp.ClientSession | None = None,
) -> int:
    """Fetch ``job``'s logs and index them through ``writer``; returns the number of documents.

    ``writer`` None only counts (a dry run). Raises :class:`IngestError` when the job has no
    readable console log, and :mod:`bot.search` errors when writing fails.
    """
    own = session is None
    session = session or aiohttp.ClientSession()
    try:
        fetcher = LogFetcher(session, settings)
        info = build_info(build, job, await log_root_for(job, fetcher))
        count = await ingest_tree(info, fetcher, settings, _sink(writer))
        if writer is not None:
            await writer.refresh()
        return count
    finally:
        if own:
            await session.close()


async def ingest_tree(
    build: BuildInfo, fetcher: LogFetcher, settings: IngestSettings, sink: Sink
) -> int:
    """Index one job's log tree through ``sink``; returns the documents written.

    The console log is fetched first (no console, nothing is written) and indexed last: its end
    marker is what readiness waits for, so once the bot sees it the other files and the test
    results are in too.
    """
    files = await tree_files(build.log_root, fetcher, settings.files)
    console_path, console = await _console(build.log_root, files, fetcher)
    gate = asyncio.Semaphore(settings.concurrency)

    async def one(path: str) -> int:
        async with gate:
            try:
                data = await fetcher.get(build.log_root + path)
            except IngestError as exc:  # one unreadable file costs that file, not the job
                log.warning("skipped %s", exc)
                return 0
            return await _index(data, path, build, sink) if data else 0

    others = select_files(files, settings.files, settings.max_files)
    total = sum(await asyncio.gather(*(one(path) for path in others)))
    total += await _index_tests(build, files, fetcher, sink)
    return total + await _index(console, console_path, build, sink, console=True)


async def _index_tests(build: BuildInfo, files: list[str], fetcher: LogFetcher, sink: Sink) -> int:
    """The job's test results, from the first subunit file the tree holds (each usual name
    tried when the tree could not be listed); 0 when it has none or it cannot be read."""
    names = [name for name in SUBUNIT_FILES if name in files] or ([] if files else SUBUNIT_FILES)
    for path in names:
        try:
            data = await fetcher.get(build.log_root + path)
        except IngestError as exc:
            log.warning("skipped the test results: %s", exc)
            return 0
        if data:
            docs = await asyncio.to_thread(_test_documents, data, path, build)
            count = await sink(docs) if docs else 0
            log.debug("%s%s: %d test results", build.log_root, path, count)
            return count
    return 0


async def _console(root: str, files: list[str], fetcher: LogFetcher) -> tuple[str, bytes]:
    for path in console_candidates(files):
        data = await fetcher.get(root + path)
        if data is not None:
            return path, data
    raise IngestError(f"{root}: no console log (job-output.txt or console.html)")


async def _index(
    data: bytes, path: str, build: BuildInfo, sink: Sink, *, console: bool = False
) -> int:
    text = data.decode("utf-8", errors="replace")
    # Splitting and stamp parsing cost real CPU on a 20 MiB file: off the event loop.
    docs = await asyncio.to_thread(lambda: list(documents(text, path, build, console=console)))
    count = await sink(docs) if docs else 0
    log.debug("%s%s: %d documents", build.log_root, path, count)
    return count


def _test_documents(data: bytes, path: str, build: BuildInfo) -> list[dict[str, Any]]:
    return list(result_documents(parse_subunit(data), path, build))


def _sink(writer: DocumentWriter | None) -> Sink:
    """Documents to ``writer`` one batch at a time (the caller refreshes once the job is
    done), or only counted when there is no writer (``--dry-run``)."""
    if writer is None:
        return _count
    lock = asyncio.Lock()

    async def write(docs: list[dict[str, Any]]) -> int:
        async with lock:
            return await writer.write_documents(docs)

    return write


async def _count(docs: list[dict[str, Any]]) -> int:
    return len(docs)
