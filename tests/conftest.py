"""Shared fixtures: real servers on loopback, started per session, isolated per test.

The osmem pytest plugin (auto-loaded) provides ``osmem_server`` (session, empty, frozen),
``osmem_clone`` and ``osmem_url`` (a fresh writable clone per test). The helpers behind these
fixtures, and everything else tests share, live in :mod:`tests.support`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.config import SearchSettings
from bot.search.opensearch import OpenSearchBackend

# Fixtures defined with their helpers, imported here so that every test module can use them.
from tests.support.chat import chat, services  # noqa: F401
from tests.support.graph import graph_search  # noqa: F401
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
