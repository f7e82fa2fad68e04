"""Search backends wrapped to see what the code under test asks of them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from bot.search.base import Body, Response, SearchUnavailable
from bot.search.opensearch import OpenSearchBackend


class CountingBackend:
    """Wraps a backend; counts round trips and keeps the request bodies."""

    name = "counting"

    def __init__(self, inner: OpenSearchBackend, *, fail_first: int = 0) -> None:
        self.inner = inner
        self.bodies: list[Body] = []
        self.searches = 0
        self.msearches = 0
        self.fail_first = fail_first

    @property
    def round_trips(self) -> int:
        return self.searches + self.msearches

    def classifications(self) -> int:
        """Requests that carried the per-query filters (the classification round trips)."""
        return sum(1 for body in self.bodies if '"q":' in json.dumps(body))

    async def search(self, body: Body, *, index: str | None = None) -> Response:
        self.searches += 1
        self.bodies.append(body)
        if self.fail_first:
            self.fail_first -= 1
            raise SearchUnavailable("search server http://x unreachable: test")
        return await self.inner.search(body, index=index)

    async def msearch(self, bodies: Sequence[Body], *, index: str | None = None) -> list[Response]:
        self.msearches += 1
        self.bodies.extend(bodies)
        return await self.inner.msearch(bodies, index=index)

    async def health(self) -> Response:
        return await self.inner.health()

    async def close(self) -> None:
        await self.inner.close()


class Recording:
    """A search backend that records request bodies and can fake a server-side timeout."""

    name = "recording"

    def __init__(self, inner: Any, *, timed_out: bool = False, delay: float = 0) -> None:
        self.inner = inner
        self.bodies: list[Body] = []
        self.timed_out = timed_out
        self.delay = delay

    async def search(self, body: Body, *, index: str | None = None) -> Response:
        self.bodies.append(body)
        await asyncio.sleep(self.delay)
        response: Response = await self.inner.search(body, index=index)
        if self.timed_out:
            response["timed_out"] = True
        return response
