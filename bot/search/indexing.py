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

from bot.search.schema import DEFAULT_SCHEMA, Schema, daily_index, index_mapping, layout_of

log = logging.getLogger(__name__)


async def ensure_index(client: AsyncOpenSearch, name: str, schema: Schema = DEFAULT_SCHEMA) -> None:
    """Create a logstash-style index for ``schema``'s documents unless it exists."""
    if not await client.indices.exists(index=name):
        await client.indices.create(index=name, body={"mappings": index_mapping(schema)})


def index_for(document: Mapping[str, Any], prefix: str = "logstash-") -> str:
    """The daily index a document belongs to, by its ``@timestamp``."""
    return daily_index(datetime.fromisoformat(str(document["@timestamp"])), prefix)


async def bulk_index(
    client: AsyncOpenSearch,
    documents: Iterable[Mapping[str, Any]],
    *,
    refresh: bool = True,
    schema: Schema | None = None,
) -> int:
    """Index documents into their daily indices (created as needed, mapped for ``schema``, else
    for the layout the documents are in); returns how many. Documents are written as they are:
    :func:`bot.search.schema.shape` lays them out."""
    actions: list[dict[str, Any]] = [
        {"_index": index_for(doc), "_source": dict(doc)} for doc in documents
    ]
    mapped = schema or layout_of(action["_source"] for action in actions)
    for name in sorted({str(action["_index"]) for action in actions}):
        await ensure_index(client, name, mapped)
    indexed, errors = await async_bulk(
        client, actions, chunk_size=2000, raise_on_error=False, stats_only=True
    )
    if errors:
        log.warning("%d of %d documents were not indexed", errors, len(actions))
    if refresh:
        await client.indices.refresh(index="_all")
    return int(indexed)
