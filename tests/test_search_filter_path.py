"""``filter_path`` on every backend, against osmem: the reply holds only the paths asked for.

- opensearch: straight to osmem (which honours ``filter_path`` itself);
- elasticsearch: through :class:`ForwardingProxy` (the compatibility mimetypes rewritten);
- kibana: through :class:`KibanaStandIn`, the path's query string passed on as the console
  proxy does;
- each behind :class:`GuardedBackend`, as the bot runs them.

A backend without ``search_filtered`` gets the whole reply from :func:`lean_search`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import opensearchpy
import pytest

from bot.config import SearchSettings
from bot.search import SearchBackend, open_backend
from bot.search.base import Body, FilteringBackend, Response, lean_search
from bot.search.breaker import CircuitBreaker, GuardedBackend
from bot.search.schema import index_mapping
from tests.support.http import ForwardingProxy, KibanaStandIn, strip_compat_mimetypes

INDEX = "logstash-2026.11.26"
DOCS = [
    {"@timestamp": "2026-11-26T10:01:00Z", "message": "Traceback here", "build_uuid": "a1"},
    {"@timestamp": "2026-11-26T10:02:00Z", "message": "Traceback again", "build_uuid": "a1"},
    {"@timestamp": "2026-11-26T10:03:00Z", "message": "all fine", "build_uuid": "b2"},
]
BODY = {
    "size": 0,
    "aggs": {
        "bugs": {
            "filters": {
                "filters": {
                    "traceback": {"query_string": {"query": 'message:"Traceback"'}},
                    "nothing": {"query_string": {"query": 'message:"kernel panic"'}},
                }
            },
            "aggs": {"builds": {"terms": {"field": "build_uuid"}}},
        }
    },
}
PATHS = ["aggregations.bugs.buckets.*.builds.buckets.key"]


@pytest.fixture
def seeded_url(osmem_url: str) -> str:
    client = opensearchpy.OpenSearch(hosts=[osmem_url])
    try:
        client.indices.create(index=INDEX, body={"mappings": index_mapping()})
        for doc in DOCS:
            client.index(index=INDEX, body=doc)
        client.indices.refresh(index=INDEX)
    finally:
        client.close()
    return osmem_url


@pytest.fixture(params=["opensearch", "elasticsearch", "kibana"])
async def front(
    request: pytest.FixtureRequest, seeded_url: str
) -> AsyncIterator[tuple[SearchBackend, Any]]:
    """Each backend, and what stands between it and osmem (the proxy or Kibana stand-in)."""
    name: str = request.param
    async with contextlib.AsyncExitStack() as stack:
        middle: Any = None
        url = seeded_url
        if name == "elasticsearch":
            middle = ForwardingProxy(seeded_url, rewrite_request_headers=strip_compat_mimetypes)
            url = (await stack.enter_async_context(middle)).url
        elif name == "kibana":
            middle = await stack.enter_async_context(KibanaStandIn(seeded_url))
            url = middle.url
        settings = SearchSettings.model_validate(
            {"backend": name, "url": url, "timeout": 30, "retries": 0}
        )
        backend = open_backend(settings)
        stack.push_async_callback(backend.close)
        yield backend, middle


async def test_the_reply_holds_only_the_paths_asked(front: tuple[SearchBackend, Any]) -> None:
    backend, _ = front
    assert isinstance(backend, FilteringBackend)
    whole = await backend.search(BODY)
    lean = await backend.search_filtered(BODY, PATHS)
    assert {"took", "hits", "_shards"} <= set(whole)
    # The empty bucket ("nothing") and every count are gone: only the keys asked for.
    assert lean == {
        "aggregations": {
            "bugs": {"buckets": {"traceback": {"builds": {"buckets": [{"key": "a1"}]}}}}
        }
    }


async def test_the_guarded_backend_passes_filter_path_on(
    front: tuple[SearchBackend, Any],
) -> None:
    backend, middle = front
    guarded = GuardedBackend(backend, CircuitBreaker())
    lean = await lean_search(guarded, BODY, PATHS)
    assert set(lean) == {"aggregations"}
    if isinstance(middle, KibanaStandIn):  # asked through the proxied path's query string
        assert "filter_path" in middle.seen[-1].path_qs
    if isinstance(middle, ForwardingProxy):  # fewer bytes on the wire than the whole reply
        middle.reset()
        await guarded.search(BODY)
        whole_bytes = middle.bytes_received
        middle.reset()
        await guarded.search_filtered(BODY, PATHS)
        assert middle.bytes_received < whole_bytes / 2


class PlainBackend:
    """A backend that knows nothing of ``filter_path``."""

    name = "plain"

    def __init__(self, inner: SearchBackend) -> None:
        self.inner = inner

    async def search(self, body: Body, *, index: str | None = None) -> Response:
        return await self.inner.search(body, index=index)


async def test_a_backend_without_it_gets_the_whole_reply(seeded_url: str) -> None:
    backend = open_backend(SearchSettings(url=seeded_url, timeout=30, retries=0))
    try:
        plain: Any = PlainBackend(backend)
        assert not isinstance(plain, FilteringBackend)
        whole = await lean_search(plain, BODY, PATHS)
        assert "hits" in whole
        assert whole["aggregations"]["bugs"]["buckets"]["nothing"]["doc_count"] == 0
        guarded = GuardedBackend(plain, CircuitBreaker())
        assert "hits" in await guarded.search_filtered(BODY, PATHS)
    finally:
        await backend.close()
