"""Writing log documents: index creation with explicit mappings and bulk loading.

Used by the embedded server (demo, tests) and by log ingestion; the bot's read path never
writes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from opensearchpy import AsyncOpenSearch
from opensearchpy.helpers import async_bulk

from bot.search.schema import daily_index, index_mapping

log = logging.getLogger(__name__)


async def ensure_index(client: AsyncOpenSearch, name: str) -> None:
    """Create a logstash-style index unless it exists."""
    if not await client.indices.exists(index=name):
        await client.indices.create(index=name, body={"mappings": index_mapping()})


def index_for(document: Mapping[str, Any], prefix: str = "logstash-") -> str:
    """The daily index a document belongs to, by its ``@timestamp``."""
    return daily_index(datetime.fromisoformat(str(document["@timestamp"])), prefix)


async def bulk_index(
    client: AsyncOpenSearch, documents: Iterable[Mapping[str, Any]], *, refresh: bool = True
) -> int:
    """Index documents into their daily indices (created as needed); returns how many."""
    actions: list[dict[str, Any]] = [
        {"_index": index_for(doc), "_source": dict(doc)} for doc in documents
    ]
    for name in sorted({str(action["_index"]) for action in actions}):
        await ensure_index(client, name)
    indexed, errors = await async_bulk(
        client, actions, chunk_size=2000, raise_on_error=False, stats_only=True
    )
    if errors:
        log.warning("%d of %d documents were not indexed", errors, len(actions))
    if refresh:
        await client.indices.refresh(index="_all")
    return int(indexed)
