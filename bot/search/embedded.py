"""The embedded search server: the bundled ``osmem-server`` (in-memory, OpenSearch API).

For ``make run`` and the tests only; production points at Elasticsearch or OpenSearch. It scans
every document per query, so keep it to demo-sized data.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType

from osmem_server import OsmemServer

from bot.config import SearchSettings

log = logging.getLogger(__name__)


class EmbeddedSearch:
    """A running embedded server; ``async with EmbeddedSearch.start() as search: ...``."""

    def __init__(self, server: OsmemServer) -> None:
        self._server = server

    @classmethod
    async def start(cls, addr: str | None = None) -> EmbeddedSearch:
        """Start a server on ``addr`` (``host:port``), by default a free loopback port."""
        # OsmemServer.start blocks until the server prints its ready line: keep it off the loop.
        server = await asyncio.to_thread(OsmemServer.start, japanese=False, addr=addr)
        log.info("embedded search server at %s (pid %s)", server.url, server.pid)
        return cls(server)

    @property
    def url(self) -> str:
        return str(self._server.url)

    def settings(self, index: str = "logstash-*") -> SearchSettings:
        return SearchSettings(backend="opensearch", url=self.url, index=index, retries=1)

    async def close(self) -> None:
        await asyncio.to_thread(self._server.close)

    async def __aenter__(self) -> EmbeddedSearch:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
