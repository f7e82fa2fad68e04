"""The dashboard's web server (aiohttp): the built files, ``/healthz`` and ``/metrics``.

It serves an allow-list — the files a build writes — and nothing else from the output
directory, so a stray file there (a temp file, a backup) is never exposed. A bug's page is
``/bug/<query id>`` (the file ``bug/<query id>.html``, for ids that can be file names: see
:func:`bot.dashboard.links.bug_page_file`). Health and metrics
come from callables the app attaches once the bot is assembled (until then ``/healthz`` says it is
starting), so this module knows nothing about the bot's insides.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot.config import DashboardSettings
from bot.dashboard.build import DATA_FILES, PAGE_FILES
from bot.dashboard.links import bug_page_file
from bot.dashboard.render import static_files

log = logging.getLogger(__name__)

#: ``/healthz``: a mapping with ``ok`` (bool) and any details; 200 when ok, else 503.
HealthHook = Callable[[], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]
#: ``/metrics``: Prometheus text exposition.
MetricsHook = Callable[[], str | Awaitable[str]]

#: Seconds a health or metrics callable may take.
HOOK_TIMEOUT = 5.0
#: Seconds a connection may stay without a whole request: a client that sends its headers a
#: byte at a time (slowloris), or idles after a response, is closed then (aiohttp's own
#: default is an hour).
IDLE_TIMEOUT = 10.0

_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
}


def served_files() -> frozenset[str]:
    """Relative paths the server may answer with."""
    return frozenset(PAGE_FILES) | frozenset(DATA_FILES) | frozenset(static_files())


async def _call(hook: Callable[[], Any]) -> Any:
    result = hook()
    if inspect.isawaitable(result):
        result = await asyncio.wait_for(result, HOOK_TIMEOUT)
    return result


class DashboardServer:
    """Serves ``output_dir`` on ``settings.host:settings.port`` (127.0.0.1 by default).

    Port 0 picks a free port; :attr:`url` tells which after :meth:`start`.
    """

    def __init__(
        self,
        settings: DashboardSettings,
        output_dir: Path | None = None,
    ) -> None:
        self._settings = settings
        self.output_dir = Path(output_dir or settings.output)
        self._health: HealthHook | None = None
        self._metrics: MetricsHook | None = None
        self._allowed = served_files()
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("dashboard server not started")
        return self._url

    def attach(self, *, health: HealthHook, metrics: MetricsHook) -> None:
        """Serve the bot's health and metrics from now on (the app calls this once it is up)."""
        self._health, self._metrics = health, metrics

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_security_headers])
        app.router.add_get("/", self._index)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics_page)
        app.router.add_get("/bug/{id}", self._bug_page)
        app.router.add_get("/bug/{id}/", self._bug_slash)
        app.router.add_get("/{path:.+}", self._file)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, keepalive_timeout=IDLE_TIMEOUT)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._settings.host, self._settings.port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in str(host) else host
        self._url = f"http://{shown}:{port}"
        log.info("dashboard at %s (files in %s)", self._url, self.output_dir)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return self._serve("index.html")

    async def _file(self, request: web.Request) -> web.StreamResponse:
        return self._serve(request.match_info["path"])

    async def _bug_page(self, request: web.Request) -> web.StreamResponse:
        query_id = request.match_info["id"].removesuffix(".html")
        name = bug_page_file(query_id)
        if name is None or not (self.output_dir / name).is_file():
            if not (self.output_dir / "index.html").is_file():
                return self._serve("index.html")  # not built yet: says so
            raise web.HTTPNotFound(
                text=f"no page for {query_id}: no such query in the repository (any more)\n"
            )
        return web.FileResponse(self.output_dir / name, headers={"Cache-Control": "no-cache"})

    async def _bug_slash(self, request: web.Request) -> web.StreamResponse:
        # The page links "../static/..." from /bug/<id>: one level down, not two.
        raise web.HTTPMovedPermanently(f"../{quote(request.match_info['id'])}")

    def _serve(self, name: str) -> web.StreamResponse:
        # Exact names only: no directory listing, no path tricks, nothing unlisted.
        if name not in self._allowed:
            raise web.HTTPNotFound(text="not found\n")
        path = self.output_dir / name
        if not path.is_file():
            raise web.HTTPServiceUnavailable(
                text="the dashboard has not been built yet; try again shortly\n",
                headers={"Retry-After": "60"},
            )
        # FileResponse reads in a thread and handles HEAD, ranges and conditional requests.
        return web.FileResponse(path, headers={"Cache-Control": "no-cache"})

    async def _healthz(self, request: web.Request) -> web.Response:
        if self._health is None:
            return web.json_response({"ok": False, "status": "starting"}, status=503)
        try:
            report = dict(await _call(self._health))
        except Exception as exc:
            log.warning("health check failed: %s", exc or type(exc).__name__)
            return web.json_response({"ok": False, "error": str(exc) or "timeout"}, status=503)
        return web.json_response(report, status=200 if report.get("ok", True) else 503)

    async def _metrics_page(self, request: web.Request) -> web.Response:
        if self._metrics is None:
            raise web.HTTPServiceUnavailable(text="starting\n", headers={"Retry-After": "5"})
        try:
            text = str(await _call(self._metrics))
        except Exception as exc:
            log.warning("metrics failed: %s", exc or type(exc).__name__)
            raise web.HTTPServiceUnavailable(text="metrics unavailable\n") from None
        return web.Response(
            text=text,
            content_type="text/plain",
            charset="utf-8",
            headers={"Cache-Control": "no-store"},
        )


@web.middleware
async def _security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(_HEADERS)
        raise
    response.headers.update(_HEADERS)
    return response
