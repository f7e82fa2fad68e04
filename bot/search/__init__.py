"""Search backends: Elasticsearch, OpenSearch and a Kibana console proxy, behind one interface."""

from __future__ import annotations

from bot.config import SearchSettings
from bot.search.base import (
    DocumentWriter,
    SearchAuthError,
    SearchBackend,
    SearchError,
    SearchQueryError,
    SearchUnavailable,
)

__all__ = [
    "DocumentWriter",
    "SearchAuthError",
    "SearchBackend",
    "SearchError",
    "SearchQueryError",
    "SearchUnavailable",
    "open_backend",
    "writer_of",
]


def open_backend(settings: SearchSettings) -> SearchBackend:
    """The backend the settings ask for (clients are created lazily, no I/O here)."""
    if settings.backend == "elasticsearch":
        from bot.search.elasticsearch import ElasticsearchBackend

        return ElasticsearchBackend(settings)
    if settings.backend == "kibana":
        from bot.search.kibana import KibanaProxyBackend

        return KibanaProxyBackend(settings)
    from bot.search.opensearch import OpenSearchBackend

    return OpenSearchBackend(settings)


def writer_of(backend: SearchBackend) -> DocumentWriter | None:
    """What writes log documents to ``backend``'s server (guarded like its searches when the
    backend is), or None when it takes no writes (Elasticsearch, the Kibana proxy)."""
    from bot.search.breaker import GuardedBackend

    if isinstance(backend, GuardedBackend):
        return backend.writer()
    return backend if isinstance(backend, DocumentWriter) else None
