"""``recheckbot run --demo``: a private instance that needs nothing but this checkout.

It starts the embedded search server, seeds it with demo logs made from the query repo's own
queries, writes the Gerrit events reporting the most recent failures to a file for the replay
source, and points state and dashboard at a scratch directory removed on exit. The logs are in
logsender's layout (what sites write today) unless ``schema`` says ``er``.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.config import Settings
from bot.demo.data import generate
from bot.queries import load_queries
from bot.search.embedded import EmbeddedSearch
from bot.search.indexing import ensure_index, index_for
from bot.search.opensearch import OpenSearchBackend
from bot.search.schema import DEFAULT_SCHEMA, Schema

log = logging.getLogger(__name__)

#: How many of the demo's failed buildsets are replayed as fresh Gerrit events.
REPLAYED = 8
DEMO_SERVER = "demo"


@dataclass(frozen=True)
class DemoEnvironment:
    settings: Settings  # pointing at the embedded server and the scratch directory
    events: Path  # JSON lines for the replay source
    documents: int


@asynccontextmanager
async def demo_environment(
    settings: Settings, schema: Schema = DEFAULT_SCHEMA
) -> AsyncIterator[DemoEnvironment]:
    """Start and seed everything the demo needs; tear it all down afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="recheckbot-demo-"))
    search = await EmbeddedSearch.start()
    try:
        documents, events = await _seed(search, settings, schema)
        events_path = workdir / "events.jsonl"
        events_path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
        demo_settings = settings.model_copy(
            update={
                "search": search.settings(),
                # The demo stays on this machine: bug titles come from the query files.
                "trackers": settings.trackers.model_copy(update={"enabled": False}),
                "state": workdir / "state.sqlite",
                "dashboard": settings.dashboard.model_copy(update={"output": workdir / "web"}),
            }
        )
        yield DemoEnvironment(demo_settings, events_path, documents)
    finally:
        await search.close()
        shutil.rmtree(workdir, ignore_errors=True)


async def _seed(
    search: EmbeddedSearch, settings: Settings, schema: Schema
) -> tuple[int, list[dict[str, object]]]:
    repo = load_queries(settings.queries)
    data = generate(repo.queries, schema=schema)
    documents = list(data.documents())
    backend = OpenSearchBackend(search.settings())
    try:
        # The indices first, mapped for the layout (the writer would map them for today's).
        for name in sorted({index_for(doc) for doc in documents}):
            await ensure_index(backend.client, name, schema)
        count = await backend.write_documents(documents)
        await backend.refresh()
    finally:
        await backend.close()
    log.info("demo: %d log documents (%s) for %d queries", count, schema, len(repo.queries))
    events = data.events(DEMO_SERVER)[-REPLAYED:]
    # Replayed reports are "just posted": readiness measures its deadline from them.
    now = int(time.time())
    for event in events:
        event["eventCreatedOn"] = now
    return count, events
