"""Shared fixtures: real servers on loopback, started per session, isolated per test.

The osmem pytest plugin (auto-loaded) provides ``osmem_server`` (session, empty, frozen),
``osmem_clone`` and ``osmem_url`` (a fresh writable clone per test). The helpers behind these
fixtures, and everything else tests share, live in :mod:`tests.support`.

``schema`` runs a test once per log document layout (ER's era, today's logsender); the data
fixtures that take it (``write_logs``, ``graph_search``) write their documents in that layout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import pytest

from bot.config import SearchSettings
from bot.search.indexing import bulk_index
from bot.search.opensearch import OpenSearchBackend
from bot.search.schema import SCHEMAS, Schema
from tests.support.builds import WriteLogs, in_layout

# Fixtures defined with their helpers, imported here so that every test module can use them.
from tests.support.chat import chat, services  # noqa: F401
from tests.support.graph import graph_search  # noqa: F401
from tests.support.peers import irc_bots, irc_peers, matrix_bots, matrix_peers  # noqa: F401
from tests.support.servers import irc_server, irc_server_factory, synapse_server  # noqa: F401


@pytest.fixture
def search_settings(osmem_url: str) -> SearchSettings:
    """Settings for an empty, writable osmem clone of this test's own."""
    return SearchSettings(url=osmem_url, timeout=30, retries=0)


@pytest.fixture
async def search(search_settings: SearchSettings) -> AsyncIterator[OpenSearchBackend]:
    """A backend on this test's own osmem clone, closed after the test."""
    backend = OpenSearchBackend(search_settings)
    yield backend
    await backend.close()


@pytest.fixture(params=SCHEMAS)
def schema(request: pytest.FixtureRequest) -> Schema:
    """Each log document layout in turn."""
    layout: Schema = request.param
    return layout


@pytest.fixture
def write_logs(search: OpenSearchBackend, schema: Schema) -> WriteLogs:
    """Index log documents (as :mod:`tests.support.builds` makes them) in ``schema``'s layout
    into this test's search server, in indices mapped for it; returns how many."""

    async def write(docs: Iterable[Mapping[str, Any]]) -> int:
        return await bulk_index(search.client, in_layout(docs, schema), schema=schema)

    return write
