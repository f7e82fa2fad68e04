"""Searching through Kibana's (or OpenSearch Dashboards') console proxy, when only it is reachable.

``POST {url}/api/console/proxy?path=<index>/_search&method=POST`` with the search body and an xsrf
header; the reply is the cluster's own response, with the cluster's status code. Kibana's own
errors (missing xsrf header, bad proxy parameters) are JSON too, but shaped
``{"statusCode": 400, "error": "Bad Request", "message": "..."}``. A login front end answers
with a redirect or an HTML page instead of JSON, which we report as an authentication problem.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from bot.config import SearchSettings
from bot.core.http import basic_auth
from bot.core.retry import with_retries
from bot.search.auth import api_key_header, credentials, tls_context
from bot.search.base import (
    Body,
    Response,
    SearchAuthError,
    SearchError,
    SearchQueryError,
    SearchUnavailable,
    msearch_lines,
    server_reason,
    status_error,
)

log = logging.getLogger(__name__)

PROXY_PATH = "/api/console/proxy"
XSRF_HEADERS = {"kibana": "kbn-xsrf", "opensearch-dashboards": "osd-xsrf"}
_LOGIN_HINTS = ("login", "auth", "sso", "saml", "oidc", "signin")


class KibanaProxyBackend:
    """A :class:`~bot.search.base.SearchBackend` through a dashboard's console proxy."""

    name = "kibana"

    def __init__(self, settings: SearchSettings) -> None:
        self._settings = settings
        self._endpoint = settings.url.rstrip("/") + PROXY_PATH
        # The session needs a running event loop: it is opened on first use, not here.
        self._session: aiohttp.ClientSession | None = None

    async def search(self, body: Body, *, index: str | None = None) -> Response:
        path = f"{index or self._settings.index}/_search"
        return await self._call(path, "POST", json.dumps(dict(body)), "application/json")

    async def search_filtered(
        self, body: Body, filter_path: Sequence[str], *, index: str | None = None
    ) -> Response:
        # The proxy passes the path's query string on to the cluster, as Dev Tools' console
        # sends ``GET _search?filter_path=...``.
        path = f"{index or self._settings.index}/_search?filter_path={','.join(filter_path)}"
        return await self._call(path, "POST", json.dumps(dict(body)), "application/json")

    async def msearch(self, bodies: Sequence[Body], *, index: str | None = None) -> list[Response]:
        lines = msearch_lines(bodies, index or self._settings.index)
        ndjson = "".join(json.dumps(line) + "\n" for line in lines)
        result = await self._call("_msearch", "POST", ndjson, "application/x-ndjson")
        responses: list[Response] = result["responses"]
        return responses

    async def health(self) -> Response:
        return await self._call("_cluster/health", "GET", None, None)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            settings = self._settings
            headers = {XSRF_HEADERS[settings.kibana_flavor]: "true", **_auth_headers(settings)}
            https = settings.url.startswith("https")
            self._session = aiohttp.ClientSession(
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=settings.timeout),
                connector=aiohttp.TCPConnector(ssl=tls_context(settings)) if https else None,
            )
        return self._session

    async def _call(
        self, path: str, method: str, data: str | None, content_type: str | None
    ) -> Response:
        async def once() -> Response:
            return await self._request(path, method, data, content_type)

        return await with_retries(once, retry_on=SearchUnavailable, retries=self._settings.retries)

    async def _request(
        self, path: str, method: str, data: str | None, content_type: str | None
    ) -> Response:
        headers = {"content-type": content_type} if content_type else {}
        params = {"path": path, "method": method}
        url = self._settings.url
        log.debug("%s %s through the console proxy at %s", method, path, url)
        try:
            # No redirects: a login front end redirects, and we want to say so, not follow
            # it to an HTML page (nor re-send a POST body elsewhere).
            async with self._open().post(
                self._endpoint, params=params, data=data, headers=headers, allow_redirects=False
            ) as reply:
                raw = await reply.read()
                return interpret_reply(reply.status, reply.headers, raw, url)
        except TimeoutError as exc:  # aiohttp's own timeouts are TimeoutErrors too
            timeout = self._settings.timeout
            raise SearchUnavailable(f"Kibana at {url} did not answer within {timeout:g} s") from exc
        except aiohttp.ClientError as exc:
            reason = str(exc) or type(exc).__name__
            raise SearchUnavailable(f"Kibana at {url} unreachable: {reason}") from exc


def _auth_headers(settings: SearchSettings) -> dict[str, str]:
    """An API key if one is configured, else basic auth (one ``Authorization`` header only)."""
    if settings.api_key:
        return api_key_header(settings)
    pair = credentials(settings)
    return {"authorization": basic_auth(*pair)} if pair else {}


def interpret_reply(status: int, headers: Mapping[str, str], raw: bytes, url: str) -> Response:
    """The response document of a console proxy reply, or the matching :class:`SearchError`."""
    if 300 <= status < 400:
        raise _redirect_error(headers.get("Location", "?"), url)
    try:
        payload: Any = json.loads(raw)
    except ValueError:
        raise _not_json_error(status, headers, raw, url) from None
    if status >= 400:
        raise status_error(status, _reason(payload), f"Kibana at {url}")
    if not isinstance(payload, dict):
        raise SearchQueryError(f"Kibana at {url} sent {type(payload).__name__}, not an object")
    return payload


def _reason(payload: Any) -> str:
    """Kibana's own error message, or else the cluster's error reason."""
    if isinstance(payload, Mapping) and "statusCode" in payload and payload.get("message"):
        return str(payload["message"])
    return server_reason(payload, json.dumps(payload)[:100])


def _redirect_error(location: str, url: str) -> SearchError:
    if any(hint in location.lower() for hint in _LOGIN_HINTS):
        return SearchAuthError(
            f"Kibana at {url} redirected to a login page ({location}): "
            "check search.username/password or search.api_key"
        )
    return SearchQueryError(
        f"Kibana at {url} redirected to {location}: set search.url to the dashboard's address"
    )


def _not_json_error(status: int, headers: Mapping[str, str], raw: bytes, url: str) -> SearchError:
    snippet = " ".join(raw.decode("utf-8", "replace").split())[:100]
    if status >= 500 or status in (401, 403):
        return status_error(status, repr(snippet), f"Kibana at {url}")
    html = "html" in headers.get("Content-Type", "") or snippet.startswith("<")
    if html and status < 300:
        # An auto-login front end serves its login page with 200 to unauthenticated clients.
        return SearchAuthError(
            f"Kibana at {url} answered with an HTML page, not JSON (a login page?): "
            f"check search.username/password or search.api_key; page starts {snippet!r}"
        )
    return SearchQueryError(
        f"Kibana at {url} sent a reply that is not JSON ({status}): {snippet!r}"
    )
