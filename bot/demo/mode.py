"""``recheckbot run --demo``: a private instance that needs nothing but this checkout.

It starts the embedded search server, seeds it with demo logs made from the query repo's own
queries and with their builds' test results (:mod:`bot.demo.results`: a tempest run per tempest
job, in the test-result index ``subunit-*``), writes the Gerrit events reporting recent failures
(and some developers' rechecks of them) to a file for the replay source, journals the older
failures' costs as a bot that had watched them would have (:mod:`bot.demo.history`), starts a
local bug tracker for the titles and statuses (:mod:`bot.demo.tracker`), and points state and
dashboard at a scratch directory removed on exit. The logs are in logsender's layout (what sites
write today) unless ``schema`` says ``er``. The weekly digest is shown once at start, in the
rooms that take it (``digest.on_start``).

Links to a log search: a ``search.kibana_url`` in the settings is kept (a Kibana or OpenSearch
Dashboards of your own, pointed at the embedded server, gets the dashboard's and the replies'
Discover links); there is none by default, since the embedded server has no Discover of its own.

Ports: the dashboard keeps a port set in the settings (file, environment or ``run --port``), so
``ssh -L`` to a known port works; the embedded server listens where an explicitly set loopback
``search.url`` says. Whatever is not set gets a free port: a demo never collides with a bot
already running on the defaults.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from osmem_server import OsmemError

from bot.config import Settings
from bot.core.errors import ReadableError
from bot.demo.choices import stopped_query
from bot.demo.data import (
    DemoBuildset,
    DemoData,
    demo_dataset,
    gerrit_event,
    known,
    recheck_event,
)
from bot.demo.history import journal_history
from bot.demo.results import tempest_results, with_reruns
from bot.demo.tracker import DemoTracker, demo_bugs
from bot.queries import Query, load_queries
from bot.search.embedded import EmbeddedSearch
from bot.search.indexing import ensure_index, index_for
from bot.search.opensearch import OpenSearchBackend
from bot.search.schema import DEFAULT_SCHEMA, Schema
from bot.search.subunit import is_test_result

log = logging.getLogger(__name__)

#: How many of the demo's failed buildsets are replayed as fresh Gerrit events (one every
#: ``watch.replay_interval``): enough for both queues, known and unrecognized failures.
REPLAYED = 10
#: Every how many of the replayed known-bug failures a developer's ``recheck`` follows.
RECHECKED_EVERY = 2


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class DemoError(ReadableError):
    """The demo could not start (its search server, most likely its port)."""


def dashboard_port(settings: Settings) -> int:
    """The dashboard's port as set in the settings, else 0 (a free port): the default 8080 is
    what a production bot on this machine would have."""
    return settings.dashboard.port if "port" in settings.dashboard.model_fields_set else 0


def search_address(settings: Settings) -> str | None:
    """``host:port`` for the embedded server when ``search.url`` was set to a loopback URL with
    a port; None otherwise (a free port)."""
    if "url" not in settings.search.model_fields_set:
        return None
    url = urlsplit(str(settings.search.url))
    if url.hostname not in LOOPBACK or url.port is None:
        return None
    host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
    return f"{host}:{url.port}"


@dataclass(frozen=True)
class DemoEnvironment:
    settings: Settings  # pointing at the embedded server and the scratch directory
    events: Path  # JSON lines for the replay source
    documents: int  # log lines
    test_results: int = 0


@asynccontextmanager
async def demo_environment(
    settings: Settings, schema: Schema = DEFAULT_SCHEMA
) -> AsyncIterator[DemoEnvironment]:
    """Start and seed everything the demo needs; tear it all down afterwards."""
    search = await _start_search(settings)
    workdir = Path(tempfile.mkdtemp(prefix="recheckbot-demo-"))
    tracker: DemoTracker | None = None
    try:
        queries = load_queries(settings.queries).queries
        bugs = demo_bugs(queries, fixed=stopped_query(queries))
        tracker = await DemoTracker.start(bugs)
        titles = {bug.id: bug.title for bug in bugs.values()}
        seeded, events = await _prepare(search, queries, titles, workdir, schema)
        demo = _demo_settings(settings, search, tracker, workdir)
        yield DemoEnvironment(demo, events, seeded.logs, seeded.test_results)
    finally:
        if tracker is not None:
            await tracker.close()
        await search.close()
        shutil.rmtree(workdir, ignore_errors=True)


async def _prepare(
    search: EmbeddedSearch,
    queries: tuple[Query, ...],
    titles: dict[str, str],
    workdir: Path,
    schema: Schema,
) -> tuple[Seeded, Path]:
    """Seed the logs and test results, write the events to replay, journal the history: what
    was seeded, and the events' file."""
    seeded = await _seed(search, queries, schema)
    data, replayed, now = seeded.data, seeded.replayed, seeded.now
    events = workdir / "events.jsonl"
    lines = "".join(json.dumps(e) + "\n" for e in replay_events(replayed, now))
    events.write_text(lines, encoding="utf-8")
    judged = await journal_history(workdir / "state.sqlite", data, replayed, queries, now, titles)
    log.info("demo: %d older failed builds journaled as judged", judged)
    return seeded, events


def _demo_settings(
    settings: Settings, search: EmbeddedSearch, tracker: DemoTracker, workdir: Path
) -> Settings:
    """``settings`` pointing at the embedded server, the tracker stand-in and ``workdir``."""
    kibana = settings.search.kibana_url  # the user's own Kibana, if any, stays
    return settings.model_copy(
        update={
            "search": search.settings().model_copy(update={"kibana_url": kibana}),
            # The demo stays on this machine: bug titles come from the tracker stand-in.
            "trackers": tracker.settings(settings.trackers),
            "state": workdir / "state.sqlite",
            "dashboard": settings.dashboard.model_copy(
                update={"output": workdir / "web", "port": dashboard_port(settings)}
            ),
            "digest": settings.digest.model_copy(update={"on_start": True}),
        }
    )


def replay_events(replayed: list[DemoBuildset], now: datetime) -> list[dict[str, object]]:
    """The Gerrit events replayed, in order: each failure's report, "just posted", and a
    developer's recheck right after one in :data:`RECHECKED_EVERY` of the known-bug failures
    (the first, and every other after it)."""
    events: list[dict[str, object]] = []
    rechecked = 0
    for buildset in replayed:
        # Replayed reports are "just posted": readiness measures its deadline from them.
        events.append(gerrit_event(buildset) | {"eventCreatedOn": int(now.timestamp())})
        if known(buildset):
            rechecked += 1
            if rechecked % RECHECKED_EVERY == 1:
                events.append(
                    recheck_event(buildset) | {"eventCreatedOn": int(now.timestamp()) + 60}
                )
    return events


async def _start_search(settings: Settings) -> EmbeddedSearch:
    addr = search_address(settings)
    if addr is None and "url" in settings.search.model_fields_set:
        log.warning(
            "demo: search.url %s is no loopback URL with a port: the demo uses a free one",
            settings.search.url,
        )
    try:
        return await EmbeddedSearch.start(addr)
    except OsmemError as exc:
        where = f" on {addr} (search.url)" if addr else ""
        raise DemoError(f"the embedded search server did not start{where}: {exc}") from None


@dataclass(frozen=True)
class Seeded:
    """What the embedded server was seeded with: how many log lines and test results, the data
    (the replayed failures moved to now, the rechecked ones run again), the replayed, and now."""

    logs: int
    test_results: int
    data: DemoData
    replayed: list[DemoBuildset]
    now: datetime


def seeded_data(
    queries: Sequence[Query], now: datetime, schema: Schema = DEFAULT_SCHEMA
) -> tuple[DemoData, list[DemoBuildset]]:
    """The builds the demo seeds (pure): the dataset, its replayed failures moved to just before
    ``now`` and the rechecked ones run again; and the replayed failures."""
    data = demo_dataset(queries, now=now, schema=schema)
    data, replayed = data.just_reported(data.replayed(REPLAYED), now)
    return with_reruns(data, replayed, queries, now), replayed


async def _seed(search: EmbeddedSearch, queries: tuple[Query, ...], schema: Schema) -> Seeded:
    """Index the demo's logs and its builds' test results."""
    now = datetime.now(UTC)
    data, replayed = seeded_data(queries, now, schema)
    documents = [*data.documents(), *tempest_results(data, queries)]
    results = sum(1 for doc in documents if is_test_result(doc))
    backend = OpenSearchBackend(search.settings())
    try:
        # The indices first, mapped for the layout (the writer would map them for today's) or
        # for test results.
        for name, tests in sorted({(index_for(doc), is_test_result(doc)) for doc in documents}):
            await ensure_index(backend.client, name, schema, tests=tests)
        count = await backend.write_documents(documents)
        await backend.refresh()
    finally:
        await backend.close()
    logs = count - results
    log.info("demo: %d log documents (%s), %d test results", logs, schema, results)
    return Seeded(logs, results, data, replayed, now)
