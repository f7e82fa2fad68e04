"""The search backend interface and its errors.

Every backend speaks the Elasticsearch search API (request and response bodies are the
cluster's own JSON), so the rest of the bot builds bodies once and runs them anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from bot.core.errors import ReadableError

Body = Mapping[str, Any]
Response = dict[str, Any]


class SearchError(ReadableError):
    """A search failed; ``str()`` is one line fit to show a user."""


class SearchUnavailable(SearchError):
    """The server could not be reached, timed out or kept failing."""


class SearchAuthError(SearchError):
    """The server refused our credentials."""


class SearchQueryError(SearchError):
    """The server rejected the request; the message carries its reason."""


class SearchBackend(Protocol):
    """An Elasticsearch-API search server (Elasticsearch, OpenSearch, a Kibana proxy)."""

    name: str

    async def search(self, body: Body, *, index: str | None = None) -> Response:
        """Run one search; ``index`` defaults to the configured pattern."""
        ...

    async def msearch(self, bodies: Sequence[Body], *, index: str | None = None) -> list[Response]:
        """Run several searches in one round trip; one response (or error object) each."""
        ...

    async def health(self) -> Response:
        """The cluster health document (``status``: green / yellow / red)."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class FilteringBackend(Protocol):
    """A backend whose server trims its replies to the paths asked (Elasticsearch's and
    OpenSearch's ``filter_path``; the embedded server and a Kibana console proxy pass it on)."""

    async def search_filtered(
        self, body: Body, filter_path: Sequence[str], *, index: str | None = None
    ) -> Response:
        """:meth:`SearchBackend.search`, the reply holding only ``filter_path``'s fields
        (``a.b.*.c`` patterns). Objects left empty are left out, so a reader of such a
        reply treats every key as optional."""
        ...


async def lean_search(backend: SearchBackend, body: Body, filter_path: Sequence[str]) -> Response:
    """``body`` searched with the reply trimmed to ``filter_path`` where the backend can, whole
    where it cannot (a reader of the reply treats every key as optional either way)."""
    if isinstance(backend, FilteringBackend):
        return await backend.search_filtered(body, filter_path)
    return await backend.search(body)


@runtime_checkable
class DocumentWriter(Protocol):
    """A backend the bot may also write log documents to (``watch.ingest``, the demo)."""

    async def write_documents(self, documents: Sequence[Mapping[str, Any]]) -> int:
        """Index documents into their daily indices, created as needed; returns how many."""
        ...

    async def refresh(self) -> None:
        """Make what was written searchable now."""
        ...


def server_reason(info: Any, fallback: str = "") -> str:
    """The human reason inside an Elasticsearch error body (root cause first)."""
    if isinstance(info, Mapping):
        error = info.get("error", info)
        if isinstance(error, Mapping):
            causes = error.get("root_cause") or []
            for cause in [*causes, error.get("caused_by"), error]:
                if isinstance(cause, Mapping) and cause.get("reason"):
                    return str(cause["reason"])
        elif isinstance(error, str) and error:
            return error
    if isinstance(info, str) and info.strip():
        return info.strip().splitlines()[0][:300]
    return fallback


def status_error(status: int | str, reason: str, where: str) -> SearchError:
    """An error status as one of ours: the server failing (5xx: retried, and it opens the
    circuit breaker), our credentials refused (401, 403), or the request refused (the rest).
    ``where`` names the server: ``search server https://…``, ``Kibana at https://…``."""
    if isinstance(status, int) and status >= 500:
        return SearchUnavailable(f"{where} failed ({status}): {reason}")
    if status in (401, 403):
        return SearchAuthError(f"{where} refused our credentials ({status}): {reason}")
    return SearchQueryError(f"search server rejected the request ({status}): {reason}")


def msearch_lines(bodies: Sequence[Body], index: str) -> list[dict[str, Any]]:
    """An ``_msearch`` request: a header naming the index, then the body, for each search."""
    lines: list[dict[str, Any]] = []
    for body in bodies:
        lines += [{"index": index}, dict(body)]
    return lines
