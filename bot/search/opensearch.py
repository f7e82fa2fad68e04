"""OpenSearch clusters (and the embedded server) through ``opensearch-py``'s async client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import opensearchpy
from opensearchpy import AsyncOpenSearch

from bot.config import SearchSettings
from bot.core.retry import with_retries
from bot.search.auth import api_key_header, credentials, tls_context
from bot.search.base import (
    Body,
    Response,
    SearchError,
    SearchQueryError,
    SearchUnavailable,
    msearch_lines,
    server_reason,
    status_error,
)
from bot.search.indexing import TESTS_PREFIX, bulk_index, ensure_index, index_for
from bot.search.subunit import is_test_result, write_prefix

T = TypeVar("T")


class OpenSearchBackend:
    """A :class:`~bot.search.base.SearchBackend` on an OpenSearch cluster."""

    name = "opensearch"

    def __init__(self, settings: SearchSettings) -> None:
        self._settings = settings
        self._client = AsyncOpenSearch(
            hosts=[settings.url],
            # An API key wins over a password, as in the other backends.
            http_auth=None if settings.api_key else credentials(settings),
            headers=api_key_header(settings),
            ssl_context=tls_context(settings) if settings.url.startswith("https") else None,
            timeout=settings.timeout,
            max_retries=0,  # we retry ourselves, with backoff
        )

    @property
    def client(self) -> AsyncOpenSearch:
        """The underlying client, for admin work (index creation, bulk) on the embedded server."""
        return self._client

    async def search(self, body: Body, *, index: str | None = None) -> Response:
        index = index or self._settings.index
        result: Response = await self._call(
            lambda: self._client.search(index=index, body=dict(body))
        )
        return result

    async def search_filtered(
        self, body: Body, filter_path: Sequence[str], *, index: str | None = None
    ) -> Response:
        index = index or self._settings.index
        paths = ",".join(filter_path)
        result: Response = await self._call(
            lambda: self._client.search(index=index, body=dict(body), filter_path=paths)
        )
        return result

    async def msearch(self, bodies: Sequence[Body], *, index: str | None = None) -> list[Response]:
        lines = msearch_lines(bodies, index or self._settings.index)
        result = await self._call(lambda: self._client.msearch(body=lines))
        responses: list[Response] = result["responses"]
        return responses

    async def health(self) -> Response:
        result: Response = await self._call(self._client.cluster.health)
        return result

    async def close(self) -> None:
        await self._client.close()

    async def write_documents(self, documents: Sequence[Mapping[str, Any]]) -> int:
        """See :class:`~bot.search.base.DocumentWriter`; indices come with explicit mappings."""

        tests = self._tests_prefix(documents)

        async def write() -> int:
            names = {(index_for(doc, tests_prefix=tests), is_test_result(doc)) for doc in documents}
            for name, is_tests in sorted(names):
                await _ensure_index(self._client, name, tests=is_tests)
            return await bulk_index(self._client, documents, refresh=False, tests_prefix=tests)

        return await self._call(write)

    async def refresh(self) -> None:
        indices = f"{self._settings.index},{self._settings.subunit_index}"
        await self._call(lambda: self._client.indices.refresh(index=indices))

    def _tests_prefix(self, documents: Sequence[Mapping[str, Any]]) -> str:
        # Only test results need the pattern to be writable: logs go where they always did.
        if not any(is_test_result(doc) for doc in documents):
            return TESTS_PREFIX
        return write_prefix(self._settings.subunit_index)

    async def _call(self, request: Callable[[], Awaitable[T]]) -> T:
        async def once() -> T:
            try:
                return await request()
            except opensearchpy.TransportError as exc:
                raise translate_error(exc, self._settings.url) from exc
            except opensearchpy.SerializationError as exc:
                # Not a TransportError: a reply that is not JSON (a login page, a proxy).
                url = self._settings.url
                raise SearchQueryError(
                    f"search server {url} sent a reply that is not JSON: {exc}"
                ) from exc

        return await with_retries(once, retry_on=SearchUnavailable, retries=self._settings.retries)


def translate_error(exc: opensearchpy.TransportError, url: str) -> SearchError:
    """Map the client's exception to ours, with one clear line."""
    if isinstance(exc, opensearchpy.ConnectionTimeout):
        return SearchUnavailable(f"search server {url} did not answer in time")
    if isinstance(exc, opensearchpy.ConnectionError):
        return SearchUnavailable(f"search server {url} unreachable: {_cause(exc)}")
    reason = server_reason(exc.info, str(exc.error))
    return status_error(exc.status_code, reason, f"search server {url}")


async def _ensure_index(client: AsyncOpenSearch, name: str, *, tests: bool = False) -> None:
    """Create a daily index unless it exists. Writers racing to create the same index: losing
    that race ("already exists") is as good as winning it."""
    try:
        await ensure_index(client, name, tests=tests)
    except opensearchpy.RequestError as exc:
        if "already_exists" not in str(exc.error) and "already exists" not in str(exc.info):
            raise


def _cause(exc: opensearchpy.ConnectionError) -> str:
    info = exc.info
    if isinstance(info, Exception):
        return str(info) or type(info).__name__
    return str(exc.error)
