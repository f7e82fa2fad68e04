"""A log server stand-in: files under ``/logs/`` as OpenDev's log storage serves them (with the
headers a test gives each), Zuul's build API beside them, and a ``zuul-manifest.json`` maker."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.http import LoopbackServer


@dataclass
class File:
    """A stored file: its bytes and the headers it is served with."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def manifest(paths: list[str]) -> bytes:
    """A ``zuul-manifest.json`` for these paths (one level of directories is enough here)."""
    tree: list[dict[str, Any]] = []
    dirs: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        directory, _, name = path.rpartition("/")
        node = {"name": name, "mimetype": "text/plain", "encoding": None, "size": 1}
        if directory:
            if directory not in dirs:
                dirs[directory] = []
                tree.append(
                    {
                        "name": directory,
                        "mimetype": "application/directory",
                        "encoding": None,
                        "children": dirs[directory],
                    }
                )
            dirs[directory].append(node)
        else:
            tree.append(node)
    return json.dumps({"tree": tree, "index_links": False}).encode()


class LogServer(LoopbackServer):
    """A log server on 127.0.0.1 serving ``files`` under ``/logs/<prefix>``, plus Zuul's API."""

    def __init__(self, files: Mapping[str, File], prefix: str = "") -> None:
        super().__init__()
        self.files = dict(files)
        self.prefix = prefix
        self.builds: dict[str, str] = {}
        self.requests: list[str] = []

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/api/tenant/{tenant}/build/{uuid}", self._build)
        app.router.add_get("/logs/{path:.*}", self._file)

    async def _file(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        if not path.startswith(self.prefix):
            raise web.HTTPNotFound()
        path = path.removeprefix(self.prefix)
        self.requests.append(path)
        found = self.files.get(path)
        if found is None:
            raise web.HTTPNotFound()
        return web.Response(body=found.body, headers=found.headers)

    async def _build(self, request: web.Request) -> web.Response:
        log_url = self.builds.get(request.match_info["uuid"])
        if log_url is None:
            raise web.HTTPNotFound()
        return web.json_response({"uuid": request.match_info["uuid"], "log_url": log_url})
