"""Loopback HTTP helpers for tests and benchmarks, built on aiohttp.

- :class:`ForwardingProxy` forwards every request to a target server, optionally rewriting request
  headers and adding a delay, and counts round trips and body bytes both ways.
- :class:`StubServer` answers with scripted replies (status, body, headers) and records requests.
- :class:`KibanaStandIn` mimics Kibana's console proxy API in front of a search server.

All of them bind 127.0.0.1 on a free port and are async context managers; ``.url`` is valid
inside the ``async with`` block.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web

#: Headers that describe one connection, not the message: never forwarded as they are.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)

HeaderRewrite = Callable[[Mapping[str, str]], Mapping[str, str]]

_COMPAT_MIMETYPE = re.compile(
    r"application/vnd\.elasticsearch\+([a-z-]+)(\s*;\s*compatible-with=\d+)?"
)


def strip_compat_mimetypes(headers: Mapping[str, str]) -> dict[str, str]:
    """``application/vnd.elasticsearch+json; compatible-with=9`` → ``application/json``.

    elasticsearch-py 8/9 always sends these "compatibility" mimetypes; real Elasticsearch accepts
    them and plain ones alike, but osmem (like OpenSearch) answers 406. Rewriting them on the wire
    lets the unmodified client talk to osmem.
    """
    return {name: _COMPAT_MIMETYPE.sub(r"application/\1", value) for name, value in headers.items()}


class LoopbackServer:
    """An aiohttp application on 127.0.0.1, port chosen by the OS."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("server not started: use it inside `async with`")
        return self._url

    def _routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def _server_options(self) -> dict[str, Any]:
        return {}

    async def start(self) -> None:
        app = web.Application()
        self._routes(app)
        # No access log: tests assert on their own counters, not on log noise. Handlers are
        # cancelled when the client hangs up, so a delayed reply cannot hold up close().
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, **self._server_options()
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self._url = f"http://{host}:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _forwardable(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}


class _InFront(LoopbackServer):
    """A loopback server in front of ``target_url``, which it calls with a session of its own."""

    def __init__(self, target_url: str) -> None:
        super().__init__()
        self.target_url = target_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    def _session_options(self) -> dict[str, Any]:
        return {}

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(**self._session_options())
        await super().start()

    async def close(self) -> None:
        await super().close()
        if self._session is not None:
            await self._session.close()
            self._session = None


class ForwardingProxy(_InFront):
    """Forwards every request to ``target_url``; counts round trips and body bytes.

    ``delay`` seconds are slept before each forwarded request (to stand in for network latency).
    ``rewrite_request_headers`` maps the client's headers to the ones sent upstream.
    Byte counters are HTTP body bytes as they travel (compressed if the server compresses);
    headers are not counted. ``bytes_sent`` is client → server, ``bytes_received`` server → client.
    """

    def __init__(
        self,
        target_url: str,
        *,
        delay: float = 0.0,
        rewrite_request_headers: HeaderRewrite | None = None,
    ) -> None:
        super().__init__(target_url)
        self.delay = delay
        self._rewrite = rewrite_request_headers
        self.requests = 0
        self.bytes_sent = 0
        self.bytes_received = 0

    def reset(self) -> None:
        """Zero the counters (e.g. after warm-up requests)."""
        self.requests = self.bytes_sent = self.bytes_received = 0

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._forward)

    def _server_options(self) -> dict[str, Any]:
        # Forward (gzipped) request bodies byte for byte, so counts match the wire.
        return {"auto_decompress": False}

    def _session_options(self) -> dict[str, Any]:
        return {"auto_decompress": False}  # the same for replies

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        self.requests += 1
        self.bytes_sent += len(body)
        headers = _forwardable(request.headers)
        if self._rewrite is not None:
            headers = dict(self._rewrite(headers))
        if self.delay:
            await asyncio.sleep(self.delay)
        async with self._session.request(
            request.method,
            self.target_url + request.rel_url.path_qs,
            headers=headers,
            data=body or None,
            allow_redirects=False,
        ) as upstream:
            reply = await upstream.read()
            self.bytes_received += len(reply)
            return web.Response(
                status=upstream.status, body=reply, headers=_forwardable(upstream.headers)
            )


@dataclass(frozen=True)
class Reply:
    """One scripted answer, sent after ``delay`` seconds; a mapping or list body is sent as JSON."""

    status: int = 200
    body: bytes | str | Mapping[str, Any] | Sequence[Any] = b""
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def response(self) -> web.Response:
        body = self.body
        content_type = self.content_type
        if not isinstance(body, bytes | str):
            body = json.dumps(body)
            content_type = content_type or "application/json"
        data = body.encode() if isinstance(body, str) else body
        headers = dict(self.headers)
        headers.setdefault("Content-Type", content_type or "text/plain; charset=utf-8")
        return web.Response(status=self.status, body=data, headers=headers)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path_qs: str
    headers: Mapping[str, str]
    body: bytes


class StubServer(LoopbackServer):
    """Answers requests with ``replies`` in order; the last reply repeats forever."""

    def __init__(self, *replies: Reply) -> None:
        super().__init__()
        if not replies:
            raise ValueError("StubServer needs at least one Reply")
        self._replies = replies
        self.seen: list[RecordedRequest] = []

    @property
    def requests(self) -> int:
        return len(self.seen)

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._answer)

    async def _answer(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.seen.append(RecordedRequest(request.method, request.rel_url.path_qs, headers, body))
        reply = self._replies[min(len(self.seen), len(self._replies)) - 1]
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return reply.response()


class KibanaStandIn(_InFront):
    """A minimal stand-in for Kibana's / OpenSearch Dashboards' console proxy API.

    ``POST /api/console/proxy?path=P&method=M`` with the xsrf header is forwarded to
    ``{target_url}/P`` as method ``M``; the search server's status and body come back unchanged,
    as the real console proxy does. A missing xsrf header gets Kibana's own 400 reply.
    """

    def __init__(self, target_url: str, *, xsrf_header: str = "kbn-xsrf") -> None:
        super().__init__(target_url)
        self.xsrf_header = xsrf_header
        self.seen: list[RecordedRequest] = []

    def _routes(self, app: web.Application) -> None:
        app.router.add_post("/api/console/proxy", self._proxy)

    async def _proxy(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.seen.append(RecordedRequest(request.method, request.rel_url.path_qs, headers, body))
        if self.xsrf_header not in headers:
            return _kibana_error(400, f"Request must contain a {self.xsrf_header} header.")
        path, method = request.query.get("path"), request.query.get("method")
        if not path or not method:
            return _kibana_error(400, "[request query.path]: expected value of type [string]")
        upstream_headers = {"content-type": headers.get("content-type", "application/json")}
        async with self._session.request(
            method,
            f"{self.target_url}/{path.lstrip('/')}",
            data=body or None,
            headers=upstream_headers,
        ) as upstream:
            reply = await upstream.read()
            return web.Response(
                status=upstream.status,
                body=reply,
                content_type=upstream.content_type,
                charset=upstream.charset,
            )


def _kibana_error(status: int, message: str) -> web.Response:
    """Kibana's (hapi's) own error shape, distinct from Elasticsearch's."""
    return web.json_response(
        {"statusCode": status, "error": "Bad Request", "message": message}, status=status
    )
