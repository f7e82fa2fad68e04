"""Writing log documents: index creation with explicit mappings and bulk loading.

Used by the embedded server (demo, tests) and by log ingestion; the bot's read path never
writes. Test results (:mod:`bot.search.subunit`) go to daily indices of their own
(``subunit-YYYY.MM.DD``), mapped for them, whatever else is written with them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from opensearchpy import AsyncOpenSearch
from opensearchpy.helpers import async_bulk

from bot.search.schema import DEFAULT_SCHEMA, Schema, daily_index, index_mapping, layout_of
from bot.search.subunit import is_test_result, subunit_mapping

#: Where test results are written unless told otherwise (``search.subunit_index``'s default).
TESTS_PREFIX = "subunit-"

log = logging.getLogger(__name__)


async def ensure_index(
    client: AsyncOpenSearch, name: str, schema: Schema = DEFAULT_SCHEMA, *, tests: bool = False
) -> None:
    """Create a logstash-style index for ``schema``'s documents (``tests``: a test-result
    index) unless it exists."""
    if not await client.indices.exists(index=name):
        mapping = subunit_mapping() if tests else index_mapping(schema)
        await client.indices.create(index=name, body={"mappings": mapping})


def index_for(
    document: Mapping[str, Any], prefix: str = "logstash-", *, tests_prefix: str = TESTS_PREFIX
) -> str:
    """The daily index a document belongs to, by its ``@timestamp`` (a test result's under
    ``tests_prefix``)."""
    chosen = tests_prefix if is_test_result(document) else prefix
    return daily_index(datetime.fromisoformat(str(document["@timestamp"])), chosen)


async def bulk_index(
    client: AsyncOpenSearch,
    documents: Iterable[Mapping[str, Any]],
    *,
    refresh: bool = True,
    schema: Schema | None = None,
    tests_prefix: str = TESTS_PREFIX,
) -> int:
    """Index documents into their daily indices (created as needed, mapped for ``schema``, else
    for the layout the documents are in; test results under ``tests_prefix``, mapped for
    them); returns how many. Documents are written as they are: :func:`bot.search.schema.shape`
    lays them out."""
    actions: list[dict[str, Any]] = [
        {"_index": index_for(doc, tests_prefix=tests_prefix), "_source": dict(doc)}
        for doc in documents
    ]
    logs = (a["_source"] for a in actions if not is_test_result(a["_source"]))
    mapped = schema or layout_of(logs)
    kinds = {(str(a["_index"]), is_test_result(a["_source"])) for a in actions}
    for name, tests in sorted(kinds):
        await ensure_index(client, name, mapped, tests=tests)
    indexed, errors = await async_bulk(
        client, actions, chunk_size=2000, raise_on_error=False, stats_only=True
    )
    if errors:
        log.warning("%d of %d documents were not indexed", errors, len(actions))
    if refresh:
        await client.indices.refresh(index="_all")
    return int(indexed)
