"""Search backends: Elasticsearch, OpenSearch and a Kibana console proxy, behind one interface."""

from __future__ import annotations

from bot.config import SearchSettings
from bot.search.base import (
    SearchAuthError,
    SearchBackend,
    SearchError,
    SearchQueryError,
    SearchUnavailable,
)

__all__ = [
    "SearchAuthError",
    "SearchBackend",
    "SearchError",
    "SearchQueryError",
    "SearchUnavailable",
    "open_backend",
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
