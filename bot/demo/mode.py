"""``recheckbot run --demo``: a private instance that needs nothing but this checkout.

It starts the embedded search server, seeds it with demo logs made from the query repo's own
queries, writes the Gerrit events reporting the most recent failures to a file for the replay
source, and points state and dashboard at a scratch directory removed on exit.
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
from bot.search.opensearch import OpenSearchBackend

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
async def demo_environment(settings: Settings) -> AsyncIterator[DemoEnvironment]:
    """Start and seed everything the demo needs; tear it all down afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="recheckbot-demo-"))
    search = await EmbeddedSearch.start()
    try:
        documents, events = await _seed(search, settings)
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


async def _seed(search: EmbeddedSearch, settings: Settings) -> tuple[int, list[dict[str, object]]]:
    repo = load_queries(settings.queries)
    data = generate(repo.queries)
    backend = OpenSearchBackend(search.settings())
    try:
        count = await backend.write_documents(list(data.documents()))
        await backend.refresh()
    finally:
        await backend.close()
    log.info("demo: %d log documents for %d queries", count, len(repo.queries))
    events = data.events(DEMO_SERVER)[-REPLAYED:]
    # Replayed reports are "just posted": readiness measures its deadline from them.
    now = int(time.time())
    for event in events:
        event["eventCreatedOn"] = now
    return count, events
