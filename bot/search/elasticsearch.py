"""Elasticsearch clusters through the official ``elasticsearch`` async client (8.x and 9.x)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import elastic_transport
import elasticsearch
from elasticsearch import AsyncElasticsearch

from bot.config import SearchSettings
from bot.core.retry import with_retries
from bot.search.auth import credentials
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

T = TypeVar("T")


class ElasticsearchBackend:
    """A :class:`~bot.search.base.SearchBackend` on an Elasticsearch cluster.

    The client sends Elasticsearch's "compatibility" mimetypes
    (``application/vnd.elasticsearch+json; compatible-with=N``), which OpenSearch and the
    embedded server reject with 406: use ``backend: opensearch`` for those.
    """

    name = "elasticsearch"

    def __init__(self, settings: SearchSettings) -> None:
        self._settings = settings
        # Building the client does no I/O: its HTTP session opens on the first request.
        self._client = AsyncElasticsearch(
            hosts=[settings.url],
            # The client refuses both at once; an API key, when configured, wins.
            basic_auth=None if settings.api_key else credentials(settings),
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            request_timeout=settings.timeout,
            max_retries=0,  # we retry ourselves, with backoff
            retry_on_timeout=False,
            **_tls_options(settings),
        )

    @property
    def client(self) -> AsyncElasticsearch:
        """The underlying client, for admin work outside the search interface."""
        return self._client

    async def search(self, body: Body, *, index: str | None = None) -> Response:
        index = index or self._settings.index
        # body= (not unpacked kwargs) works on 8.x and 9.x and passes through keys the
        # client's signature does not know; the client may rewrite it, so give it a copy.
        result = await self._call(lambda: self._client.search(index=index, body=dict(body)))
        return self._document(result.body)

    async def search_filtered(
        self, body: Body, filter_path: Sequence[str], *, index: str | None = None
    ) -> Response:
        index = index or self._settings.index
        paths = list(filter_path)
        result = await self._call(
            lambda: self._client.search(index=index, body=dict(body), filter_path=paths)
        )
        return self._document(result.body)

    async def msearch(self, bodies: Sequence[Body], *, index: str | None = None) -> list[Response]:
        lines = msearch_lines(bodies, index or self._settings.index)
        result = await self._call(lambda: self._client.msearch(searches=lines))
        responses: list[Response] = self._document(result.body)["responses"]
        return responses

    async def health(self) -> Response:
        result = await self._call(self._client.cluster.health)
        return self._document(result.body)

    async def close(self) -> None:
        await self._client.close()

    def _document(self, body: Any) -> Response:
        """The JSON object of a 2xx reply.

        Once the client has seen the product header it passes text replies through as ``str``.
        """
        if isinstance(body, dict):
            return body
        if isinstance(body, str):
            raise _not_json(self._settings.url, body)
        raise SearchQueryError(
            f"search server {self._settings.url} sent a {type(body).__name__}, not a JSON object"
        )

    async def _call(self, request: Callable[[], Awaitable[T]]) -> T:
        async def once() -> T:
            try:
                return await request()
            except (elastic_transport.TransportError, elastic_transport.ApiError) as exc:
                raise translate_error(exc, self._settings.url) from exc

        return await with_retries(once, retry_on=SearchUnavailable, retries=self._settings.retries)


def _tls_options(settings: SearchSettings) -> dict[str, Any]:
    """TLS keywords for the client; only meaningful (and only accepted quietly) for https."""
    if not settings.url.startswith("https"):
        return {}
    options: dict[str, Any] = {"verify_certs": settings.verify_tls}
    if settings.ca_file:
        options["ca_certs"] = str(settings.ca_file)
    if not settings.verify_tls:
        options["ssl_show_warn"] = False  # the operator asked for it; say so once, in the config
    return options


def translate_error(
    exc: elastic_transport.TransportError | elastic_transport.ApiError, url: str
) -> SearchError:
    """Map the client's exception to ours, with one clear line."""
    if isinstance(exc, elasticsearch.UnsupportedProductError):
        if isinstance(exc.body, str):  # a text or HTML page: some front end answered, not ES
            return _not_json(url, exc.body)
        return SearchQueryError(
            f"{url} is not an Elasticsearch server (use backend: opensearch for OpenSearch)"
        )
    if isinstance(exc, elastic_transport.ConnectionTimeout):
        return SearchUnavailable(f"search server {url} did not answer in time: {exc.message}")
    if isinstance(exc, elastic_transport.ConnectionError):
        return SearchUnavailable(f"search server {url} unreachable: {exc.message}")
    if isinstance(exc, elastic_transport.SerializationError):
        # A reply of an unknown mimetype or broken JSON: retrying would get the same.
        return SearchQueryError(f"search server {url} sent a reply that is not JSON: {exc.message}")
    if isinstance(exc, elastic_transport.TransportError):
        return SearchUnavailable(f"search server {url} failed: {exc.message}")
    status = exc.meta.status
    reason = server_reason(exc.body, str(exc.message))
    if status == 406:
        # The compatibility mimetypes this client always sends: OpenSearch refuses them.
        reason += " (an OpenSearch server? use backend: opensearch)"
    return status_error(status, reason, f"search server {url}")


def _not_json(url: str, text: str) -> SearchQueryError:
    snippet = " ".join(text.split())[:100]
    return SearchQueryError(
        f"search server {url} sent a reply that is not JSON (a login page or proxy?): {snippet!r}"
    )
